package postgres_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/postgres"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const (
	accountA = "0b6f3d5e-6f5c-4a59-9a57-1f3f0a6d0001"
	accountB = "0b6f3d5e-6f5c-4a59-9a57-1f3f0a6d0002"
)

func notesDB(t *testing.T) *testkit.DB {
	t.Helper()
	sub, err := fs.Sub(os.DirFS("testdata"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return testkit.NewDB(t, "pgtest", "orgplane_pgtest", postgres.TenancyMigrations(), postgres.MigrationSet{Name: "pgtest", FS: sub})
}

func countNotes(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var n int
	err := q.QueryRow(ctx, "SELECT count(*) FROM notes").Scan(&n)
	return n, err
}

// One pooled connection serves every transaction below, so a tenant setting that outlived its
// transaction would show up in the next one.
func TestTenantIsolationOnReusedConnection(t *testing.T) {
	ctx := context.Background()
	db := notesDB(t)
	cfg := db.Config
	cfg.MaxConns = 1
	pool, err := postgres.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	err = postgres.InTenantTx(ctx, pool, accountA, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO notes (account_id, body) VALUES ($1, 'secret of A')", accountA)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	check := func(name string, want int, run func(func(pgx.Tx) error) error) {
		t.Helper()
		var got int
		if err := run(func(tx pgx.Tx) error {
			var err error
			got, err = countNotes(ctx, tx)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != want {
			t.Errorf("%s sees %d notes, want %d", name, got, want)
		}
	}
	inTenant := func(acc string) func(func(pgx.Tx) error) error {
		return func(fn func(pgx.Tx) error) error { return postgres.InTenantTx(ctx, pool, acc, fn) }
	}
	unscoped := func(fn func(pgx.Tx) error) error { return postgres.InTx(ctx, pool, fn) }

	check("account B", 0, inTenant(accountB))
	check("unscoped transaction after B", 0, unscoped)
	check("account A", 1, inTenant(accountA))
	check("unscoped transaction after A", 0, unscoped)
	if n, err := countNotes(ctx, pool); err != nil || n != 0 {
		t.Errorf("plain pooled query after A sees %d notes (err %v), want 0", n, err)
	}

	// B cannot write into A's tenancy either.
	err = postgres.InTenantTx(ctx, pool, accountB, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO notes (account_id, body) VALUES ($1, 'forged')", accountA)
		return err
	})
	if err == nil {
		t.Error("account B inserted a row for account A")
	}
}

func TestRuntimeRoleOwnsNothing(t *testing.T) {
	ctx := context.Background()
	db := notesDB(t)
	var owner string
	if err := db.Pool.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE schemaname = 'pgtest' AND tablename = 'notes'").Scan(&owner); err != nil {
		t.Fatal(err)
	}
	var current string
	if err := db.Pool.QueryRow(ctx, "SELECT current_user").Scan(&current); err != nil {
		t.Fatal(err)
	}
	if current != "orgplane_pgtest" || owner == current {
		t.Fatalf("queries run as %q on a table owned by %q; want the runtime role, not the owner", current, owner)
	}
	var bypass bool
	if err := db.Pool.QueryRow(ctx, "SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&bypass); err != nil {
		t.Fatal(err)
	}
	if bypass {
		t.Fatal("runtime role bypasses row-level security")
	}
}

func TestInTenantTxRefusesEmptyAccount(t *testing.T) {
	db := notesDB(t)
	err := postgres.InTenantTx(context.Background(), db.Pool, "", func(pgx.Tx) error { return nil })
	if !errors.Is(err, postgres.ErrNoTenant) {
		t.Fatalf("got %v, want ErrNoTenant", err)
	}
}

func TestTranslate(t *testing.T) {
	ctx := context.Background()
	db := notesDB(t)
	insert := func(pool *pgxpool.Pool) error {
		return postgres.InTenantTx(ctx, pool, accountA, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO notes (account_id, body) VALUES ($1, 'dup')", accountA)
			return postgres.Translate(err)
		})
	}
	if err := insert(db.Pool); err != nil {
		t.Fatal(err)
	}
	err := insert(db.Pool)
	if !errors.Is(err, postgres.ErrConflict) || apperr.KindOf(err) != apperr.KindConflict {
		t.Fatalf("duplicate insert: got %v, want a conflict", err)
	}
	if c := postgres.ConstraintName(err); c != "notes_account_id_body_key" {
		t.Errorf("constraint = %q", c)
	}
	err = postgres.InTenantTx(ctx, db.Pool, accountA, func(tx pgx.Tx) error {
		var id int64
		return postgres.Translate(tx.QueryRow(ctx, "SELECT id FROM notes WHERE body = 'missing'").Scan(&id))
	})
	if !errors.Is(err, postgres.ErrNotFound) || apperr.KindOf(err) != apperr.KindNotFound {
		t.Fatalf("missing row: got %v, want not found", err)
	}
}
