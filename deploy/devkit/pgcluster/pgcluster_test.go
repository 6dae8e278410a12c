package pgcluster_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
)

// ensurePrivate starts (or reuses) a private cluster in dataDir, skipping the
// test only on machines that have no PostgreSQL binaries at all.
func ensurePrivate(t *testing.T, dataDir string) *pgcluster.Server {
	t.Helper()
	t.Setenv("DATABASE_URL", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := pgcluster.Ensure(ctx, pgcluster.Options{
		DataDir:         dataDir,
		Logf:            t.Logf,
		SkipDefaultPort: true,
	})
	if err != nil && strings.Contains(err.Error(), "install PostgreSQL server binaries") {
		t.Skipf("no PostgreSQL binaries and install not allowed: %v", err)
	}
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("cleanup Stop: %v", err)
		}
	})
	if srv.Source != "private" {
		t.Fatalf("Source = %q, want private", srv.Source)
	}
	return srv
}

func selectOne(t *testing.T, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func hostPort(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func assertClosed(t *testing.T, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", addr)
	}
}

func TestPrivateClusterLifecycle(t *testing.T) {
	dataDir := t.TempDir()

	srv := ensurePrivate(t, dataDir)
	if !strings.HasPrefix(srv.URL, "postgres://postgres@127.0.0.1:") {
		t.Fatalf("URL = %q", srv.URL)
	}
	selectOne(t, srv.URL)
	addr := hostPort(t, srv.URL)

	pgVersion := filepath.Join(dataDir, "data", "PG_VERSION")
	before, err := os.Stat(pgVersion)
	if err != nil {
		t.Fatalf("cluster not initialized under DataDir: %v", err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	assertClosed(t, addr)

	// A second run must reuse the initialized cluster rather than initdb again.
	srv2 := ensurePrivate(t, dataDir)
	selectOne(t, srv2.URL)
	after, err := os.Stat(pgVersion)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("PG_VERSION rewritten (%v -> %v): initdb ran twice", before.ModTime(), after.ModTime())
	}
	if err := srv2.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertClosed(t, hostPort(t, srv2.URL))
}

func TestPrivateClusterReusesRunningServer(t *testing.T) {
	dataDir := t.TempDir()
	srv := ensurePrivate(t, dataDir)
	srv2 := ensurePrivate(t, dataDir)
	if srv2.URL != srv.URL {
		t.Fatalf("second Ensure started another server: %s vs %s", srv2.URL, srv.URL)
	}
	selectOne(t, srv2.URL)

	// DATABASE_URL takes precedence over everything, including DataDir.
	t.Setenv("DATABASE_URL", srv.URL)
	env, err := pgcluster.Ensure(context.Background(), pgcluster.Options{DataDir: t.TempDir(), SkipDefaultPort: true})
	if err != nil {
		t.Fatalf("Ensure with DATABASE_URL: %v", err)
	}
	if env.Source != "env" || env.URL != srv.URL {
		t.Fatalf("got %+v, want env source with %s", env, srv.URL)
	}
	if err := env.Stop(); err != nil {
		t.Fatalf("Stop of env server: %v", err)
	}
	selectOne(t, srv.URL) // Stop on an env server must not touch it.
}

func TestPrivateClusterSurvivesKill9(t *testing.T) {
	dataDir := t.TempDir()
	srv := ensurePrivate(t, dataDir)

	raw, err := os.ReadFile(filepath.Join(dataDir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatalf("kill -9 postmaster: %v", err)
	}
	// Wait until the dead postmaster stops answering, so the next Ensure
	// really has to deal with the stale postmaster.pid.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", hostPort(t, srv.URL), 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("postmaster still answering after SIGKILL")
		}
		time.Sleep(50 * time.Millisecond)
	}

	srv2 := ensurePrivate(t, dataDir)
	selectOne(t, srv2.URL)
}

func TestDatabaseURLUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	t.Setenv("DATABASE_URL", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port))

	start := time.Now()
	srv, err := pgcluster.Ensure(context.Background(), pgcluster.Options{DataDir: t.TempDir()})
	if err == nil {
		t.Fatalf("Ensure succeeded with %+v, want error", srv)
	}
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Fatalf("Ensure took %v to fail", elapsed)
	}
	if !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("error does not mention DATABASE_URL: %v", err)
	}
}

func TestDefaultPortIsNotDisturbed(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := pgcluster.Ensure(ctx, pgcluster.Options{DataDir: t.TempDir(), Logf: t.Logf})
	if err != nil && strings.Contains(err.Error(), "install PostgreSQL server binaries") {
		t.Skipf("nothing on 5432 and no binaries: %v", err)
	}
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	defer srv.Stop()
	switch srv.Source {
	case "default-port":
		if srv.URL != "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable" {
			t.Fatalf("URL = %q", srv.URL)
		}
		if err := srv.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		selectOne(t, srv.URL) // Stop must leave a server it did not start alone.
	case "private":
		t.Logf("no trust-auth superuser on 5432; fell back to a private cluster")
		selectOne(t, srv.URL)
	default:
		t.Fatalf("Source = %q", srv.Source)
	}
}
