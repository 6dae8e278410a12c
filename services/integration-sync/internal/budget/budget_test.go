package budget_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/integration-sync/internal/budget"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// replicas returns n Budgets over the same fresh database, each with its own pool, as n
// integration-sync processes would have, and the database.
func replicas(t *testing.T, n int) ([]*budget.Budgets, *testkit.DB) {
	t.Helper()
	spec := platform.Spec{Name: "integration-sync", Migrations: []postgres.MigrationSet{store.Migrations()}}
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	out := []*budget.Budgets{budget.New(db.Pool)}
	for range n - 1 {
		pool, err := postgres.Open(context.Background(), db.Config)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		out = append(out, budget.New(pool))
	}
	for _, b := range out {
		t.Cleanup(b.Close)
	}
	return out, db
}

func configure(t *testing.T, b *budget.Budgets, p connector.Budget) string {
	t.Helper()
	id := uuid.NewString()
	if err := b.Configure(context.Background(), id, p); err != nil {
		t.Fatal(err)
	}
	return id
}

// Two replicas hammering one integration with 20 requests per 2 s never put more than 20 calls
// in any 2 s, and get through more than two windows' worth once the window moves.
func TestTwoReplicasShareTheWindow(t *testing.T) {
	t.Parallel()
	rs, db := replicas(t, 2)
	const total = 45 // needs three windows: 20, 20, 5
	id := configure(t, rs[0], connector.Budget{Requests: 20, Window: 2 * time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		mu     sync.Mutex
		times  []time.Time
		issued atomic.Int32
		wg     sync.WaitGroup
	)
	start := time.Now()
	for g := range 8 {
		b := rs[g%2]
		wg.Go(func() {
			for issued.Add(1) <= total {
				release, err := b.Acquire(ctx, id)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
				release()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	if len(times) != total {
		t.Fatalf("%d calls went through, want %d", len(times), total)
	}
	if m := maxInWindow(times, 2*time.Second); m > 20 {
		for _, x := range times {
			t.Logf("%s", x.Sub(start))
		}
		t.Fatalf("%d calls inside one 2 s window, budget is 20", m)
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Fatalf("45 calls at 20 per 2 s took %s, must take at least 4 s", took)
	}
	// The first window's buckets were cleaned up by the later spends.
	admin, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var stale int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM integration_sync.rate_budget_spend WHERE bucket < $1`, start.Add(time.Second)).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Fatalf("%d buckets of the first window are still stored", stale)
	}
}

// Concurrency 3 across two replicas: never more than 3 in flight, and Usage sees them.
func TestConcurrencyAcrossReplicas(t *testing.T) {
	t.Parallel()
	rs, _ := replicas(t, 2)
	id := configure(t, rs[0], connector.Budget{Requests: 10000, Window: time.Hour, Concurrency: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var inFlight, most, seen atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		b := rs[g%2]
		wg.Go(func() {
			for range 6 {
				release, err := b.Acquire(ctx, id)
				if err != nil {
					t.Error(err)
					return
				}
				n := inFlight.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				if n == 3 {
					if u, err := rs[0].Usage(ctx, id); err == nil && u.InFlight == 3 {
						seen.Store(1)
					}
				}
				time.Sleep(20 * time.Millisecond)
				inFlight.Add(-1)
				release()
			}
		})
	}
	wg.Wait()
	if got := most.Load(); got != 3 {
		t.Fatalf("at most %d calls were in flight at once, want exactly the limit 3", got)
	}
	if seen.Load() != 1 {
		t.Fatal("Usage never reported 3 in flight while 3 were")
	}
	u, err := rs[1].Usage(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.InFlight != 0 || u.Used != 48 || u.Remaining != 10000-48 {
		t.Fatalf("after the calls: %+v, want 0 in flight, 48 used", u)
	}
}

// A block set through one replica holds the other's calls until it passes, and never moves back.
func TestBlockHoldsEveryReplica(t *testing.T) {
	t.Parallel()
	rs, _ := replicas(t, 2)
	ctx := context.Background()
	id := configure(t, rs[0], connector.Budget{Requests: 100, Window: time.Minute})
	until := time.Now().Add(1500 * time.Millisecond)
	if err := rs[0].Block(ctx, id, until); err != nil {
		t.Fatal(err)
	}
	if err := rs[0].Block(ctx, id, until.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	u, err := rs[1].Usage(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !u.BlockedUntil.Equal(until.Truncate(time.Microsecond)) {
		t.Fatalf("BlockedUntil = %s, want %s (an earlier block must not shorten it)", u.BlockedUntil, until)
	}
	release, err := rs[1].Acquire(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if now := time.Now(); now.Before(until) {
		t.Fatalf("a call went through at %s, %s before the block ends", now, until.Sub(now))
	}
	if u, _ := rs[1].Usage(ctx, id); !u.BlockedUntil.IsZero() {
		t.Fatalf("a past block still shows: %s", u.BlockedUntil)
	}
}

// A process that dies holding a slot (its connection ends) frees it for the others.
func TestKilledHoldersSlotFrees(t *testing.T) {
	t.Parallel()
	rs, db := replicas(t, 2)
	ctx := context.Background()
	id := configure(t, rs[0], connector.Budget{Requests: 100, Window: time.Minute, Concurrency: 1})
	if _, err := rs[0].Acquire(ctx, id); err != nil { // held, never released: the process "dies"
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := rs[1].Acquire(short, id)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second holder of a concurrency-1 budget: %v, want to wait until its context ends", err)
	}

	admin, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d lock holders, want 1", killed)
	}
	waited, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	release, err := rs[1].Acquire(waited, id)
	if err != nil {
		t.Fatalf("slot of a dead holder not freed: %v", err)
	}
	release()
}

func TestAuthFailuresStop(t *testing.T) {
	t.Parallel()
	rs, _ := replicas(t, 1)
	b, ctx := rs[0], context.Background()
	id := configure(t, b, connector.Budget{Requests: 100, Window: time.Minute})
	for want := 1; want <= 3; want++ {
		if n, err := b.AuthFailed(ctx, id); err != nil || n != want {
			t.Fatalf("AuthFailed = %d, %v; want %d", n, err, want)
		}
	}
	if _, _, err := b.AcquireUnlessStopped(ctx, id, 3); !errors.Is(err, budget.ErrAuthStopped) {
		t.Fatalf("after 3 refusals: %v, want ErrAuthStopped", err)
	}
	if u, _ := b.Usage(ctx, id); u.Used != 0 || u.AuthFailures != 3 {
		t.Fatalf("a refused acquire spent, or failures lost: %+v", u)
	}
	if err := b.AuthSucceeded(ctx, id); err != nil {
		t.Fatal(err)
	}
	release, failures, err := b.AcquireUnlessStopped(ctx, id, 3)
	if err != nil || failures != 0 {
		t.Fatalf("after AuthSucceeded: %d failures, %v", failures, err)
	}
	release()
}

func TestUsageConfigureAndDelete(t *testing.T) {
	t.Parallel()
	rs, _ := replicas(t, 1)
	b, ctx := rs[0], context.Background()
	if err := b.Configure(ctx, uuid.NewString(), connector.Budget{Requests: 0, Window: time.Minute}); err == nil {
		t.Fatal("Configure accepted 0 requests")
	}
	if _, err := b.Acquire(ctx, uuid.NewString()); !errors.Is(err, budget.ErrNotConfigured) {
		t.Fatalf("Acquire on an unknown integration: %v, want ErrNotConfigured", err)
	}
	id := configure(t, b, connector.Budget{Requests: 5, Window: time.Minute})
	before := time.Now()
	for range 3 {
		release, err := b.Acquire(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		release()
		release() // twice is harmless
	}
	u, err := b.Usage(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Limit != 5 || u.Used != 3 || u.Remaining != 2 || u.Window != time.Minute {
		t.Fatalf("Usage = %+v, want 3 of 5 per minute used", u)
	}
	if lo, hi := before.Add(time.Minute-time.Second), time.Now().Add(time.Minute+3*time.Second); u.ResetsAt.Before(lo) || u.ResetsAt.After(hi) {
		t.Fatalf("ResetsAt = %s, want about a minute from now", u.ResetsAt)
	}
	// A new policy keeps what was spent.
	if err := b.Configure(ctx, id, connector.Budget{Requests: 3, Window: time.Minute}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := b.Acquire(short, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a budget lowered to what was spent still let a call through: %v", err)
	}
	if err := b.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Usage(ctx, id); !errors.Is(err, budget.ErrNotConfigured) {
		t.Fatalf("Usage after Delete: %v, want ErrNotConfigured", err)
	}
}
