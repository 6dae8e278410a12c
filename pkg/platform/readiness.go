package platform

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// NotServingReasonHeader carries, on a NOT_SERVING health check answer, why the service cannot
// work; the gateway's /readyz shows it. gRPC health has no field for it.
const NotServingReasonHeader = "orgplane-not-serving-reason"

// MinNATSVersion is the oldest NATS server the services work with: consumers filter on several
// subjects (FilterSubjects), which JetStream accepts from 2.10.
const MinNATSVersion = "2.10.0"

// readinessInterval is how often a service re-checks what it depends on. A probe reads the last
// result, so probes stay cheap whatever their rate, and a cause that goes away is noticed
// within one interval.
const readinessInterval = 2 * time.Second

// readiness is a service's honest answer to "can you work?": gRPC health says SERVING only while
// the last check found nothing wrong, and NOT_SERVING carries the reason.
type readiness struct {
	log *slog.Logger
	// serving is closed the first time the service is ready.
	serving     chan struct{}
	servingOnce sync.Once
	// started is when the service began starting; see startupGrace.
	started time.Time

	mu     sync.Mutex
	reason string // empty: ready
}

func newReadiness(log *slog.Logger) *readiness {
	return &readiness{log: log, reason: "starting", serving: make(chan struct{}), started: time.Now()}
}

// startupCheckInterval is how often readiness is checked until the service is first ready: the
// parts it checks (consumers, streams) are being provisioned at that moment, and whoever waits
// for Options.Ready should not wait a whole readinessInterval for nothing.
const startupCheckInterval = 50 * time.Millisecond

// startupGrace bounds how long Serve holds Options.Ready back waiting for the service to be
// ready: a service that cannot work still starts (and says why on /readyz and in its log) rather
// than hanging whatever waits for it. Until then, not being ready is how starting looks (peers
// and streams come up in any order) and is logged at info; past it, or once the service has been
// ready, it is a warning.
const startupGrace = 15 * time.Second

// announce closes ready once the service is first ready, or after startupGrace, unless ctx
// ends first.
func (r *readiness) announce(ctx context.Context, ready chan<- struct{}) {
	if ready == nil {
		return
	}
	select {
	case <-r.serving:
	case <-time.After(startupGrace):
	case <-ctx.Done():
		return
	}
	close(ready)
}

// Reason is why the service is not ready, or "" when it is.
func (r *readiness) Reason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

// set records a check's outcome and logs each change, not each check.
func (r *readiness) set(reason string) {
	r.mu.Lock()
	prev := r.reason
	r.reason = reason
	r.mu.Unlock()
	if reason == "" {
		r.servingOnce.Do(func() { close(r.serving) })
	}
	switch {
	case reason == prev:
	case reason == "":
		r.log.Info("ready: SERVING", "was", prev)
	default:
		level := slog.LevelWarn
		if r.starting() {
			level = slog.LevelInfo
		}
		r.log.Log(context.Background(), level, "not ready: NOT_SERVING", "reason", reason)
	}
}

// starting reports whether the service has been neither ready yet nor starting for longer than
// startupGrace.
func (r *readiness) starting() bool {
	return !r.servedOnce() && time.Since(r.started) < startupGrace
}

func (r *readiness) servedOnce() bool {
	select {
	case <-r.serving:
		return true
	default:
		return false
	}
}

// run checks every interval until ctx ends.
func (r *readiness) run(ctx context.Context, check func(context.Context) string) {
	warned := false
	for {
		cctx, cancel := context.WithTimeout(ctx, readinessInterval)
		reason := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		r.set(reason)
		wait := readinessInterval
		switch {
		case r.starting():
			wait = startupCheckInterval
		case reason != "" && !warned && !r.servedOnce():
			// Its NOT_SERVING was said at info while starting; a service that never got ready
			// must still warn once.
			warned = true
			r.log.Warn("started but not ready", "reason", reason, "after", startupGrace)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// serverOptions answer health checks from the last result: a NOT_SERVING answer with the reason
// in a header while something is wrong. They sit innermost, after the health server has answered,
// so an unknown service name still gets the health server's NotFound.
func (r *readiness) serverOptions() []grpc.ServerOption {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil || info.FullMethod != healthpb.Health_Check_FullMethodName {
			return resp, err
		}
		if reason := r.Reason(); reason != "" {
			_ = grpc.SetHeader(ctx, metadata.Pairs(NotServingReasonHeader, reason))
			return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}, nil
		}
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != healthpb.Health_Watch_FullMethodName {
			return handler(srv, ss)
		}
		return handler(srv, &watchStream{ServerStream: ss, r: r})
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}
}

// watchStream turns the health server's SERVING into NOT_SERVING while the service is not ready.
// A watcher learns of a change of readiness at the health server's next update, so probes
// should use Check (Kubernetes' gRPC probe does).
type watchStream struct {
	grpc.ServerStream
	r *readiness
}

func (w *watchStream) SendMsg(m any) error {
	if resp, ok := m.(*healthpb.HealthCheckResponse); ok && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING && w.r.Reason() != "" {
		m = &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}
	}
	return w.ServerStream.SendMsg(m)
}

