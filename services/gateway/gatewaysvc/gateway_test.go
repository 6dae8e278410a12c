package gatewaysvc_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

func serve(t *testing.T, keys *identity.Keyring) string {
	t.Helper()
	srv, err := rpc.NewServer(slog.New(slog.DiscardHandler), keys)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.ServeGRPC(t, srv)
}

func closedAddr(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func readyz(t *testing.T, keys *identity.Keyring, up []gatewaysvc.Upstream) (int, map[string]any) {
	t.Helper()
	g, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log: slog.New(slog.DiscardHandler), Keys: keys, Upstreams: up,
		OperatorToken: "op_0123456789abcdefghijklmnopqrstuvwxyz",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	return rec.Code, body
}

func TestReadyzNeedsEveryServiceServing(t *testing.T) {
	keys := testkit.Keyring(t)
	var all []gatewaysvc.Upstream
	for _, name := range []string{"org", "mapping", "integration-sync", "notification", "billing"} {
		all = append(all, gatewaysvc.Upstream{Name: name, Addr: serve(t, keys)})
	}
	if code, body := readyz(t, keys, all); code != http.StatusOK || body["ready"] != true {
		t.Fatalf("all up: %d %v", code, body)
	}
	oneDown := slices.Clone(all)
	oneDown[4].Addr = closedAddr(t)
	code, body := readyz(t, keys, oneDown)
	if code != http.StatusServiceUnavailable || body["ready"] != false {
		t.Fatalf("billing down: %d %v", code, body)
	}
	if s := body["services"].(map[string]any)["billing"]; s != "UNREACHABLE" {
		t.Errorf("billing reported as %v", s)
	}
}

func TestOperatorTokenMustBeLong(t *testing.T) {
	_, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log: slog.New(slog.DiscardHandler), Keys: testkit.Keyring(t), OperatorToken: "short",
		Upstreams: []gatewaysvc.Upstream{{Name: "org", Addr: "127.0.0.1:1"}},
	})
	if err == nil {
		t.Fatal("a short operator token was accepted")
	}
}
