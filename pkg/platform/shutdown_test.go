package platform_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
)

// A service stops its gRPC server first, letting in-flight calls finish, and only then its
// relay and workers (which carry out what those calls committed), then NATS and the pool.
func TestServeStopsWorkersOnlyAfterTheGRPCServer(t *testing.T) {
	workerStopped := make(chan struct{})
	spec := platform.Spec{Name: "stoporder", New: func(context.Context, platform.Deps) (platform.Parts, error) {
		return platform.Parts{Workers: []platform.Worker{func(ctx context.Context) error {
			<-ctx.Done()
			close(workerStopped)
			return nil
		}}}, nil
	}}
	db := testkit.NewDB(t, spec.Schema(), spec.Role())
	if err := platform.Migrate(context.Background(), spec, db.URL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	n := testkit.StartNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	perms, err := platform.NATSPermissions(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keys, _ := identity.ParseKeyring("k1:" + base64.StdEncoding.EncodeToString(secret))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- platform.Serve(ctx, spec, platform.Options{Log: slog.New(slog.DiscardHandler), Keys: keys,
			DB: db.Config, NATS: n.As(t, spec.Name, perms), GRPC: lis, Ready: ready})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A call in flight: a health watch stays open until its caller ends it.
	wctx, endCall := context.WithCancel(context.Background())
	defer endCall()
	watch, err := healthpb.NewHealthClient(conn).Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case <-workerStopped:
		t.Fatal("the workers stopped while a gRPC call was still in flight")
	case <-time.After(500 * time.Millisecond):
	}
	endCall()
	select {
	case <-workerStopped:
	case <-time.After(15 * time.Second):
		t.Fatal("the workers did not stop after the gRPC server")
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