// dependencies is what a service needs to do its work.
type dependencies struct {
	pool      *pgxpool.Pool
	sets      []postgres.MigrationSet
	nc        *nats.Conn
	js        jetstream.JetStream
	streams   []events.Stream
	consumers []events.ConsumerSpec
	peers     map[string]*grpc.ClientConn
	log       *slog.Logger
}

// check returns why the service cannot work, or "". The reason is shown to anyone who can read
// /readyz, so it names what is wrong, never an address or a driver's text; the log has those.
func (d dependencies) check(ctx context.Context) string {
	if err := d.pool.Ping(ctx); err != nil {
		d.log.Debug("readiness: database ping failed", "error", err)
		return "database unreachable"
	}
	if err := postgres.CheckSchema(ctx, d.pool, d.sets...); err != nil {
		if postgres.ConnectionLost(err) {
			return "database unreachable"
		}
		return err.Error()
	}
	if !d.nc.IsConnected() {
		return "NATS not connected"
	}
	if err := checkNATSVersion(d.nc.ConnectedServerVersion()); err != nil {
		return err.Error()
	}
	for _, s := range d.streams {
		if _, err := d.js.Stream(ctx, s.Name); err != nil {
			d.log.Debug("readiness: stream lookup failed", "stream", s.Name, "error", err)
			return "NATS stream " + s.Name + " missing"
		}
	}
	for _, c := range d.consumers {
		stream, err := consumerStream(c)
		if err != nil {
			return err.Error()
		}
		if _, err := d.js.Consumer(ctx, stream, c.Durable); err != nil {
			d.log.Debug("readiness: consumer lookup failed", "consumer", c.Durable, "error", err)
			return "NATS consumer " + c.Durable + " missing on stream " + stream
		}
	}
	for name, conn := range d.peers {
		// Health is open to every caller; the service identity only keeps the call's shape usual.
		_, err := healthpb.NewHealthClient(conn).Check(identity.With(ctx, identity.Service("readiness")), &healthpb.HealthCheckRequest{})
		if err != nil {
			d.log.Debug("readiness: peer did not answer", "peer", name, "error", err)
			return "peer " + name + " not answering"
		}
	}
	return ""
}

// consumerStream is the stream a consumer's events come from (all its handlers share one).
func consumerStream(c events.ConsumerSpec) (string, error) {
	if len(c.Handlers) == 0 {
		return "", fmt.Errorf("consumer %s has no handlers", c.Durable)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(c.Handlers[0].Type())
	if err != nil {
		return "", fmt.Errorf("consumer %s: %w", c.Durable, err)
	}
	k, err := events.KindOf(mt.New().Interface())
	if err != nil {
		return "", fmt.Errorf("consumer %s: %w", c.Durable, err)
	}
	return k.Stream.Name, nil
}

// checkNATSVersion refuses a server older than MinNATSVersion.
func checkNATSVersion(v string) error {
	if versionLess(v, MinNATSVersion) {
		return fmt.Errorf("NATS server %s is too old: Orgplane needs %s or newer (JetStream consumers with several filter subjects)", v, strings.TrimSuffix(MinNATSVersion, ".0"))
	}
	return nil
}

// versionLess compares dotted numeric versions ("2.9.25" < "2.10.0"); a pre-release suffix is
// ignored, an unparsable part counts as 0.
func versionLess(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	for i := range 3 {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func versionParts(v string) [3]int {
	v, _, _ = strings.Cut(strings.TrimPrefix(v, "v"), "-")
	var out [3]int
	for i, p := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}
