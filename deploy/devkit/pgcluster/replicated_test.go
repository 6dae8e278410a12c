package pgcluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
)

// startReplicated starts a pair for the test and stops it when the test ends, skipping only on
// machines without PostgreSQL binaries.
func startReplicated(t *testing.T) *pgcluster.Replicated {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := pgcluster.StartReplicated(ctx, pgcluster.ReplicatedOptions{Dir: t.TempDir(), Logf: t.Logf})
	if err != nil && strings.Contains(err.Error(), "install PostgreSQL server binaries") {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return r
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func scalar[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// The pair is what the failover proof relies on: durable settings, the standby streaming and
// synchronous, every acknowledged commit flushed on the standby before the client hears of it,
// a crash of the primary, and a promoted standby that takes writes and is what the multi-host
// URL reaches.
func TestReplicatedPairFailsOverWithoutLosingAcknowledgedCommits(t *testing.T) {
	ctx := context.Background()
	r := startReplicated(t)

	primary := connect(t, r.Primary.URL)
	for _, s := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		if v := scalar[string](t, primary, "SELECT current_setting($1)", s); v != "on" {
			t.Errorf("primary %s = %s, want on", s, v)
		}
	}
	if v := scalar[string](t, primary, "SELECT current_setting('synchronous_standby_names')"); v != r.StandbyName {
		t.Errorf("synchronous_standby_names = %q, want %q", v, r.StandbyName)
	}
	if v := scalar[string](t, primary, "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1", r.StandbyName); v != "sync" {
		t.Errorf("sync_state = %q", v)
	}

	// The multi-host URL lands on the primary even when it names the standby first.
	standbyFirst := pgcluster.MultiHostURL("postgres", passwordOf(t, r.Primary.URL), "postgres", r.Standby.Addr(), r.Primary.Addr())
	if port := scalar[int](t, connect(t, standbyFirst), "SELECT inet_server_port()"); port != r.Primary.Port {
		t.Fatalf("multi-host URL, standby first, reached port %d; want the primary's %d", port, r.Primary.Port)
	}

	if _, err := primary.Exec(ctx, "CREATE TABLE acks (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	// A commit the primary acknowledged has been flushed to the standby's disk: by the time the
	// client hears of the last insert, the standby has received WAL past where it began.
	const n = 50
	var beforeLast string
	for i := range n {
		if i == n-1 {
			beforeLast = scalar[string](t, primary, "SELECT pg_current_wal_insert_lsn()::text")
		}
		if _, err := primary.Exec(ctx, "INSERT INTO acks VALUES ($1)", i); err != nil {
			t.Fatal(err)
		}
	}
	standby := connect(t, r.Standby.URL)
	if behind := scalar[bool](t, standby, "SELECT pg_last_wal_receive_lsn() <= $1::pg_lsn", beforeLast); behind {
		t.Fatalf("the standby had not received the last commit (WAL past %s) when the primary acknowledged it", beforeLast)
	}
	// And the standby refuses writes before its promotion.
	_, err := standby.Exec(ctx, "INSERT INTO acks VALUES (-1)")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" {
		t.Fatalf("write on the standby: %v, want read_only_sql_transaction (25006)", err)
	}

	if err := r.KillPrimary(ctx); err != nil {
		t.Fatal(err)
	}
	if err := primary.Ping(ctx); err == nil {
		t.Fatal("the killed primary still answers")
	}
	if err := r.PromoteStandby(ctx); err != nil {
		t.Fatal(err)
	}
	after := connect(t, r.URL())
	if port := scalar[int](t, after, "SELECT inet_server_port()"); port != r.Standby.Port {
		t.Fatalf("multi-host URL reached port %d after the failover; want the promoted standby's %d", port, r.Standby.Port)
	}
	if got := scalar[int](t, after, "SELECT count(*) FROM acks"); got != n {
		t.Fatalf("the promoted standby has %d of the %d acknowledged rows", got, n)
	}
	if _, err := after.Exec(ctx, "INSERT INTO acks VALUES ($1)", n); err != nil {
		t.Fatalf("write on the promoted standby: %v", err)
	}
	t.Logf("acknowledged: %d, found after failover: %d, lost: 0", n, n)
}

func passwordOf(t *testing.T, url string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Password
}
