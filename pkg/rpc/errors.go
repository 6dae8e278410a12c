package rpc

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/postgres"
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
// A lost or refused connection (Postgres, NATS, an unreachable peer) becomes Unavailable with
// RetryInfo. Called on its own, ToStatus logs every outage error; the server's interceptors keep
// one mapper each, which logs a repeated one once per interval.
func ToStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	return newErrorMapper(log, time.Now).toStatus(ctx, method, err)
}

// UnavailableRetryDelay is what an Unavailable answer tells callers to wait (google.rpc.RetryInfo,
// and Retry-After at the gateway): long enough not to hammer a recovering database, short enough
// that a client resumes within a second or two of it coming back.
const UnavailableRetryDelay = time.Second

// unavailableLogInterval is how often one repeated outage error is logged: an outage fails every
// call the same way, and thousands of identical lines hide what changed.
const unavailableLogInterval = 10 * time.Second

// errorMapper is ToStatus with memory: it logs each distinct outage error once per interval,
// with the number of calls it failed since the last line.
type errorMapper struct {
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	repeated map[string]*repeat
}

type repeat struct {
	logged     time.Time
	suppressed int
}

func newErrorMapper(log *slog.Logger, now func() time.Time) *errorMapper {
	return &errorMapper{log: log, now: now, repeated: map[string]*repeat{}}
}

// Unavailable reports whether err is a lost or refused connection to a dependency (Postgres,
// NATS): the request was fine and may succeed when retried.
func Unavailable(err error) bool {
	if apperr.KindOf(err) == apperr.KindUnavailable {
		return true
	}
	return postgres.ConnectionLost(err) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionDraining) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse)
}

// logOutage logs err unless the same text was logged within the interval; the next line after a
// quiet spell says how many were left out.
func (m *errorMapper) logOutage(ctx context.Context, method string, err error) {
	key := err.Error()
	now := m.now()
	m.mu.Lock()
	r := m.repeated[key]
	if r != nil && now.Sub(r.logged) < unavailableLogInterval {
		r.suppressed++
		m.mu.Unlock()
		return
	}
	suppressed := 0
	if r != nil {
		suppressed = r.suppressed
	}
	// Forget old errors so the map stays as small as the set of current ones.
	for k, old := range m.repeated {
		if now.Sub(old.logged) >= unavailableLogInterval {
			delete(m.repeated, k)
		}
	}
	m.repeated[key] = &repeat{logged: now}
	m.mu.Unlock()
	m.log.LogAttrs(ctx, slog.LevelWarn, "dependency unavailable", slog.String("method", method),
		slog.String("error", key), slog.Int("repeats_since_last_logged", suppressed))
}

func (m *errorMapper) toStatus(ctx context.Context, method string, err error) error {
	log := m.log
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown && s.Code() != codes.Internal {
		if s.Code() == codes.Unavailable && !fromOrgplane(s) {
			// A peer we could not reach: gRPC's own text names its address, which stays here.
			m.logOutage(ctx, method, err)
			return unavailableStatus("a service this call needs is unavailable; retry shortly", "")
		}
		return err // already a deliberate status (for example from a peer service)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	if Unavailable(err) {
		// Lost or refused connections come back as Unavailable whatever the route or caller,
		// never as an internal error: the caller did nothing wrong and should retry.
		m.logOutage(ctx, method, err)
		msg, reason := "the service is temporarily unavailable; retry shortly", ""
		if ae, ok := apperr.As(err); ok && ae.Kind == apperr.KindUnavailable {
			msg, reason = ae.Message, ae.Reason
		}
		return unavailableStatus(msg, reason)
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

// fromOrgplane reports whether s was made by an Orgplane error mapper (it carries our ErrorInfo),
// rather than by the gRPC transport.
func fromOrgplane(s *status.Status) bool {
	for _, d := range s.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == ErrorDomain {
			return true
		}
	}
	return false
}

// unavailableStatus is every Unavailable answer: RetryInfo tells clients (and the gateway's
// Retry-After) when to come back.
func unavailableStatus(msg, reason string) error {
	if reason == "" {
		reason = "UNAVAILABLE"
	}
	s, _ := status.New(codes.Unavailable, msg).WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(UnavailableRetryDelay)},
		&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain},
	)
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
		s, _ = s.WithDetails(&errdetails.ErrorInfo{Reason: ae.Reason, Domain: ErrorDomain, Metadata: ae.Metadata})
	}
	return s.Err()
}

func errorUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	m := newErrorMapper(log, time.Now)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, m.toStatus(ctx, info.FullMethod, err)
		}
		return resp, nil
	}
}

func errorStream(log *slog.Logger) grpc.StreamServerInterceptor {
	m := newErrorMapper(log, time.Now)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return m.toStatus(ss.Context(), info.FullMethod, handler(srv, ss))
	}
}
