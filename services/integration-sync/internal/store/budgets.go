package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/pkg/postgres"
)

// ErrNoBudget: the integration has no rate budget (Configure was never called, or it was deleted).
var ErrNoBudget = postgres.ErrNotFound.Wrap(errors.New("integration has no rate budget"))

// BudgetRow is an integration's rate budget policy and state.
type BudgetRow struct {
	Requests     int
	Window       time.Duration
	Concurrency  int
	BlockedUntil time.Time // zero: never blocked
	AuthFailures int
}

// SpendBucket is how many requests were spent in the bucket starting at Bucket.
type SpendBucket struct {
	Bucket time.Time
	Used   int
}

// PutBudget sets the integration's policy, keeping its state (spends, block, auth failures).
func (t *Tx) PutBudget(ctx context.Context, integrationID string, requests int, window time.Duration, concurrency int) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO rate_budgets (integration_id, requests, window_ms, concurrency)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (integration_id) DO UPDATE SET requests = $2, window_ms = $3, concurrency = $4, updated_at = now()`,
		integrationID, requests, window.Milliseconds(), concurrency)
	if err != nil {
		return fmt.Errorf("put rate budget: %w", postgres.Translate(err))
	}
	return nil
}

// LockBudget reads the integration's budget and holds its row until the transaction ends, so
// every replica's spends on it are serialized.
func (t *Tx) LockBudget(ctx context.Context, integrationID string) (BudgetRow, error) {
	return t.budget(ctx, integrationID, " FOR UPDATE")
}

// Clock is the database's clock now (not the transaction's start): the one clock every replica
// agrees on.
func (t *Tx) Clock(ctx context.Context) (time.Time, error) {
	var now time.Time
	if err := t.tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
		return now, fmt.Errorf("read database clock: %w", postgres.Translate(err))
	}
	return now, nil
}

// Budget reads the integration's budget without locking it.
func (t *Tx) Budget(ctx context.Context, integrationID string) (BudgetRow, error) {
	return t.budget(ctx, integrationID, "")
}

func (t *Tx) budget(ctx context.Context, integrationID, lock string) (BudgetRow, error) {
	var (
		b       BudgetRow
		ms      int64
		blocked *time.Time
	)
	err := t.tx.QueryRow(ctx, `SELECT requests, window_ms, concurrency, blocked_until, auth_failures
		FROM rate_budgets WHERE integration_id = $1`+lock, integrationID).
		Scan(&b.Requests, &ms, &b.Concurrency, &blocked, &b.AuthFailures)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrNoBudget
	}
	if err != nil {
		return b, fmt.Errorf("read rate budget: %w", postgres.Translate(err))
	}
	b.Window = time.Duration(ms) * time.Millisecond
	if blocked != nil {
		b.BlockedUntil = *blocked
	}
	return b, nil
}

// SpendSince returns the integration's spend buckets starting after since, oldest first.
func (t *Tx) SpendSince(ctx context.Context, integrationID string, since time.Time) ([]SpendBucket, error) {
	rows, err := t.tx.Query(ctx, `SELECT bucket, used FROM rate_budget_spend
		WHERE integration_id = $1 AND bucket > $2 ORDER BY bucket`, integrationID, since)
	if err != nil {
		return nil, fmt.Errorf("read rate budget spend: %w", postgres.Translate(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SpendBucket, error) {
		var s SpendBucket
		err := r.Scan(&s.Bucket, &s.Used)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("read rate budget spend: %w", postgres.Translate(err))
	}
	return out, nil
}

// Spend counts one request in bucket.
func (t *Tx) Spend(ctx context.Context, integrationID string, bucket time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO rate_budget_spend (integration_id, bucket, used) VALUES ($1, $2, 1)
		ON CONFLICT (integration_id, bucket) DO UPDATE SET used = rate_budget_spend.used + 1`, integrationID, bucket)
	if err != nil {
		return fmt.Errorf("spend rate budget: %w", postgres.Translate(err))
	}
	return nil
}

