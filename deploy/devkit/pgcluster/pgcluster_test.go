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
	if !strings.HasPrefix(srv.URL, "postgres://postgres:"+password(t, dataDir)+"@127.0.0.1:") {
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

// password reads the private cluster's password file, which only its owner may read.
func password(t *testing.T, dataDir string) string {
	t.Helper()
	path := filepath.Join(dataDir, "password")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no password file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// refused requires that dsn does not get in, for want of the right password.
func refused(t *testing.T, dsn, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		conn.Close(ctx)
		t.Fatalf("%s: connected", what)
	}
	if !strings.Contains(err.Error(), "password") {
		t.Fatalf("%s: %v, want a password failure", what, err)
	}
}

// Every way in but the generated password is closed: no password, a wrong one, another
// user, the unix socket.
func TestPrivateClusterAdmitsOnlyItsPassword(t *testing.T) {
	dataDir := t.TempDir()
	srv := ensurePrivate(t, dataDir)
	pw := password(t, dataDir)
	if len(pw) != 64 {
		t.Fatalf("password %q is not 256 random bits in hex", pw)
	}
	selectOne(t, srv.URL)
	addr := hostPort(t, srv.URL)
	refused(t, "postgres://postgres@"+addr+"/postgres?sslmode=disable", "no password")
	refused(t, "postgres://postgres:"+strings.Repeat("0", 64)+"@"+addr+"/postgres?sslmode=disable", "a wrong password")
	refused(t, "postgres://template1@"+addr+"/postgres?sslmode=disable", "another user")
	if sock := filepath.Join(dataDir, "sock"); len(sock) < 90 {
		port := addr[strings.LastIndex(addr, ":")+1:]
		refused(t, "host="+sock+" port="+port+" user=postgres dbname=postgres", "the unix socket")
	}
	hba, err := os.ReadFile(filepath.Join(dataDir, "data", "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(hba), "\n") {
		if line, _, _ = strings.Cut(line, "#"); strings.Contains(line, "trust") {
			t.Errorf("pg_hba.conf trusts: %q", line)
		}
	}
	// The password survives a restart: the same cluster, the same password.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	again := ensurePrivate(t, dataDir)
	if password(t, dataDir) != pw {
		t.Fatal("the password changed across a restart")
	}
	selectOne(t, again.URL)
}

// A cluster made before passwords (trust, no password file), still running, is replaced by one
// that takes a password.
func TestPrivateClusterThatTrustedIsReplaced(t *testing.T) {
	dataDir := t.TempDir()
	srv := ensurePrivate(t, dataDir)
	hbaPath := filepath.Join(dataDir, "data", "pg_hba.conf")
	fi, err := os.Stat(hbaPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hbaPath, []byte("local all all trust\nhost all all 127.0.0.1/32 trust\n"), fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	oldAddr := hostPort(t, srv.URL)
	selectOne(t, "postgres://postgres@"+oldAddr+"/postgres?sslmode=disable") // the old, trusting kind
	if err := os.Remove(filepath.Join(dataDir, "password")); err != nil {
		t.Fatal(err)
	}

	fresh := ensurePrivate(t, dataDir)
	selectOne(t, fresh.URL)
	if !strings.Contains(fresh.URL, ":"+password(t, dataDir)+"@") {
		t.Fatalf("URL %q does not carry the new password", fresh.URL)
	}
	refused(t, "postgres://postgres@"+hostPort(t, fresh.URL)+"/postgres?sslmode=disable", "no password, after the replacement")
	if hostPort(t, fresh.URL) != oldAddr {
		assertClosed(t, oldAddr)
	}
}
