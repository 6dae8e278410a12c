package gatewaysvc_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/pkg/rpc/rpctest"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// The gateway reaches services that serve mutual TLS when given the CA and a client certificate,
// and reaches none of them without.
func TestGatewayReachesServicesOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := rpctest.NewCA(t, "test CA")
	caFile := filepath.Join(dir, "ca.crt")
	rpctest.WriteFile(t, caFile, ca.PEM)
	server := ca.Issue(t, "services", "127.0.0.1").Write(t, dir, "server")
	client := ca.Issue(t, "gateway", "gateway").Write(t, dir, "client")
	log := slog.New(slog.DiscardHandler)
	keys := testkit.Keyring(t)
	transport, err := rpc.ServerTLS{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientCAFile: caFile}.ServerOption(log)
	if err != nil {
		t.Fatal(err)
	}
	var up []gatewaysvc.Upstream
	for _, name := range []string{"org", "mapping", "integration-sync", "notification", "billing"} {
		srv, err := rpc.NewServer(log, keys, rpc.ServiceName(name), transport)
		if err != nil {
			t.Fatal(err)
		}
		up = append(up, gatewaysvc.Upstream{Name: name, Addr: testkit.ServeGRPC(t, srv)})
	}
	for name, c := range map[string]struct {
		tls  rpc.ClientTLS
		want int
	}{
		"mutual TLS":            {rpc.ClientTLS{CAFile: caFile, CertFile: client.CertFile, KeyFile: client.KeyFile}, http.StatusOK},
		"TLS without a cert":    {rpc.ClientTLS{CAFile: caFile}, http.StatusServiceUnavailable},
		"plaintext":             {rpc.ClientTLS{}, http.StatusServiceUnavailable},
		"another name expected": {rpc.ClientTLS{CAFile: caFile, CertFile: client.CertFile, KeyFile: client.KeyFile, ServerName: "org.example"}, http.StatusServiceUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			g, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
				Log: log, Keys: keys, Upstreams: up, UpstreamTLS: c.tls,
				OperatorToken: "op_0123456789abcdefghijklmnopqrstuvwxyz",
			})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			rec := httptest.NewRecorder()
			g.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != c.want {
				t.Fatalf("readyz = %d %s, want %d", rec.Code, rec.Body, c.want)
			}
		})
	}
	if _, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log: log, Keys: keys, Upstreams: up, OperatorToken: "op_0123456789abcdefghijklmnopqrstuvwxyz",
		UpstreamTLS: rpc.ClientTLS{CAFile: filepath.Join(dir, "missing.crt")},
	}); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}
