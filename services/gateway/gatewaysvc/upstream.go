package gatewaysvc

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// upstreamUnavailable rewrites the errors gRPC's own transport makes when a service cannot be
// reached (it is stopping, restarting or gone): their text names the internal address ("dial
// tcp 10.0.3.7:9101: connect: connection refused"), which is nobody's business outside. The
// caller gets Unavailable (503) in our words with a RetryInfo, the log keeps the original.
// A service's own Unavailable carries details and passes unchanged.
func upstreamUnavailable(service string, log func(msg string, args ...any)) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return maskUnavailable(service, method, invoker(ctx, method, req, reply, cc, opts...), log)
	}
}

// maskUnavailable is upstreamUnavailable's rewrite of one error.
func maskUnavailable(service, method string, err error, log func(msg string, args ...any)) error {
	s, ok := status.FromError(err)
	if err == nil || !ok || s.Code() != codes.Unavailable || len(s.Details()) > 0 {
		return err
	}
	log("upstream unavailable", "service", service, "method", method, "error", s.Message())
	clean, derr := status.New(codes.Unavailable, "the "+service+" service is unavailable; retry shortly").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	if derr != nil {
		return status.Error(codes.Unavailable, "the "+service+" service is unavailable; retry shortly")
	}
	return clean.Err()
}
