package identity

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// MetadataKey is the gRPC metadata entry holding the signed identity token. It is distinct from
// "authorization" so that a caller's own credential (an API key forwarded by grpc-gateway) can
// never be mistaken for a verified identity.
const MetadataKey = "x-orgplane-identity"

// UnaryClientInterceptor is UnaryClientInterceptorTo(kr, UnnamedAudience).
func UnaryClientInterceptor(kr *Keyring) grpc.UnaryClientInterceptor {
	return UnaryClientInterceptorTo(kr, UnnamedAudience)
}

// StreamClientInterceptor is StreamClientInterceptorTo(kr, UnnamedAudience).
func StreamClientInterceptor(kr *Keyring) grpc.StreamClientInterceptor {
	return StreamClientInterceptorTo(kr, UnnamedAudience)
}

// UnaryClientInterceptorTo attaches the identity in the call's context, signed for the service
// named audience, to every outgoing call. A call without an identity in its context fails before
// it leaves the process: services act either on behalf of their caller or as themselves
// (Service), never as nobody.
func UnaryClientInterceptorTo(kr *Keyring, audience string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, err := outgoing(ctx, kr, audience)
		if err != nil {
			return err
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptorTo is UnaryClientInterceptorTo for streaming calls.
func StreamClientInterceptorTo(kr *Keyring, audience string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, err := outgoing(ctx, kr, audience)
		if err != nil {
			return nil, err
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
}

func outgoing(ctx context.Context, kr *Keyring, audience string) (context.Context, error) {
	id, ok := From(ctx)
	if !ok {
		return ctx, status.Error(codes.Unauthenticated, "outgoing call without an identity")
	}
	tok, err := kr.SignFor(id, audience)
	if err != nil {
		return ctx, status.Error(codes.Unauthenticated, err.Error())
	}
	return metadata.AppendToOutgoingContext(ctx, MetadataKey, tok), nil
}

// FromIncoming is FromIncomingFor(ctx, kr, UnnamedAudience).
func FromIncoming(ctx context.Context, kr *Keyring) (Identity, error) {
	return FromIncomingFor(ctx, kr, UnnamedAudience)
}

// FromIncomingFor verifies the identity token in an incoming call's metadata, which must be for
// audience, the receiving service's name.
func FromIncomingFor(ctx context.Context, kr *Keyring, audience string) (Identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(MetadataKey)
	if len(vals) != 1 || strings.TrimSpace(vals[0]) == "" {
		return Identity{}, ErrUnauthenticated
	}
	return kr.VerifyFor(vals[0], audience)
}
