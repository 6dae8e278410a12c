package testkit

import (
	"context"
	"net"
	"testing"

	"github.com/orgplane/orgplane/pkg/rpc"
)

// ServeGRPC serves srv on a free loopback port until the test ends and returns its address.
func ServeGRPC(t testing.TB, srv *rpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("grpc server: %v", err)
		}
	})
	return lis.Addr().String()
}
