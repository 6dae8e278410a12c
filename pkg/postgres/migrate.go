package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// MigrationSet is one ordered set of goose SQL migrations with its own version table.
type MigrationSet struct {
	// Name becomes the version table "<name>_migrations" in the schema.
	Name string
	FS   fs.FS
}

// Migrate brings cfg.Schema up to date: it creates the schema and the runtime role (when
// cfg.Role is set), applies each set in order inside the schema, and grants the role the data
// privileges it needs while leaving it owner of nothing. It runs with the URL's own login, which
// must be allowed to create schemas (and roles, the first time).
func Migrate(ctx context.Context, cfg Config, log *slog.Logger, sets ...MigrationSet) error {
	if err := checkIdent("schema", cfg.Schema); err != nil {
		return err
	}
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	cc.RuntimeParams["search_path"] = cfg.Schema
	db := stdlib.OpenDB(*cc)
	defer db.Close()

	schema := pgx.Identifier{cfg.Schema}.Sanitize()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return fmt.Errorf("create schema %s: %w", cfg.Schema, err)
	}
	if cfg.Role != "" {
		if err := ensureRole(ctx, db, cfg.Schema, cfg.Role); err != nil {
			return err
		}
	}
	changed := false
	for _, set := range sets {
		if err := checkIdent("migration set", set.Name); err != nil {
			return err
		}
		before := appliedVersion(ctx, db, cfg.Schema, set.Name)
		if err := applySet(ctx, db, cfg.Schema, set, log); err != nil {
			return err
		}
		changed = changed || appliedVersion(ctx, db, cfg.Schema, set.Name) != before
	}
	if cfg.Role != "" {
		role := pgx.Identifier{cfg.Role}.Sanitize()
		stmts := []string{
			"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
			"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + role,
		}
		for _, set := range sets {
			// The runtime role has no business rewriting migration history, but reads it: readiness
			// compares the schema's version with the binary's (CheckSchema).
			history := pgx.Identifier{cfg.Schema, set.Name + "_migrations"}.Sanitize()
			stmts = append(stmts, "REVOKE ALL ON "+history+" FROM "+role, "GRANT SELECT ON "+history+" TO "+role)
		}
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("grant %s: %w", cfg.Role, err)
			}
		}
	}
	if !changed {
		// Nothing was applied: keep the tables recorded when something was, so that a table
		// dropped by hand stays missing (CheckSchema) instead of being forgotten by a rerun.
		var comment sql.NullString
		err := db.QueryRowContext(ctx, `SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1`, cfg.Schema).Scan(&comment)
		if err == nil && strings.HasPrefix(comment.String, tablesComment) {
			return nil
		}
	}
	return recordTables(ctx, db, cfg.Schema)
}

// appliedVersion is the highest version of set applied to schema, 0 before its first run.
func appliedVersion(ctx context.Context, db *sql.DB, schemaName, setName string) int64 {
	var v int64
	table := pgx.Identifier{schemaName, setName + "_migrations"}.Sanitize()
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(version_id), 0) FROM "+table+" WHERE is_applied").Scan(&v); err != nil {
		return 0
	}
	return v
}

// tablesComment prefixes the schema comment that lists the tables the migrations left, so that
// readiness can tell a dropped table from a healthy schema (CheckSchema).
const tablesComment = "orgplane tables: "

func recordTables(ctx context.Context, db *sql.DB, schemaName string) error {
	var tables string
	err := db.QueryRowContext(ctx, `SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '')
		FROM pg_tables WHERE schemaname = $1`, schemaName).Scan(&tables)
	if err != nil {
		return fmt.Errorf("list the tables of %s: %w", schemaName, err)
	}
	comment := strings.ReplaceAll(tablesComment+tables, "'", "''") // table names never hold quotes; belt and braces
	if _, err := db.ExecContext(ctx, "COMMENT ON SCHEMA "+pgx.Identifier{schemaName}.Sanitize()+" IS '"+comment+"'"); err != nil {
		return fmt.Errorf("record the tables of %s: %w", schemaName, err)
	}
	return nil
}

func ensureRole(ctx context.Context, db *sql.DB, schemaName, roleName string) error {
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", roleName).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s: %w", roleName, err)
	}
	role := pgx.Identifier{roleName}.Sanitize()
	if !exists {
		// Two services or test packages may race to create it; the loser's error is harmless.
		_, err := db.ExecContext(ctx, `DO $$ BEGIN CREATE ROLE `+role+` NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`)
		if err != nil {
			return fmt.Errorf("create role %s (create it beforehand if the migration login may not): %w", roleName, err)
		}
	}
	schema := pgx.Identifier{schemaName}.Sanitize()
	if _, err := db.ExecContext(ctx, "GRANT USAGE ON SCHEMA "+schema+" TO "+role); err != nil {
		return fmt.Errorf("grant schema usage to %s: %w", roleName, err)
	}
	return nil
}

func applySet(ctx context.Context, db *sql.DB, schema string, set MigrationSet, log *slog.Logger) error {
	// One lock per schema: replicas of one service migrate one at a time, different services
	// do not wait for each other.
	h := fnv.New64a()
	h.Write([]byte("orgplane-migrate:" + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64() >> 1)))
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, set.FS,
		goose.WithTableName(set.Name+"_migrations"),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrations %s.%s: %w", schema, set.Name, err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s.%s: %w", schema, set.Name, err)
	}
	for _, r := range results {
		log.Info("migration applied", "schema", schema, "set", set.Name, "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// EmbeddedMigrations is the migration set named name in the "migrations" folder of fsys (a
// package's //go:embed migrations/*.sql).
func EmbeddedMigrations(name string, fsys fs.FS) MigrationSet {
	sub, err := fs.Sub(fsys, "migrations")
	if err != nil {
		panic(err) // the embedded path is fixed at compile time
	}
	return MigrationSet{Name: name, FS: sub}
}
