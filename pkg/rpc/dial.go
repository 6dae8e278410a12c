package rpc

import (
	"fmt"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/orgplane/orgplane/pkg/identity"
)

// Dial connects to a peer service at target, one address or several replicas in a form
// ParseTarget reads; calls spread over the replicas round robin. Every call made on the
// connection carries the identity in its context, signed with keys for the service named by
// Audience among opts. The connection is plaintext unless opts carry TLS (ClientTLS.DialOption):
// the identity token is what a service trusts, TLS keeps it and the data from being read or
// replayed on the way.
func Dial(target string, keys *identity.Keyring, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	aud, name := identity.UnnamedAudience, ""
	for _, o := range opts {
		if a, ok := o.(audience); ok {
			if a.name == "" {
				return nil, fmt.Errorf("dial %s: rpc.Audience: empty name", target)
			}
			aud, name = a.name, a.name
		}
	}
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithChainUnaryInterceptor(identity.UnaryClientInterceptorTo(keys, aud)),
		grpc.WithChainStreamInterceptor(identity.StreamClientInterceptorTo(keys, aud)),
	}
	uri, balancing := t.dialOptions(name)
	base = append(base, balancing...)
	conn, err := grpc.NewClient(uri, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}