// ForgetSpend deletes the integration's buckets starting at or before before (no longer counted).
func (t *Tx) ForgetSpend(ctx context.Context, integrationID string, before time.Time) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM rate_budget_spend WHERE integration_id = $1 AND bucket <= $2`, integrationID, before)
	if err != nil {
		return fmt.Errorf("forget rate budget spend: %w", postgres.Translate(err))
	}
	return nil
}

// BlockBudget holds every call on the integration until until; a block never moves backwards.
func (t *Tx) BlockBudget(ctx context.Context, integrationID string, until time.Time) (time.Time, error) {
	return t.block(ctx, integrationID, `$2::timestamptz`, until)
}

// BlockBudgetFor holds every call on the integration for d from now by the database's clock
// (a Retry-After in seconds is relative, so no replica's clock skew may shorten it).
func (t *Tx) BlockBudgetFor(ctx context.Context, integrationID string, d time.Duration) (time.Time, error) {
	return t.block(ctx, integrationID, `clock_timestamp() + $2::bigint * interval '1 microsecond'`, d.Microseconds())
}

func (t *Tx) block(ctx context.Context, integrationID, until string, arg any) (time.Time, error) {
	var got time.Time
	err := t.tx.QueryRow(ctx, `UPDATE rate_budgets SET blocked_until = greatest(blocked_until, `+until+`)
		WHERE integration_id = $1 RETURNING blocked_until`, integrationID, arg).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return got, ErrNoBudget
	}
	if err != nil {
		return got, fmt.Errorf("block rate budget: %w", postgres.Translate(err))
	}
	return got, nil
}

// AddAuthFailure counts a refused credential and returns the consecutive failures so far.
func (t *Tx) AddAuthFailure(ctx context.Context, integrationID string) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `UPDATE rate_budgets SET auth_failures = auth_failures + 1
		WHERE integration_id = $1 RETURNING auth_failures`, integrationID).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNoBudget
	}
	if err != nil {
		return 0, fmt.Errorf("count auth failure: %w", postgres.Translate(err))
	}
	return n, nil
}

// ResetAuthFailures clears the consecutive auth failures.
func (t *Tx) ResetAuthFailures(ctx context.Context, integrationID string) error {
	_, err := t.tx.Exec(ctx, `UPDATE rate_budgets SET auth_failures = 0
		WHERE integration_id = $1 AND auth_failures <> 0`, integrationID)
	if err != nil {
		return fmt.Errorf("reset auth failures: %w", postgres.Translate(err))
	}
	return nil
}

// DeleteBudget removes the integration's budget and spends.
func (t *Tx) DeleteBudget(ctx context.Context, integrationID string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM rate_budgets WHERE integration_id = $1`, integrationID); err != nil {
		return fmt.Errorf("delete rate budget: %w", postgres.Translate(err))
	}
	return nil
}

// SlotLocks holds the concurrency slots of rate budgets as session-level advisory locks
// pg_try_advisory_lock(key, slot) on one connection of their own, opened with the pool's settings.
//
// A session lock lives as long as the connection, not a transaction, so a slot is held for the
// whole vendor call without a transaction open, and a process that dies (or loses its
// connection) frees its slots with it: Postgres drops a session's locks when it ends. A session
// re-acquires a lock it holds without waiting, so SlotLocks also remembers which slots this
// process holds and never hands one out twice.
//
// If the connection is lost while slots are held, their calls finish but other replicas may take
// the same slots meanwhile: concurrency can briefly exceed the limit during a database outage.
// It is safe for concurrent use.
type SlotLocks struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	conn    *pgx.Conn
	gen     int // bumped on each new connection; a slot is unlocked only on the one that took it
	held    map[slotKey]int
	changed chan struct{}
	closed  bool
}

type slotKey struct{ key, slot int32 }

