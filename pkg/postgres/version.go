package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MinServerVersion is the oldest PostgreSQL the services run on (server_version_num): the
// oldest the suite is tested on. The migrations themselves need 13 (gen_random_uuid built in),
// but a version nobody tests is not one we promise.
const MinServerVersion = 150000

// CheckServerVersion refuses a PostgreSQL older than MinServerVersion with a message that says
// what is needed, instead of failing later on a migration or a query.
func CheckServerVersion(ctx context.Context, pool *pgxpool.Pool) error {
	var num int
	var text string
	if err := pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int, current_setting('server_version')").Scan(&num, &text); err != nil {
		return fmt.Errorf("read the PostgreSQL version: %w", err)
	}
	if num < MinServerVersion {
		return fmt.Errorf("PostgreSQL %s is too old: Orgplane needs %d or newer", text, MinServerVersion/10000)
	}
	return nil
}

// WantVersion is the version set brings a schema to: the highest version among its goose files
// ("00007_name.sql" is version 7).
func (set MigrationSet) WantVersion() (int64, error) {
	entries, err := fs.ReadDir(set.FS, ".")
	if err != nil {
		return 0, fmt.Errorf("migrations %s: %w", set.Name, err)
	}
	var want int64
	for _, e := range entries {
		digits, _, ok := strings.Cut(e.Name(), "_")
		if e.IsDir() || !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			continue
		}
		want = max(want, v)
	}
	return want, nil
}

// ErrVersionUnreadable means the runtime role may not read the migration history: a schema
// migrated by a release from before it was granted SELECT. The next migrate run grants it.
var ErrVersionUnreadable = errors.New("schema version unreadable by the runtime role (run this release's migrate command)")

// SchemaVersion is the version set has brought the pool's schema to; 0 when it never ran.
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool, set MigrationSet) (int64, error) {
	if err := checkIdent("migration set", set.Name); err != nil {
		return 0, err
	}
	table := pgx.Identifier{set.Name + "_migrations"}.Sanitize() // unqualified: the pool's search_path is the schema
	query := "SELECT coalesce(max(version_id), 0) FROM " + table + " WHERE is_applied"
	var v int64
	err := pool.QueryRow(ctx, query).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
		// History migrated by a release that did not grant the runtime role SELECT on it: the
		// login itself (which ran those migrations, when there is one login) may still read it.
		// The role is dropped for this one read-only transaction only.
		err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL ROLE NONE"); err != nil {
				return err
			}
			return tx.QueryRow(ctx, query).Scan(&v)
		})
	}
	switch {
	case errors.As(err, &pe) && pe.Code == "42P01": // undefined_table: never migrated
		return 0, nil
	case errors.As(err, &pe) && pe.Code == "42501":
		return 0, ErrVersionUnreadable
	case err != nil:
		return 0, fmt.Errorf("read schema version of %s: %w", set.Name, err)
	}
	return v, nil
}

// CheckSchema says why the pool's schema is not what sets expect, or nil: "schema version N, want
// M" names the first set behind (or ahead, after a rollback of the binary).
func CheckSchema(ctx context.Context, pool *pgxpool.Pool, sets ...MigrationSet) error {
	for _, set := range sets {
		want, err := set.WantVersion()
		if err != nil {
			return err
		}
		have, err := SchemaVersion(ctx, pool, set)
		if err != nil {
			return err
		}
		if have != want {
			return fmt.Errorf("schema version %d, want %d (migrations %s; run the migrate command)", have, want, set.Name)
		}
	}
	return checkTables(ctx, pool)
}

// checkTables refuses a schema missing a table the migrations left (one dropped by hand, a
// half-restored backup): the version alone would still look right.
func checkTables(ctx context.Context, pool *pgxpool.Pool) error {
	var comment *string
	var present []string
	err := pool.QueryRow(ctx, `SELECT obj_description(n.oid, 'pg_namespace'),
			coalesce((SELECT array_agg(t.tablename::text) FROM pg_tables t WHERE t.schemaname = n.nspname), '{}')
		FROM pg_namespace n WHERE n.nspname = current_schema()`).Scan(&comment, &present)
	if err != nil || comment == nil || !strings.HasPrefix(*comment, tablesComment) {
		return err // a schema migrated before tables were recorded: nothing to compare with
	}
	for _, want := range strings.Split(strings.TrimPrefix(*comment, tablesComment), ",") {
		if want != "" && !slices.Contains(present, want) {
			return fmt.Errorf("table %s is missing (restore it, or run the migrate command)", want)
		}
	}
	return nil
}
