package gatewaysvc_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
	"github.com/orgplane/orgplane/services/gateway/suite"
)

// A request that reaches the gateway when a service is gone (stopping, restarting, crashed)
// gets a clean 503 in our words: never gRPC's transport text with the service's internal
// address. Checked on one route of every service.
func TestUnreachableServiceIsA503WithoutItsAddress(t *testing.T) {
	specs := suite.Specs(suite.Options{})
	addrs := map[string]string{}
	for _, s := range specs {
		addrs[s.Name] = closedAddr(t)
	}
	g, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log: slog.New(slog.DiscardHandler), Keys: testkit.Keyring(t), Upstreams: gatewaysvc.UpstreamsOf(specs, addrs),
		OperatorToken: "op_0123456789abcdefghijklmnopqrstuvwxyz",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	internal := regexp.MustCompile(`127\.0\.0\.1|dial tcp|connection refused|transport`)
	const account = "3f2c9a4e-0d1b-4c55-9a8e-1b2c3d4e5f60"
	for _, path := range []string{
		"/v1/accounts",
		"/v1/accounts/" + account + "/subscription",
		"/v1/accounts/" + account + "/organizations/" + account + "/links",
	} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer op_0123456789abcdefghijklmnopqrstuvwxyz")
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
			t.Errorf("%s: %d; the test needs a route that calls a service", path, rec.Code)
			continue
		}
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s with its service gone: %d %s, want 503", path, rec.Code, body)
		}
		if internal.Match(body) || !strings.Contains(string(body), "unavailable") {
			t.Errorf("%s: %s names an internal address or transport detail", path, body)
		}
	}
}
