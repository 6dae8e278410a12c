package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// The scheduler starts a refresh holding the integration's schedule (its directory row) in one
// transaction while a second one, on another connection of the same goroutine, takes the
// integration's row. A change that took the integration's row first and then waited for the
// schedule (a connection test recording the state, new credentials lifting a pause) waited for
// ever: Postgres sees no cycle between one process's two connections, so it broke none, and the
// replica stalled until the change's caller gave up (found by deploy/devstack/replicas: 504s and
// "database unreachable" while the pool was held). Every such change now takes the schedule
// first, so the scheduler's second transaction always gets the integration.
func TestChangesTakeTheScheduleBeforeTheIntegration(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		change func(w *world, svc *app.Service, id string) error
	}{
		{"a connection test records the new state", func(w *world, svc *app.Service, id string) error {
			_, err := svc.TestIntegration(w.ctx(), w.account, id)
			return err
		}},
		{"a new endpoint makes the integration untested", func(w *world, svc *app.Service, id string) error {
			_, err := svc.UpdateIntegration(w.ctx(), w.account, id, app.IntegrationInput{Endpoint: w.sims.ITGlue.URL}, []string{"endpoint"})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			svc := w.service(false)
			integ := w.connect(svc, "itglue", domain.BudgetPolicy{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			// The scheduler's first transaction: the schedule, locked.
			sched := begin(t, ctx, w.db.URL)
			if _, err := sched.Exec(ctx, `SELECT 1 FROM integration_sync.integration_directory WHERE integration_id = $1 FOR UPDATE`, integ.ID); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.change(w, svc, integ.ID) }()
			waitForLockWaiter(t, ctx, w.db.URL, done)

			// Its second transaction: the integration, as startRefresh takes it.
			start := begin(t, ctx, w.db.URL)
			if _, err := start.Exec(ctx, `SET LOCAL lock_timeout = '3s'`); err != nil {
				t.Fatal(err)
			}
			if _, err := start.Exec(ctx, `SELECT 1 FROM integration_sync.integrations WHERE id = $1 FOR UPDATE`, integ.ID); err != nil {
				t.Fatalf("the scheduler, holding the schedule, cannot take the integration (the change holds it and waits for the schedule): %v", err)
			}
			if err := start.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := sched.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("the change, once the schedule was free: %v", err)
				}
			case <-ctx.Done():
				t.Fatal("the change did not finish once the schedule was free")
			}
		})
	}
}

// begin opens a transaction on its own connection as the superuser, rolled back if left open.
func begin(t *testing.T, ctx context.Context, url string) pgx.Tx {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

// waitForLockWaiter returns once a session of the database waits for a row lock (the change
// queued behind the schedule), or fails if the change ends first without ever waiting.
func waitForLockWaiter(t *testing.T, ctx context.Context, url string, done chan error) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var waiting int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the change ended (%v) without waiting for the schedule the scheduler holds", err)
		case <-ctx.Done():
			t.Fatal("the change never waited for a lock")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
