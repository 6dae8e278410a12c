// Package budget keeps every integration's rate budget in Postgres, so that every replica of
// integration-sync spends from the same one: at most Requests calls in any rolling Window, at
// most Concurrency in flight, none before a vendor's Retry-After has passed, and a count of
// consecutive credential refusals.
//
// A spend is one short transaction that locks the integration's rate_budgets row (FOR UPDATE),
// counts the spends of the window and records one more; no vendor call ever runs inside it.
// Concurrency slots are session advisory locks (see store.SlotLocks), held from before the spend
// until the call ends, and freed by Postgres if the process dies.
package budget

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// ErrNotConfigured: the integration has no budget (Configure it when the integration is created).
var ErrNotConfigured = store.ErrNoBudget

// ErrAuthStopped: the integration's credentials were refused too many times in a row; no call is
// made until AuthSucceeded.
var ErrAuthStopped = errors.New("integration stopped after repeated credential refusals")

const (
	// maxSleep bounds one wait, so a waiter notices a changed policy (a larger quota) in time.
	maxSleep = 5 * time.Second
	// slotPoll is how often a waiter looks for a concurrency slot another replica may have freed;
	// this process's own releases wake it at once.
	slotPoll = 25 * time.Millisecond
)

// Usage is an integration's budget as the API shows it.
type Usage struct {
	// Limit requests per Window; Used of them are counted now, Remaining may still be spent.
	Limit, Used, Remaining int
	Window                 time.Duration
	// ResetsAt is when the oldest counted request leaves the window (and Remaining grows); zero
	// when none is counted.
	ResetsAt time.Time
	// BlockedUntil is when a vendor's Retry-After ends; zero when no block is in force.
	BlockedUntil time.Time
	// InFlight is how many calls hold a concurrency slot now, across replicas (0 without a
	// concurrency limit).
	InFlight int
	// Concurrency is the concurrency limit (0: none), AuthFailures the consecutive credential
	// refusals.
	Concurrency, AuthFailures int
}

// Budgets spends from the integrations' rate budgets. It is safe for concurrent use; Close it
// when the service stops.
type Budgets struct {
	st    *store.Store
	slots *store.SlotLocks
}

// New returns Budgets over pool. It keeps one connection of pool for the concurrency slots.
func New(pool *pgxpool.Pool) *Budgets {
	return &Budgets{st: store.New(pool), slots: store.NewSlotLocks(pool)}
}

// Close frees the slots this process holds and returns their connection.
func (b *Budgets) Close() { b.slots.Close() }

// Configure sets the integration's policy (creating its budget), keeping its state.
func (b *Budgets) Configure(ctx context.Context, integrationID string, p connector.Budget) error {
	if p.Requests <= 0 || p.Window < time.Millisecond || p.Concurrency < 0 {
		return fmt.Errorf("configure rate budget: want requests > 0, a window of at least 1ms and concurrency >= 0, got %d per %s, %d at once",
			p.Requests, p.Window, p.Concurrency)
	}
	return b.st.InSystem(ctx, func(tx *store.Tx) error {
		return tx.PutBudget(ctx, integrationID, p.Requests, p.Window, p.Concurrency)
	})
}

// Acquire waits until the integration's budget lets one more call go (the window has room, no
// block is in force, a concurrency slot is free), spends one request and returns release, which
// the caller must call once the call has ended. It returns ctx's error if ctx ends first.
func (b *Budgets) Acquire(ctx context.Context, integrationID string) (release func(), err error) {
	release, _, err = b.AcquireUnlessStopped(ctx, integrationID, 0)
	return release, err
}

// AcquireUnlessStopped is Acquire, except that it returns ErrAuthStopped without spending when
// the integration's consecutive auth failures have reached stopAfter (0: never). It also returns
// the failures counted when it spent, so a caller resets them only when there are some.
func (b *Budgets) AcquireUnlessStopped(ctx context.Context, integrationID string, stopAfter int) (release func(), authFailures int, err error) {
	key := lockKey(integrationID)
	for {
		// Look before taking a slot, so a waiter for the window holds none.
		changed := b.slots.Changed()
		var (
			wait    time.Duration
			slot    = -1
			noSlot  bool
			granted bool
			readAt  time.Time
			grace   time.Duration
		)
		err := b.st.InSystem(ctx, func(tx *store.Tx) error {
			// The transaction may run again (serialization failure): give back a slot the
			// failed run took.
			if slot >= 0 {
				b.slots.Unlock(key, slot)
			}
			wait, slot, noSlot, granted = 0, -1, false, false
			p, err := tx.LockBudget(ctx, integrationID)
			if err != nil {
				return err
			}
			// Taken before the clock is read, so that time.Since(readAt) bounds how old the
			// spend's time is when Acquire returns.
			readAt = time.Now()
			now, err := tx.Clock(ctx)
			if err != nil {
				return err
			}
			grace, authFailures = Grace(p.Window), p.AuthFailures
			if stopAfter > 0 && p.AuthFailures >= stopAfter {
				return ErrAuthStopped
			}
			spent, err := tx.SpendSince(ctx, integrationID, CountedSince(now, p.Window))
			if err != nil {
				return err
			}
			if wait = Wait(p, now, spent); wait > 0 {
				return nil
			}
			if p.Concurrency > 0 {
				s, ok, err := b.slots.TryLock(ctx, key, p.Concurrency)
				if err != nil {
					return err
				}
				if !ok {
					noSlot = true
					return nil
				}
				slot = s
			}
			bucket := BucketOf(now, BucketWidth(p.Window))
			if err := tx.Spend(ctx, integrationID, bucket); err != nil {
				return err
			}
			// Old buckets can only have appeared since the last bucket was opened, so the
			// clean-up runs once per bucket, not once per call.
			if len(spent) == 0 || !spent[len(spent)-1].Bucket.Equal(bucket) {
				if err := tx.ForgetSpend(ctx, integrationID, CountedSince(now, p.Window)); err != nil {
					return err
				}
			}
			granted = true
			return nil
		})
		if err != nil || !granted {
			// A slot taken in a transaction that did not commit its spend is given back.
			if slot >= 0 {
				b.slots.Unlock(key, slot)
			}
		}
		if err != nil {
			return nil, 0, fmt.Errorf("rate budget of integration %s: %w", integrationID, err)
		}
		if granted && time.Since(readAt) <= grace {
			return releaser(b.slots, key, slot), authFailures, nil
		}
		if granted {
			// The spend was recorded at readAt, but the transaction took longer than the grace
			// to return (a stalled commit): the call would reach the vendor after its spend had
			// stopped counting. The spend stays counted and unused, and a fresh one is taken.
			b.slots.Unlock(key, slot)
			continue
		}
		var wake <-chan struct{}
		if noSlot {
			wait, wake = slotPoll/2+rand.N(slotPoll), changed
		} else {
			// Jitter spreads the waiters that a moving window releases at the same instant.
			wait = min(wait+rand.N(min(wait/10, 50*time.Millisecond)+1), maxSleep)
		}
		if err := sleep(ctx, wait, wake); err != nil {
			return nil, 0, fmt.Errorf("rate budget of integration %s: %w", integrationID, err)
		}
	}
}

