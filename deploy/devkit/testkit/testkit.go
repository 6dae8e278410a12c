// Package testkit gives tests the real parts they need: a fresh, migrated Postgres database per
// test (copied from a template migrated once per schema version) and an embedded NATS JetStream
// server per test.
package testkit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// EnvDatabaseURL names the superuser connection string tests create their databases with.
// `make test` sets it after finding or starting Postgres the way `make run` does; Main does the
// same when a test binary runs on its own.
const EnvDatabaseURL = "DATABASE_URL"

// Main runs a package's tests with Postgres available: $DATABASE_URL, else a server on
// 127.0.0.1:5432, else a private cluster started for this test binary and stopped after it.
// Call it from TestMain in every package that uses NewDB, or hosts natsserver cluster nodes in
// processes of their own.
func Main(m *testing.M) {
	// This binary run again as a node of a natsserver cluster with Processes: that node, only.
	if natsserver.RunNodeFromEnv() {
		return
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv(EnvDatabaseURL) == "" {
		dir, err := os.MkdirTemp("", "orgplane-test-pg-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "testkit:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		// Test clusters are thrown away, so they skip fsync for speed (make run's cluster is durable).
		srv, err := pgcluster.Ensure(ctx, pgcluster.Options{DataDir: dir, AllowInstall: true, Unsynced: true})
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "testkit: postgres:", err)
			return 1
		}
		defer srv.Stop() //nolint:errcheck // the temp dir goes anyway
		os.Setenv(EnvDatabaseURL, srv.URL)
	}
	return m.Run()
}

// DB is one test's private database.
type DB struct {
	// URL connects to the database as the superuser (for fault injection and inspection).
	URL string
	// Config is what a service would open: the database, its schema and its runtime role.
	Config postgres.Config
	// Pool runs as the runtime role, under row-level security, like the service does.
	Pool *pgxpool.Pool
}

// NewDB creates a database for this test holding schema migrated with sets, and drops it when
// the test ends. role is the runtime role (empty: connect as the superuser).
func NewDB(t testing.TB, schema, role string, sets ...postgres.MigrationSet) *DB {
	t.Helper()
	admin := os.Getenv(EnvDatabaseURL)
	if admin == "" {
		t.Fatalf("testkit: %s is not set; call testkit.Main from TestMain", EnvDatabaseURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tmpl, err := ensureTemplate(ctx, admin, schema, role, sets)
	if err != nil {
		t.Fatalf("testkit: template: %v", err)
	}
	name := "t_" + strings.ToLower(randomHex(8))
	if err := adminExec(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		t.Fatalf("testkit: create database: %v", err)
	}
	dbURL := withDatabase(admin, name)
	db := &DB{URL: dbURL, Config: postgres.Config{URL: dbURL, Schema: schema, Role: role}}
	db.Pool, err = postgres.Open(ctx, db.Config)
	if err != nil {
		t.Fatalf("testkit: open pool: %v", err)
	}
	t.Cleanup(func() {
		db.Pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testkit: drop database %s: %v", name, err)
		}
	})
	return db
}

// ensureTemplate migrates a template database once per distinct schema content; concurrent test
// binaries wait on an advisory lock instead of racing.
func ensureTemplate(ctx context.Context, admin, schema, role string, sets []postgres.MigrationSet) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", schema, role)
	for _, set := range sets {
		fmt.Fprintf(h, "%s\x00", set.Name)
		err := fs.WalkDir(set.FS, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(set.FS, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	tmpl := "tmpl_" + schema + "_" + hex.EncodeToString(h.Sum(nil))[:16]

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", tmpl); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", tmpl) //nolint:errcheck // closing the connection unlocks too

	// is_template doubles as the "fully migrated" mark: a run that died half-way leaves a
	// database without it, which is rebuilt.
	var ready *bool
	err = conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", tmpl).Scan(&ready)
	if err != nil && err != pgx.ErrNoRows {
		return "", err
	}
	if ready != nil && *ready {
		return tmpl, nil
	}
	ident := pgx.Identifier{tmpl}.Sanitize()
	if ready != nil {
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)"); err != nil {
			return "", err
		}
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", err
	}
	cfg := postgres.Config{URL: withDatabase(admin, tmpl), Schema: schema, Role: role}
	quiet := slog.New(slog.DiscardHandler)
	if err := postgres.Migrate(ctx, cfg, quiet, sets...); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH is_template true"); err != nil {
		return "", err
	}
	return tmpl, nil
}

func adminExec(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func withDatabase(dsn, db string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		// keyword/value form
		return dsn + " dbname=" + db
	}
	u.Path = "/" + db
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Keyring returns a fresh identity keyring for a test.
func Keyring(t testing.TB) *identity.Keyring {
	t.Helper()
	kr, err := identity.ParseKeyring("test:" + base64.StdEncoding.EncodeToString([]byte(randomHex(32))))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TempDir is t.TempDir under a short path (unix socket paths are limited to 108 bytes).
func TempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "op-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Clean(d)
}

// EmptyDB creates an empty database for this test, dropped when it ends, and returns its
// superuser connection string; for tests that migrate themselves (the whole suite).
func EmptyDB(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvDatabaseURL)
	if admin == "" {
		t.Fatalf("testkit: %s is not set; call testkit.Main from TestMain", EnvDatabaseURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "t_" + randomHex(8)
	if err := adminExec(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testkit: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testkit: drop database %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}
