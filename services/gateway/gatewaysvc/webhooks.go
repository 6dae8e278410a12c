package gatewaysvc

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// webhookService is the service that verifies and applies the tools' webhook deliveries.
const webhookService = "integration-sync"

// maxWebhookBody bounds a delivery; the tools send one company per delivery.
const maxWebhookBody = 1 << 20

// signedHeaders are the request headers a delivery is verified with, passed on as received.
var signedHeaders = []string{"content-type", "x-content-signature", "x-hook-signature"}

// webhook serves POST /v1/webhooks/{integrationId}: the public route the tools (ConnectWise
// callbacks, Autotask company webhooks) deliver to. It takes no bearer credential, since the
// tools send none; the body's signature, checked by integration-sync against the integration's
// secret, is the credential, so the gateway passes the exact bytes and the signature headers
// and answers 401 to a delivery that does not verify, as to one for an unknown integration.
func (g *Gateway) webhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("integrationId")
	if _, err := uuid.Parse(id); err != nil {
		writeStatus(w, status.New(codes.Unauthenticated, "webhook signature does not verify"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		writeStatus(w, status.New(codes.InvalidArgument, "body: too large or unreadable"))
		return
	}
	req := &integrationsyncv1.DeliverWebhookRequest{IntegrationId: id, Body: body, Headers: map[string]string{}}
	for _, h := range signedHeaders {
		if v := r.Header.Get(h); v != "" {
			req.Headers[h] = v
		}
	}
	ctx, cancel := context.WithTimeout(identity.With(r.Context(), identity.Service("gateway")), 20*time.Second)
	defer cancel()
	_, err = integrationsyncv1.NewWebhookServiceClient(g.conns[webhookService]).DeliverWebhook(ctx, req)
	switch status.Code(err) {
	case codes.OK:
		w.WriteHeader(http.StatusNoContent)
	case codes.Unauthenticated, codes.InvalidArgument, codes.NotFound:
		writeStatus(w, status.New(codes.Unauthenticated, "webhook signature does not verify"))
	default:
		// The tool retries a failed delivery; say so with the usual outage answer.
		if !strings.Contains(err.Error(), "context canceled") {
			g.cfg.Log.Warn("webhook delivery failed", "integration", id, "code", status.Code(err).String())
		}
		writeStatus(w, unavailableStatus("the delivery could not be applied now; retry shortly"))
	}
}
