package platform_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// health asks the service's gRPC health once: its status and the reason it gives.
func health(t *testing.T, conn *grpc.ClientConn) (healthpb.HealthCheckResponse_ServingStatus, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN, err.Error()
	}
	reason := ""
	if v := md.Get(platform.NotServingReasonHeader); len(v) > 0 {
		reason = v[0]
	}
	return resp.GetStatus(), reason
}

func waitHealth(t *testing.T, conn *grpc.ClientConn, want healthpb.HealthCheckResponse_ServingStatus, reason string) {
	t.Helper()
	var got healthpb.HealthCheckResponse_ServingStatus
	var why string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got, why = health(t, conn)
		if got == want && strings.Contains(why, reason) {
			return
		}
	}
	t.Fatalf("health = %v %q, want %v with %q", got, why, want, reason)
}

// serveBare runs a service with no API and no events of its own over db and n until the test
// ends, and returns a connection to its gRPC server.
func serveBare(t *testing.T, spec platform.Spec, db *testkit.DB, n *testkit.NATS) *grpc.ClientConn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	perms, err := platform.NATSPermissions(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keys, err := identity.ParseKeyring("k1:" + base64.StdEncoding.EncodeToString(secret))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- platform.Serve(ctx, spec, platform.Options{Log: slog.New(slog.DiscardHandler), Keys: keys,
			DB: db.Config, NATS: n.As(t, spec.Name, perms), GRPC: lis})
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return conn
}

func bareSpec(name string) platform.Spec {
	return platform.Spec{Name: name, New: func(context.Context, platform.Deps) (platform.Parts, error) { return platform.Parts{}, nil }}
}

// Issue 12: a service started against a never-migrated database said SERVING, and every create
// then failed with "relation ... does not exist". It must say NOT_SERVING with the versions, and
// turn SERVING once the migrate command has run, without a restart.
func TestReadinessFollowsTheSchemaVersionWithoutARestart(t *testing.T) {
	ctx := context.Background()
	spec := bareSpec("readytest")
	db := testkit.NewDB(t, spec.Schema(), spec.Role()) // schema and role only: never migrated
	conn := serveBare(t, spec, db, testkit.StartNATS(t))

	waitHealth(t, conn, healthpb.HealthCheckResponse_NOT_SERVING, "schema version 0, want 1")

	if err := platform.Migrate(ctx, spec, db.URL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, conn, healthpb.HealthCheckResponse_SERVING, "")
	if _, why := health(t, conn); why != "" {
		t.Errorf("SERVING with a reason %q", why)
	}
}

// Issue 12: with NATS down the service still said SERVING. It says NOT_SERVING while NATS is
// away and SERVING again once it is back, on its own.
func TestReadinessFollowsNATS(t *testing.T) {
	ctx := context.Background()
	spec := bareSpec("readynats")
	db := testkit.NewDB(t, spec.Schema(), spec.Role())
	if err := platform.Migrate(ctx, spec, db.URL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	n := testkit.StartNATS(t)
	conn := serveBare(t, spec, db, n)
	waitHealth(t, conn, healthpb.HealthCheckResponse_SERVING, "")

	n.Stop()
	waitHealth(t, conn, healthpb.HealthCheckResponse_NOT_SERVING, "NATS not connected")
	n.Restart(t)
	waitHealth(t, conn, healthpb.HealthCheckResponse_SERVING, "")
}

// A service whose peer does not answer cannot do the work that needs it: NOT_SERVING, naming the
// peer (and not its address).
func TestReadinessNamesAPeerThatDoesNotAnswer(t *testing.T) {
	ctx := context.Background()
	spec := bareSpec("readypeer")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	_ = closed.Close() // nothing listens there now
	spec.Peers = []platform.Peer{{Name: "ghost", DefaultAddr: addr}}
	db := testkit.NewDB(t, spec.Schema(), spec.Role())
	if err := platform.Migrate(ctx, spec, db.URL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	conn := serveBare(t, spec, db, testkit.StartNATS(t))
	waitHealth(t, conn, healthpb.HealthCheckResponse_NOT_SERVING, "peer ghost not answering")
	if _, why := health(t, conn); strings.Contains(why, addr) {
		t.Errorf("reason names the peer's address: %q", why)
	}
}
