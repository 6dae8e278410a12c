// Package platform runs one Orgplane service: its pool and migrations, NATS and its outbox relay,
// a gRPC server with the suite's interceptors, background workers and an admin HTTP endpoint.
// A service describes itself with a Spec; its main calls Main, and programs that compose several
// services (the dev stack, whole-suite tests) call Serve with explicit Options.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// Worker is a background loop that runs until its context ends.
type Worker func(ctx context.Context) error

// Deps are what a service's constructor gets to build itself with.
type Deps struct {
	Log    *slog.Logger
	Pool   *pgxpool.Pool
	JS     jetstream.JetStream
	Keys   *identity.Keyring
	Server *rpc.Server
	// Peers are connections to the services named in Spec.Peers; calls on them carry the
	// identity in their context (the caller's, or identity.Service for background work).
	Peers map[string]*grpc.ClientConn
}

// Spec describes a service to the platform.
type Spec struct {
	// Name is the service's name, its Postgres schema and (prefixed "orgplane_") its runtime role.
	Name string
	// DefaultGRPCAddr is where the service listens when not told otherwise.
	DefaultGRPCAddr string
	// DefaultAdminAddr is where its /metrics endpoint listens when not told otherwise.
	DefaultAdminAddr string
	// Migrations are the service's own, applied after the tenancy and outbox sets.
	Migrations []postgres.MigrationSet
	// Streams are the JetStream streams the service publishes into.
	Streams []events.Stream
	// Peers names the services it calls ("org", ...).
	Peers []string
	// New registers the service's gRPC implementations on d.Server and returns its workers
	// (event consumers, schedulers).
	New func(ctx context.Context, d Deps) ([]Worker, error)
}

// Role is the runtime role a service's queries run as.
func (s Spec) Role() string { return "orgplane_" + s.Name }

// MigrationSets are every set Migrate applies for s, in order.
func (s Spec) MigrationSets() []postgres.MigrationSet {
	return append([]postgres.MigrationSet{postgres.TenancyMigrations(), events.Migrations()}, s.Migrations...)
}

// DBConfig is the service's Postgres configuration for url.
func (s Spec) DBConfig(url string) postgres.Config {
	return postgres.Config{URL: url, Schema: s.Name, Role: s.Role()}
}

// Migrate applies s's migrations to the database at url.
func Migrate(ctx context.Context, s Spec, url string, log *slog.Logger) error {
	return postgres.Migrate(ctx, s.DBConfig(url), log, s.MigrationSets()...)
}

// Options are a running service's resolved settings.
type Options struct {
	Log  *slog.Logger
	Keys *identity.Keyring
	// DB is where the service's data lives (Spec.DBConfig gives the usual one).
	DB postgres.Config
	// NATSURL is the NATS server to publish to and consume from.
	NATSURL string
	// GRPC is the listener to serve on; Serve closes it.
	GRPC net.Listener
	// Admin, when set, serves /metrics, /healthz and /readyz.
	Admin   net.Listener
	Metrics http.Handler
	// Ready is closed once the service is serving (optional).
	Ready chan<- struct{}
	// Peers are the gRPC addresses of other services, by name.
	Peers map[string]string
}

// Serve runs s until ctx ends, then shuts down in order: stop taking calls, let in-flight calls
// and workers finish, close NATS and the pool.
func Serve(ctx context.Context, s Spec, o Options) error {
	log := o.Log.With("service", s.Name)
	pool, err := postgres.Open(ctx, o.DB)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer pool.Close()

	nc, js, err := events.Connect(o.NATSURL, "orgplane-"+s.Name, log)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer nc.Close()

	srv, err := rpc.NewServer(log, o.Keys)
	if err != nil {
		return err
	}
	peers := map[string]*grpc.ClientConn{}
	for _, name := range s.Peers {
		addr := o.Peers[name]
		if addr == "" {
			return fmt.Errorf("%s: no address for peer service %s", s.Name, name)
		}
		conn, err := rpc.Dial(addr, o.Keys)
		if err != nil {
			return err
		}
		defer conn.Close()
		peers[name] = conn
	}
	workers, err := s.New(ctx, Deps{Log: log, Pool: pool, JS: js, Keys: o.Keys, Server: srv, Peers: peers})
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, o.GRPC) })
	relay := events.NewRelay(pool, js, log, o.DB.Schema)
	g.Go(func() error {
		if len(s.Streams) > 0 {
			if !provision(gctx, js, log, s.Streams) {
				return nil
			}
		}
		return relay.Run(gctx)
	})
	for _, w := range workers {
		g.Go(func() error { return w(gctx) })
	}
	if o.Admin != nil {
		g.Go(func() error { return serveAdmin(gctx, o.Admin, o.Metrics) })
	}
	log.Info("service started", "grpc", o.GRPC.Addr().String())
	if o.Ready != nil {
		close(o.Ready)
	}
	err = g.Wait()
	log.Info("service stopped")
	return err
}

// provision creates the service's streams, retrying while NATS is unreachable (the outbox keeps
// events meanwhile). It reports false if ctx ended first.
func provision(ctx context.Context, js jetstream.JetStream, log *slog.Logger, streams []events.Stream) bool {
	for backoff := 200 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := events.EnsureStreams(pctx, js, streams...)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn("cannot provision streams; retrying", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
	}
}

// AdminMux serves a process's operational endpoints. /healthz says the process runs; /readyz is
// the same here because a service's gRPC health service is its real readiness signal.
func AdminMux(metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /readyz", ok)
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

func serveAdmin(ctx context.Context, lis net.Listener, metrics http.Handler) error {
	return ServeHTTP(ctx, lis, AdminMux(metrics))
}

// ServeHTTP serves h on lis until ctx ends, then shuts down gracefully.
func ServeHTTP(ctx context.Context, lis net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
