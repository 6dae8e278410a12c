package postgres_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// A never-migrated schema reports "schema version 0, want M" to the runtime role, and nothing
// once the migrate step has run, on the same pool: readiness can turn SERVING without a restart.
func TestCheckSchemaComparesTheSchemaWithTheBinary(t *testing.T) {
	ctx := context.Background()
	sub, err := fs.Sub(os.DirFS("testdata"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	sets := []postgres.MigrationSet{postgres.TenancyMigrations(), {Name: "pgver", FS: sub}}
	want, err := sets[1].WantVersion()
	if err != nil || want < 1 {
		t.Fatalf("WantVersion = %d, %v", want, err)
	}
	db := testkit.NewDB(t, "pgver", "orgplane_pgver") // the schema and role, no migrations

	err = postgres.CheckSchema(ctx, db.Pool, sets...)
	if err == nil || !strings.Contains(err.Error(), "schema version 0, want 1") {
		t.Fatalf("unmigrated: CheckSchema = %v, want schema version 0, want 1", err)
	}
	admin := db.Config
	admin.URL = db.URL // migrations run with the stronger login, as the migrate command does
	if err := postgres.Migrate(ctx, admin, slog.New(slog.DiscardHandler), sets...); err != nil {
		t.Fatal(err)
	}
	if err := postgres.CheckSchema(ctx, db.Pool, sets...); err != nil {
		t.Fatalf("migrated: CheckSchema = %v", err)
	}
	if err := postgres.CheckServerVersion(ctx, db.Pool); err != nil {
		t.Fatal(err)
	}

	// A schema migrated by a release that left the runtime role no SELECT on the history is still
	// read, through the login that ran it.
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, set := range sets {
		if _, err := conn.Exec(ctx, "REVOKE ALL ON "+pgx.Identifier{"pgver", set.Name + "_migrations"}.Sanitize()+" FROM orgplane_pgver"); err != nil {
			t.Fatal(err)
		}
	}
	if err := postgres.CheckSchema(ctx, db.Pool, sets...); err != nil {
		t.Fatalf("history unreadable by the role: CheckSchema = %v", err)
	}
}

// A table dropped after the migrations ran is noticed, though the schema version still matches:
// readiness says which table is missing.
func TestCheckSchemaNoticesADroppedTable(t *testing.T) {
	ctx := context.Background()
	sub, err := fs.Sub(os.DirFS("testdata"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	sets := []postgres.MigrationSet{postgres.TenancyMigrations(), {Name: "pgdrop", FS: sub}}
	db := testkit.NewDB(t, "pgdrop", "orgplane_pgdrop")
	admin := db.Config
	admin.URL = db.URL
	if err := postgres.Migrate(ctx, admin, slog.New(slog.DiscardHandler), sets...); err != nil {
		t.Fatal(err)
	}
	if err := postgres.CheckSchema(ctx, db.Pool, sets...); err != nil {
		t.Fatalf("migrated: %v", err)
	}
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP TABLE pgdrop.notes"); err != nil {
		t.Fatal(err)
	}
	if err := postgres.CheckSchema(ctx, db.Pool, sets...); err == nil || !strings.Contains(err.Error(), "table notes is missing") {
		t.Fatalf("after DROP TABLE: CheckSchema = %v, want table notes is missing", err)
	}
	// Migrating again applies nothing (the table's migration already ran) and must not forget
	// the table: the schema stays NOT_SERVING until someone restores it.
	if err := postgres.Migrate(ctx, admin, slog.New(slog.DiscardHandler), sets...); err != nil {
		t.Fatal(err)
	}
	if err := postgres.CheckSchema(ctx, db.Pool, sets...); err == nil || !strings.Contains(err.Error(), "table notes is missing") {
		t.Fatalf("after a migrate that applied nothing: CheckSchema = %v, want table notes is missing", err)
	}
}