// ErrSlotsClosed: SlotLocks.Close was called.
var ErrSlotsClosed = errors.New("rate budget slot locks closed")

// NewSlotLocks returns SlotLocks over pool; it connects on first use.
func NewSlotLocks(pool *pgxpool.Pool) *SlotLocks {
	return &SlotLocks{pool: pool, held: map[slotKey]int{}, changed: make(chan struct{})}
}

// TryLock takes a free slot in [0, n) of key without waiting. ok is false when all are taken
// (by this process or another); Changed then says when one of this process's is released.
func (s *SlotLocks) TryLock(ctx context.Context, key int32, n int) (slot int, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, false, ErrSlotsClosed
	}
	// A connection found dead is replaced once: the session (and its locks) is gone anyway.
	for attempt := 1; ; attempt++ {
		slot, ok, err = s.tryLock(ctx, key, n)
		if err == nil || attempt == 2 || ctx.Err() != nil {
			return slot, ok, err
		}
	}
}

func (s *SlotLocks) tryLock(ctx context.Context, key int32, n int) (slot int, ok bool, err error) {
	if err := s.connect(ctx); err != nil {
		return 0, false, err
	}
	for i := range n {
		k := slotKey{key, int32(i)}
		if _, mine := s.held[k]; mine {
			continue
		}
		var got bool
		if err := s.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int, $2::int)`, key, int32(i)).Scan(&got); err != nil {
			s.drop()
			return 0, false, fmt.Errorf("take rate budget slot: %w", postgres.Translate(err))
		}
		if got {
			s.held[k] = s.gen
			return i, true, nil
		}
	}
	return 0, false, nil
}

// Unlock frees a slot TryLock returned. It does not take ctx: the slot must be freed even when
// the call it guarded was cancelled.
func (s *SlotLocks) Unlock(key int32, slot int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := slotKey{key, int32(slot)}
	gen, mine := s.held[k]
	if !mine {
		return
	}
	delete(s.held, k)
	close(s.changed)
	s.changed = make(chan struct{})
	if s.conn == nil || gen != s.gen {
		return // the connection that held it is gone, and the lock with it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.conn.Exec(ctx, `SELECT pg_advisory_unlock($1::int, $2::int)`, key, int32(slot)); err != nil {
		// A lock we cannot release must not outlive us: dropping the session frees it.
		s.drop()
	}
}

// Changed is closed when this process next releases a slot.
func (s *SlotLocks) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// InFlight counts the slots of key below n held by any process, from pg_locks.
func (s *SlotLocks) InFlight(ctx context.Context, key int32, n int) (int, error) {
	var c int
	// pg_locks shows the two-int form's keys as classid (the first, as an unsigned oid) and objid.
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND classid = $1::bigint::oid AND objid::bigint < $2`, int64(uint32(key)), n).Scan(&c)
	if err != nil {
		return 0, fmt.Errorf("count rate budget slots: %w", postgres.Translate(err))
	}
	return c, nil
}

// Close frees every slot this process holds and returns the connection.
func (s *SlotLocks) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.drop()
}

// connect opens the keeper's connection. It is never a pooled one, so that no other user of the
// pool ever inherits its session locks.
func (s *SlotLocks) connect(ctx context.Context) error {
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	// Not from the pool itself: the caller holds one of its connections (a transaction), and a
	// busy pool must not make the slot keeper wait for it. Same settings, role included.
	cfg := s.pool.Config()
	c, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return fmt.Errorf("connect for rate budget slots: %w", postgres.Translate(err))
	}
	if cfg.AfterConnect != nil {
		if err := cfg.AfterConnect(ctx, c); err != nil {
			_ = c.Close(ctx)
			return fmt.Errorf("connect for rate budget slots: %w", postgres.Translate(err))
		}
	}
	s.conn = c
	s.gen++
	return nil
}

func (s *SlotLocks) drop() {
	if s.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.conn.Close(ctx) // closing ends the session, which releases its advisory locks
	s.conn = nil
}