func releaser(slots *store.SlotLocks, key int32, slot int) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			if slot >= 0 {
				slots.Unlock(key, slot)
			}
		})
	}
}

func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-wake:
	}
	return nil
}

// Block holds every call on the integration, on every replica, until until. It never moves an
// existing block backwards.
func (b *Budgets) Block(ctx context.Context, integrationID string, until time.Time) error {
	return b.st.InSystem(ctx, func(tx *store.Tx) error {
		_, err := tx.BlockBudget(ctx, integrationID, until)
		return err
	})
}

// BlockFor is Block for d from now by the database's clock, which every replica shares; use it
// for a Retry-After given in seconds.
func (b *Budgets) BlockFor(ctx context.Context, integrationID string, d time.Duration) (until time.Time, err error) {
	err = b.st.InSystem(ctx, func(tx *store.Tx) error {
		until, err = tx.BlockBudgetFor(ctx, integrationID, d)
		return err
	})
	return until, err
}

// AuthFailed counts a credential refusal and returns the consecutive refusals so far.
func (b *Budgets) AuthFailed(ctx context.Context, integrationID string) (failures int, err error) {
	err = b.st.InSystem(ctx, func(tx *store.Tx) error {
		failures, err = tx.AddAuthFailure(ctx, integrationID)
		return err
	})
	return failures, err
}

// AuthSucceeded clears the consecutive refusals (the credentials work, or were replaced and
// verified), letting a stopped integration call again.
func (b *Budgets) AuthSucceeded(ctx context.Context, integrationID string) error {
	return b.st.InSystem(ctx, func(tx *store.Tx) error { return tx.ResetAuthFailures(ctx, integrationID) })
}

// Usage reads the integration's budget.
func (b *Budgets) Usage(ctx context.Context, integrationID string) (Usage, error) {
	var u Usage
	err := b.st.InSystem(ctx, func(tx *store.Tx) error {
		p, err := tx.Budget(ctx, integrationID)
		if err != nil {
			return err
		}
		now, err := tx.Clock(ctx)
		if err != nil {
			return err
		}
		spent, err := tx.SpendSince(ctx, integrationID, CountedSince(now, p.Window))
		if err != nil {
			return err
		}
		u = Usage{Limit: p.Requests, Used: Sum(spent), Window: p.Window,
			Concurrency: p.Concurrency, AuthFailures: p.AuthFailures}
		u.Remaining = max(0, u.Limit-u.Used)
		if len(spent) > 0 {
			u.ResetsAt = spent[0].Bucket.Add(Horizon(p.Window))
		}
		if p.BlockedUntil.After(now) {
			u.BlockedUntil = p.BlockedUntil
		}
		return nil
	})
	if err != nil {
		return Usage{}, fmt.Errorf("rate budget of integration %s: %w", integrationID, err)
	}
	if u.Concurrency > 0 {
		if u.InFlight, err = b.slots.InFlight(ctx, lockKey(integrationID), u.Concurrency); err != nil {
			return Usage{}, err
		}
	}
	return u, nil
}

// Delete removes the integration's budget.
func (b *Budgets) Delete(ctx context.Context, integrationID string) error {
	return b.st.InSystem(ctx, func(tx *store.Tx) error { return tx.DeleteBudget(ctx, integrationID) })
}

// lockKey is the first key of the integration's slot locks. Two integrations whose keys collide
// share one set of slots: a lower concurrency for both, never a higher one.
func lockKey(integrationID string) int32 {
	h := fnv.New32a()
	h.Write([]byte("orgplane.rate_budget:" + integrationID))
	return int32(h.Sum32())
}
