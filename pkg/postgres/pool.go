// Package postgres opens a service's connection pool, applies its embedded migrations inside its
// own schema, runs tenant-scoped transactions under row-level security and translates Postgres
// errors into domain errors at the store boundary.
package postgres

import (
	"context"
	"fmt"
	"regexp"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
