// Package postgres opens a service's connection pool, applies its embedded migrations inside its
// own schema, runs tenant-scoped transactions under row-level security and translates Postgres
// errors into domain errors at the store boundary.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Config says where a service's data lives.
type Config struct {
	// URL is the runtime connection string.
	URL string
	// Schema is the service's own schema; it is the connection's search_path, so a service's SQL
	// names its tables unqualified and cannot reach another service's by accident.
	Schema string
	// Role, when set, is assumed with SET ROLE on every new connection. It must not own the
	// tables: row-level security binds only non-owners (and never superusers), so a login that
	// owns the schema (as in the dev stack) still runs every query under the policies.
	Role string
	// MaxConns caps the pool; 0 keeps pgxpool's default.
	MaxConns int32
}

var identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func checkIdent(what, s string) error {
	if !identPattern.MatchString(s) {
		return fmt.Errorf("%s %q: want a lower-case SQL identifier", what, s)
	}
	return nil
}

// Open returns a traced pool for cfg and checks that it can connect.
func Open(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	if err := checkIdent("schema", cfg.Schema); err != nil {
		return nil, err
	}
	if cfg.Role != "" {
		if err := checkIdent("role", cfg.Role); err != nil {
			return nil, err
		}
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pc.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
	pc.ConnConfig.Tracer = otelpgx.NewTracer()
	failoverTimeouts(pc)
	markHangUps(pc)
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if cfg.Role != "" {
		role := cfg.Role
		pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "SET ROLE "+pgx.Identifier{role}.Sanitize())
			return err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres (%s): %w", pc.ConnConfig.Host, err)
	}
	return pool, nil
}

// Unless the URL sets them (connect_timeout, pool_ping_timeout), a pool gives up on one host of
// a multi-host URL after HostConnectTimeout and on a ping after PingTimeout.
const (
	HostConnectTimeout = 5 * time.Second
	PingTimeout        = 2 * time.Second
)

// failoverTimeouts bounds the two waits on a server that vanished without a word (a machine
// down, a network partition: no reset, only silence), which would otherwise last as long as the
// caller's context. pgx tries the hosts of a multi-host URL in order, so an unbounded connect to
// a dead first host would never reach the new primary behind it; and pgxpool pings a connection
// idle for a second or more before handing it out, destroying it if the ping fails, which only
// helps if the ping ends. A server that dies on this machine refuses at once and needs neither.
func failoverTimeouts(pc *pgxpool.Config) {
	multiHost := false
	for _, fb := range pc.ConnConfig.Fallbacks {
		// sslmode=prefer adds a fallback for the same host without TLS: not another host.
		multiHost = multiHost || fb.Host != pc.ConnConfig.Host || fb.Port != pc.ConnConfig.Port
	}
	if pc.ConnConfig.ConnectTimeout == 0 && multiHost {
		pc.ConnConfig.ConnectTimeout = HostConnectTimeout
	}
	if pc.PingTimeout == 0 {
		pc.PingTimeout = PingTimeout
	}
}

// errServerHungUp is the end of a pooled connection's byte stream: the server closed it or died
// (the socket's EOF). pgx returns a bare io.ErrUnexpectedEOF for it mid-query, which could be any
// reader's; this error says it was the database's, so ConnectionLost can tell.
var errServerHungUp = errors.New("the database server closed the connection")

// hangUpConn reports its socket's EOF as errServerHungUp.
type hangUpConn struct{ net.Conn }

func (c hangUpConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err == io.EOF {
		err = errServerHungUp
	}
	return n, err
}

// markHangUps makes the pool's connections report the server hanging up as errServerHungUp.
// The EOF stops pgx's readers just the same: they stop at any error.
func markHangUps(pc *pgxpool.Config) {
	dial := pc.ConnConfig.DialFunc
	pc.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return hangUpConn{c}, nil
	}
}

// ObservePool exports pool's use, labelled service, until stop is called:
// orgplane_db_pool_acquired_connections, _idle_connections and _max_connections, and the
// counters orgplane_db_pool_empty_acquires_total (acquires that found no idle connection and
// waited) and orgplane_db_pool_acquire_wait_seconds_total (the time they waited). A pool whose
// acquired connections stay at its max, with the wait growing, is too small or held too long.
func ObservePool(pool *pgxpool.Pool, service string) (stop func(), err error) {
	m := otel.Meter("orgplane/postgres")
	gauge := func(name, desc string) metric.Int64ObservableGauge {
		if err != nil {
			return nil
		}
		var g metric.Int64ObservableGauge
		g, err = m.Int64ObservableGauge(name, metric.WithUnit("{connection}"), metric.WithDescription(desc))
		return g
	}
	acquired := gauge("orgplane.db.pool.acquired_connections", "Connections of the pool in use.")
	idle := gauge("orgplane.db.pool.idle_connections", "Connections of the pool open and idle.")
	maxConns := gauge("orgplane.db.pool.max_connections", "The most connections the pool opens.")
	if err != nil {
		return nil, err
	}
	empty, err := m.Int64ObservableCounter("orgplane.db.pool.empty_acquires", metric.WithUnit("{acquire}"),
		metric.WithDescription("Acquires that found no idle connection and had to wait for one."))
	if err != nil {
		return nil, err
	}
	wait, err := m.Float64ObservableCounter("orgplane.db.pool.acquire_wait", metric.WithUnit("s"),
		metric.WithDescription("Time acquires spent waiting for a connection."))
	if err != nil {
		return nil, err
	}
	labels := metric.WithAttributes(attribute.String("service", service))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := pool.Stat()
		o.ObserveInt64(acquired, int64(st.AcquiredConns()), labels)
		o.ObserveInt64(idle, int64(st.IdleConns()), labels)
		o.ObserveInt64(maxConns, int64(st.MaxConns()), labels)
		o.ObserveInt64(empty, st.EmptyAcquireCount(), labels)
		o.ObserveFloat64(wait, st.EmptyAcquireWaitTime().Seconds(), labels)
		return nil
	}, acquired, idle, maxConns, empty, wait)
	if err != nil {
		return nil, fmt.Errorf("pool metrics: %w", err)
	}
	return func() { _ = reg.Unregister() }, nil
}
