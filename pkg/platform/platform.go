// Package platform runs one Orgplane service: its pool and migrations, NATS and its outbox relay,
// a gRPC server with the suite's interceptors, background workers and an admin HTTP endpoint.
// A service describes itself with a Spec; its main calls Main, and programs that compose several
// services (the dev stack, whole-suite tests) call Serve with explicit Options.
package platform

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// Worker is a background loop that runs until its context ends.
type Worker func(ctx context.Context) error

// Route registers a service's REST routes (a generated grpc-gateway RegisterXHandler) on the
// gateway's mux, forwarding to conn, a connection to that service.
type Route func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// Peer is a service this one calls.
type Peer struct {
	// Name is the peer's Spec.Name.
	Name string
	// DefaultAddr is where it is when ORGPLANE_PEERS does not say (all services on one host).
	DefaultAddr string
}

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

// Parts are what a service runs besides its gRPC API.
type Parts struct {
	// Consumers are its durable event consumers; the platform runs them.
	Consumers []events.ConsumerSpec
	// Workers are its other background loops (schedulers, retries of intents).
	Workers []Worker
}

// Command is a service's own maintenance command, run as `<service> <name>` instead of serving
// (the integration-sync service's `rotate`). It runs with the service's database role.
type Command struct {
	Help string
	Run  func(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error
}

// Spec declares a service in one place: its settings, data, events, peers, REST routes and how
// to build it. The platform, the gateway and the dev stack learn everything from it, so adding a
// route or a consumer touches only the service and its protos.
type Spec struct {
	// Name is the service's name ("org", "integration-sync"); its Postgres schema and runtime
	// role derive from it (Schema, Role).
	Name string
	// DefaultGRPCAddr is where the service listens when not told otherwise.
	DefaultGRPCAddr string
	// DefaultAdminAddr is where its /metrics endpoint listens when not told otherwise.
	DefaultAdminAddr string
	// Config, when set, points at the service's own settings: a struct whose fields carry
	// ardanlabs/conf tags with an explicit env name each. They are read from the environment
	// and flags like the platform's own, before New runs.
	Config any
	// Migrations are the service's own, applied after the tenancy and outbox sets.
	Migrations []postgres.MigrationSet
	// Produces lists the event messages the service writes to its outbox; their streams are
	// provisioned when it starts.
	Produces []proto.Message
	// Peers are the services it calls.
	Peers []Peer
	// Routes are the REST routes it contributes to the gateway.
	Routes []Route
	// New registers the service's gRPC implementations on d.Server and returns its consumers
	// and workers. It wires and does no I/O: the platform also builds a service with inert
	// dependencies to learn which durable consumers its NATS credential must allow
	// (NATSPermissions).
	New func(ctx context.Context, d Deps) (Parts, error)
	// Commands are the service's own maintenance commands, by name.
	Commands map[string]Command
}

// Schema is the service's Postgres schema.
func (s Spec) Schema() string { return strings.ReplaceAll(s.Name, "-", "_") }

// Role is the runtime role a service's queries run as.
func (s Spec) Role() string { return "orgplane_" + s.Schema() }

// Streams are the JetStream streams the service publishes into.
func (s Spec) Streams() ([]events.Stream, error) { return events.StreamsOf(s.Produces...) }

// MigrationSets are every set Migrate applies for s, in order.
func (s Spec) MigrationSets() []postgres.MigrationSet {
	return append([]postgres.MigrationSet{postgres.TenancyMigrations(), events.Migrations()}, s.Migrations...)
}

// DBConfig is the service's Postgres configuration for url.
func (s Spec) DBConfig(url string) postgres.Config {
	return postgres.Config{URL: url, Schema: s.Schema(), Role: s.Role()}
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
	// NATS is the server to publish to and consume from, and the service's credential there.
	NATS events.NATSConfig
	// GRPC is the listener to serve on; Serve closes it.
	GRPC net.Listener
	// Admin, when set, serves /metrics, /healthz and /readyz.
	Admin   net.Listener
	Metrics http.Handler
	// Ready is closed once the service is serving (optional).
	Ready chan<- struct{}
	// Peers are the gRPC addresses of other services, by name; a peer not named here is at its
	// Peer.DefaultAddr.
	Peers map[string]string
	// TLS secures the gRPC server; the zero value serves plaintext.
	TLS rpc.ServerTLS
	// PeerTLS secures calls to peers; the zero value calls them in plaintext.
	PeerTLS rpc.ClientTLS
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
	if err := postgres.CheckServerVersion(ctx, pool); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	stopPoolMetrics, err := postgres.ObservePool(pool, s.Name)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer stopPoolMetrics()

	nc, js, err := events.Connect(o.NATS, s.Name, log)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer nc.Close()
	// A server reached at start is checked now; one reached later, by readiness.
	if nc.IsConnected() {
		if err := checkNATSVersion(nc.ConnectedServerVersion()); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	ready := newReadiness(log)

	// The server takes only identity tokens signed for this service, and calls to each peer carry
	// tokens for that peer: a token seen by one service cannot be replayed to another.
	transport, err := o.TLS.ServerOption(log)
	if err != nil {
		return fmt.Errorf("%s: gRPC TLS (ORGPLANE_TLS_CERT_FILE, ORGPLANE_TLS_KEY_FILE, ORGPLANE_TLS_CLIENT_CA_FILE): %w", s.Name, err)
	}
	srv, err := rpc.NewServer(log, o.Keys, append([]grpc.ServerOption{rpc.ServiceName(s.Name), transport}, ready.serverOptions()...)...)
	if err != nil {
		return err
	}
	if s.Config != nil {
		if err := ParseServiceConfig(s.Config); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	streams, err := s.Streams()
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	peerTransport, err := o.PeerTLS.DialOption(log)
	if err != nil {
		return fmt.Errorf("%s: gRPC TLS to peers (ORGPLANE_TLS_CA_FILE, ORGPLANE_TLS_CLIENT_CERT_FILE, ORGPLANE_TLS_CLIENT_KEY_FILE): %w", s.Name, err)
	}
	if o.TLS.Enabled() && !o.PeerTLS.Enabled() && len(s.Peers) > 0 {
		log.Warn("the gRPC server uses TLS but calls to peers are plaintext; set ORGPLANE_TLS_CA_FILE")
	}
	peers := map[string]*grpc.ClientConn{}
	for _, p := range s.Peers {
		addr := o.Peers[p.Name]
		if addr == "" {
			addr = p.DefaultAddr
		}
		if addr == "" {
			return fmt.Errorf("%s: no address for peer service %s (set ORGPLANE_PEERS=%s=host:port)", s.Name, p.Name, p.Name)
		}
		conn, err := rpc.Dial(addr, o.Keys, rpc.Audience(p.Name), peerTransport)
		if err != nil {
			return err
		}
		defer conn.Close()
		peers[p.Name] = conn
	}
	parts, err := s.New(ctx, Deps{Log: log, Pool: pool, JS: js, Keys: o.Keys, Server: srv, Peers: peers})
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	workers := parts.Workers
	for _, spec := range parts.Consumers {
		c, err := events.NewConsumer(js, pool, log, spec)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		c.DeadLetterReplicas = o.NATS.StreamReplicas
		workers = append(workers, c.Run)
	}

	g, gctx := errgroup.WithContext(ctx)
	// The relay and consumers stop only after the gRPC server has finished its in-flight calls,
	// so the events those calls commit still leave with this process; a failure stops them at
	// once. NATS and the pool close last (deferred above).
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	stopOnFailure := context.AfterFunc(gctx, func() {
		if ctx.Err() == nil {
			stopWorkers()
		}
	})
	defer stopOnFailure()
	g.Go(func() error {
		defer stopWorkers()
		return srv.Serve(gctx, o.GRPC)
	})
	deps := dependencies{pool: pool, sets: s.MigrationSets(), nc: nc, js: js, streams: streams,
		consumers: parts.Consumers, peers: peers, log: log}
	g.Go(func() error { ready.run(gctx, deps.check); return nil })
	relay := events.NewRelay(pool, js, log, o.DB.Schema)
	relay.Service = s.Name
	// Observed from the start, not from when the relay first runs: the backlog matters most
	// while NATS is unreachable and the relay waits for its streams.
	stopOutboxMetrics, err := relay.Observe()
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer stopOutboxMetrics()
	g.Go(func() error {
		if len(streams) > 0 {
			if !provision(wctx, js, log, streams, o.NATS.StreamReplicas) {
				return nil
			}
		}
		return relay.Run(wctx)
	})
	for _, w := range workers {
		g.Go(func() error { return w(wctx) })
	}
	if o.Admin != nil {
		g.Go(func() error { return ServeHTTP(gctx, o.Admin, adminMux(o.Metrics, ready.Reason)) })
	}
	log.Info("service started", "grpc", o.GRPC.Addr().String(), "grpc_tls", o.TLS.Enabled(),
		"grpc_mutual_tls", o.TLS.ClientCAFile != "", "peer_tls", o.PeerTLS.Enabled())
	// Ready means serving: held back until the first readiness check passes (or a grace ends).
	go ready.announce(gctx, o.Ready)
	err = g.Wait()
	log.Info("service stopped")
	return err
}

// provision creates the service's streams, retrying while NATS is unreachable (the outbox keeps
// events meanwhile). It reports false if ctx ended first.
func provision(ctx context.Context, js jetstream.JetStream, log *slog.Logger, streams []events.Stream, replicas int) bool {
	for backoff := 200 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := events.EnsureReplicatedStreams(pctx, js, replicas, streams...)
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

// AdminMux serves a process's operational endpoints. /healthz says the process runs (liveness
// only: restarting a process whose database is down fixes nothing); /readyz is the same here,
// for processes without dependencies of their own.
func AdminMux(metrics http.Handler) *http.ServeMux { return adminMux(metrics, nil) }

// adminMux is AdminMux whose /readyz answers 503 with the reason while notReady says one, as the
// service's gRPC health does.
func adminMux(metrics http.Handler, notReady func() string) *http.ServeMux {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if notReady != nil {
			if reason := notReady(); reason != "" {
				http.Error(w, "not serving: "+reason, http.StatusServiceUnavailable)
				return
			}
		}
		ok(w, r)
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}
