package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// syncBuffer is written by the server's goroutines and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// Issue 17: every call logged "finished call" at info, burying what matters. At info a
// successful call or a caller's own mistake logs nothing; a fault still logs at error.
func TestFinishedCallsAreQuietAtInfoUnlessTheyFail(t *testing.T) {
	keys := testkit.Keyring(t)
	var buf syncBuffer
	srv, err := rpc.NewServer(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), keys)
	if err != nil {
		t.Fatal(err)
	}
	orgv1.RegisterAccountServiceServer(srv, &scripted{seen: make(chan identity.Identity, 10)})
	addr := testkit.ServeGRPC(t, srv)
	conn, err := rpc.Dial(addr, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := orgv1.NewAccountServiceClient(conn)
	ctx := identity.With(context.Background(), operator)

	if err := create(c, ctx, "Contoso"); err != nil {
		t.Fatal(err)
	}
	_ = create(c, ctx, "missing")
	_ = create(c, ctx, "")
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	for _, rec := range buf.records(t) {
		if rec["msg"] == "finished call" {
			t.Errorf("logged at info: %v", rec)
		}
	}

	_ = create(c, ctx, "sql")
	var faults int
	for _, rec := range buf.records(t) {
		if rec["msg"] == "finished call" && rec["level"] == "ERROR" && rec["grpc.code"] == "Internal" {
			faults++
		}
	}
	if faults != 1 {
		t.Fatalf("a failed call logged %d error lines \"finished call\", want 1: %v", faults, buf.records(t))
	}
}
