package rpc

import "google.golang.org/grpc"

// serviceName names the service a server runs; its identity tokens must be for that name.
// Embedding EmptyServerOption lets it travel in NewServer's grpc.ServerOption list, so callers
// that name no service keep the constructor they had.
type serviceName struct {
	grpc.EmptyServerOption
	name string
}

// ServiceName makes a server accept only identity tokens whose audience is name (the service's
// Spec.Name). A server without it accepts only identity.UnnamedAudience, which no production
// client signs: platform.Serve always names its server.
func ServiceName(name string) grpc.ServerOption { return serviceName{name: name} }

// audience names the service a connection calls.
type audience struct {
	grpc.EmptyDialOption
	name string
}

// Audience makes every call on a connection carry an identity token for the service name only,
// so a token seen by one service cannot be replayed to another. Without it tokens are for
// identity.UnnamedAudience, which only unnamed servers (tests) accept.
func Audience(name string) grpc.DialOption { return audience{name: name} }
