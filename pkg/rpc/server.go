// Package rpc builds the gRPC servers and client connections every Orgplane process uses, so that
// authentication, validation, error masking, logging and tracing behave the same everywhere.
package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/orgplane/orgplane/pkg/identity"
)

// Server is a gRPC server with the suite's interceptors, health and reflection.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
	log    *slog.Logger
	// StopTimeout bounds how long Serve waits for in-flight calls after its context ends.
	StopTimeout time.Duration
}

// NewServer returns a server whose calls pass, outermost first: tracing, logging, error masking,
// panic recovery, identity verification, authorization (the method's declared rule, see
// authz.go), request validation. Recovery sits inside the error mapper so a panic is reported
// like any internal error: masked, with a correlation id. Authorization comes before validation
// so a caller who may not call learns nothing from the rules its request breaks.
// ServiceName(name) among opts makes it accept only identity tokens for name; transport security
// comes from opts too (ServerTLS.ServerOption), plaintext otherwise.
func NewServer(log *slog.Logger, keys *identity.Keyring, opts ...grpc.ServerOption) (*Server, error) {
	aud := identity.UnnamedAudience
	for _, o := range opts {
		if n, ok := o.(serviceName); ok {
			if n.name == "" {
				return nil, errors.New("rpc.ServiceName: empty name")
			}
			aud = n.name
		}
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	lg := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(codeLevel),
	}
	rec := recovery.WithRecoveryHandlerContext(func(_ context.Context, p any) error {
		return fmt.Errorf("panic: %v\n%s", p, debug.Stack())
	})
	base := []grpc.ServerOption{
		ConnectionAge(DefaultMaxConnectionAge, DefaultMaxConnectionAgeGrace),
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(
			logging.UnaryServerInterceptor(lg, logOpts...),
			errorUnary(log),
			recovery.UnaryServerInterceptor(rec),
			authUnary(keys, aud),
			authzUnary(),
			validateUnary(validator),
		),
		grpc.ChainStreamInterceptor(
			logging.StreamServerInterceptor(lg, logOpts...),
			errorStream(log),
			recovery.StreamServerInterceptor(rec),
			authStream(keys, aud),
			authzStream(),
			validateStream(validator),
		),
	}
	s := &Server{
		grpc:        grpc.NewServer(append(base, opts...)...),
		health:      health.NewServer(),
		log:         log,
		StopTimeout: 10 * time.Second,
	}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	// Not serving until Serve runs: a load balancer must not route to a half-started process.
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return s, nil
}

// A client following a name (a headless Service through dns:///) looks the name up again only
// when a connection ends: without an age limit, replicas added by scaling out would take no
// calls from clients already connected. A server therefore ends each connection after
// DefaultMaxConnectionAge (gRPC adds 10% jitter) with a GOAWAY: its client looks the name up
// again and spreads over the replicas it finds; calls in flight finish on the old connection.
// The grace outlasts the gateway's longest stream (its default lifetime is 15 minutes), so an
// open notification stream ends at its own lifetime, not cut by the age limit.
const (
	DefaultMaxConnectionAge      = 5 * time.Minute
	DefaultMaxConnectionAgeGrace = 20 * time.Minute
)

// ConnectionAge sets how long a server keeps a client's connection before asking it to
// reconnect, and how long calls in flight then have to finish; given to NewServer, it replaces
// the defaults.
func ConnectionAge(age, grace time.Duration) grpc.ServerOption {
	return grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: age, MaxConnectionAgeGrace: grace})
}

// RegisterService registers an implementation; generated RegisterXServer functions accept it.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.grpc.RegisterService(desc, impl)
}

// Serve serves on lis until ctx ends, then reports NOT_SERVING, lets in-flight calls finish
// (up to StopTimeout) and returns nil. It returns early only if the listener fails, or at once
// if a registered method declares no authorization rule (see checkRules).
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if err := checkRules(s.grpc.GetServiceInfo()); err != nil {
		_ = lis.Close()
		return err
	}
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("grpc serve %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.StopTimeout):
		s.log.Warn("grpc graceful stop timed out; closing remaining calls")
		s.grpc.Stop()
		<-done
	}
	return nil
}

// Calls that need no identity: probes and discovery.
func public(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(method, "/grpc.reflection.")
}

func authUnary(keys *identity.Keyring, aud string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if public(info.FullMethod) {
			return handler(ctx, req)
		}
		id, err := identity.FromIncomingFor(ctx, keys, aud)
		if err != nil {
			return nil, err
		}
		return handler(identity.With(ctx, id), req)
	}
}

func authStream(keys *identity.Keyring, aud string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if public(info.FullMethod) {
			return handler(srv, ss)
		}
		id, err := identity.FromIncomingFor(ss.Context(), keys, aud)
		if err != nil {
			return err
		}
		return handler(srv, &identityStream{ServerStream: ss, ctx: identity.With(ss.Context(), id)})
	}
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

// codeLevel picks the level of a call's "finished call" line: faults loudly, everything a caller
// brought on itself at debug. A call that went as its caller asked is no news at info: the
// gateway's access log already records every request, and per-call lines would bury the rest.
// An unauthenticated call stays at info: a peer whose identity token fails is misconfigured.
func codeLevel(c codes.Code) logging.Level {
	switch c {
	case codes.OK, codes.Canceled, codes.NotFound, codes.InvalidArgument, codes.AlreadyExists,
		codes.FailedPrecondition, codes.PermissionDenied, codes.ResourceExhausted:
		return logging.LevelDebug
	case codes.Unauthenticated:
		return logging.LevelInfo
	case codes.DeadlineExceeded, codes.Unavailable, codes.Aborted:
		return logging.LevelWarn
	default:
		return logging.LevelError
	}
}
