package pgcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
)

func syncSettings(t *testing.T, dsn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var fsync, syncCommit, fpw string
	err = conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes')").
		Scan(&fsync, &syncCommit, &fpw)
	if err != nil {
		t.Fatal(err)
	}
	return "fsync=" + fsync + " synchronous_commit=" + syncCommit + " full_page_writes=" + fpw
}

// make run's private cluster is durable: a crash must not lose a create the API acknowledged.
// Only a caller that asks for Unsynced (tests) gets the fast settings, and a cluster left
// running unsynced is restarted durable rather than reused.
func TestPrivateClusterIsDurableUnlessUnsyncedIsAsked(t *testing.T) {
	dataDir := t.TempDir()
	const durable = "fsync=on synchronous_commit=on full_page_writes=on"
	srv := ensurePrivate(t, dataDir)
	if got := syncSettings(t, srv.URL); got != durable {
		t.Fatalf("default private cluster runs with %s, want %s", got, durable)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fast, err := pgcluster.Ensure(ctx, pgcluster.Options{DataDir: dataDir, Logf: t.Logf, SkipDefaultPort: true, Unsynced: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := syncSettings(t, fast.URL); !strings.HasPrefix(got, "fsync=off synchronous_commit=off") {
		t.Fatalf("Unsynced cluster runs with %s", got)
	}
	// Left running unsynced, then asked for by make run: restarted durable.
	again := ensurePrivate(t, dataDir)
	if got := syncSettings(t, again.URL); got != durable {
		t.Fatalf("reused cluster runs with %s, want %s", got, durable)
	}
}
