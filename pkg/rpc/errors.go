package rpc

import (
	"context"
	"errors"
	"log/slog"
	"regexp"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// RequestIDKey is the metadata entry (and, at the gateway, the X-Request-Id header) that ties a
// caller's request to the server's logs. Internal errors report it as their correlation id.
const RequestIDKey = "x-request-id"

// ErrorDomain is the google.rpc.ErrorInfo domain of errors raised by Orgplane.
const ErrorDomain = "orgplane.io"

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)

// RequestID returns the caller's request id when well-formed, or a new one.
func RequestID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(RequestIDKey); len(v) == 1 && requestIDPattern.MatchString(v[0]) {
		return v[0]
	}
	return uuid.NewString()
}

// ValidRequestID reports whether a caller-supplied id may be echoed back and logged.
func ValidRequestID(id string) bool { return requestIDPattern.MatchString(id) }

var kindCodes = map[apperr.Kind]codes.Code{
	apperr.KindInvalid:            codes.InvalidArgument,
	apperr.KindNotFound:           codes.NotFound,
	apperr.KindConflict:           codes.AlreadyExists,
	apperr.KindFailedPrecondition: codes.FailedPrecondition,
	apperr.KindPermissionDenied:   codes.PermissionDenied,
	apperr.KindUnauthenticated:    codes.Unauthenticated,
	apperr.KindResourceExhausted:  codes.ResourceExhausted,
	apperr.KindUnavailable:        codes.Unavailable,
}

// ToStatus is the one place where an error becomes what a caller sees. Classified errors keep
// their safe message; anything else is logged in full under a correlation id and reaches the
// caller as "internal error" plus that id, so no SQL, stack or file path ever leaves the process.
func ToStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown && s.Code() != codes.Internal {
		return err // already a deliberate status (for example from a peer service)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	if ae, ok := apperr.As(err); ok && ae.Kind != apperr.KindInternal {
		log.LogAttrs(ctx, slog.LevelDebug, "request refused", slog.String("method", method), slog.String("kind", ae.Kind.String()), slog.String("error", err.Error()))
		return classified(ae)
	}
	id := RequestID(ctx)
	log.LogAttrs(ctx, slog.LevelError, "internal error", slog.String("method", method), slog.String("correlation_id", id), slog.String("error", err.Error()))
	s, _ := status.New(codes.Internal, "internal error (correlation id "+id+")").WithDetails(&errdetails.ErrorInfo{
		Reason:   "INTERNAL",
		Domain:   ErrorDomain,
		Metadata: map[string]string{"correlation_id": id},
	})
	return s.Err()
}

func classified(ae *apperr.Error) error {
	code := kindCodes[ae.Kind]
	msg := ae.Message
	if ae.Field != "" {
		msg = ae.Field + ": " + msg
	}
	s := status.New(code, msg)
	if ae.Kind == apperr.KindInvalid && ae.Field != "" {
		s, _ = s.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: ae.Field, Description: ae.Message},
		}})
	}
	if ae.QuotaSubject != "" {
		s, _ = s.WithDetails(&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{
			{Subject: ae.QuotaSubject, Description: ae.Message},
		}})
	}
	if ae.Reason != "" {
		s, _ = s.WithDetails(&errdetails.ErrorInfo{Reason: ae.Reason, Domain: ErrorDomain})
	}
	return s.Err()
}

func errorUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, ToStatus(ctx, log, info.FullMethod, err)
		}
		return resp, nil
	}
}

func errorStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return ToStatus(ss.Context(), log, info.FullMethod, handler(srv, ss))
	}
}
