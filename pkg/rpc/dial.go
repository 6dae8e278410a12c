package rpc

import (
	"fmt"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/orgplane/orgplane/pkg/identity"
)

// Dial connects to a peer service. Every call made on the connection carries the identity in its
// context, signed with keys. Transport security between pods is the mesh's or the network
// policy's job; the identity token is what a service trusts.
func Dial(target string, keys *identity.Keyring, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithChainUnaryInterceptor(identity.UnaryClientInterceptor(keys)),
		grpc.WithChainStreamInterceptor(identity.StreamClientInterceptor(keys)),
	}
	conn, err := grpc.NewClient(target, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}
