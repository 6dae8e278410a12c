package budget

import (
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// Buckets is 60: a spend is remembered at most about a sixtieth of the window longer than it
// must be, at the cost of one row per bucket with spends.
const Buckets = 60

// minGrace covers the time between a spend and the request reaching the vendor (the commit, a
// goroutine's scheduling, the network), so the vendor's own rolling count, which starts later,
// never sees more than the budget allows. Acquire gives up a spend it could not return within
// the grace (see Grace) and takes another, so the grace is a bound, not a hope.
const minGrace = 250 * time.Millisecond

// BucketWidth is how wide the spend buckets of window are: window/60 in whole milliseconds, at
// least one.
func BucketWidth(window time.Duration) time.Duration {
	return max(time.Millisecond, (window / Buckets).Truncate(time.Millisecond))
}

// BucketOf is the start of the bucket t falls in. Buckets are aligned on the Unix epoch, so every
// replica computes the same start for the same instant.
func BucketOf(t time.Time, width time.Duration) time.Time {
	ms, w := t.UnixMilli(), width.Milliseconds()
	return time.UnixMilli(ms - ms%w).UTC()
}

// Grace is how long after its spend a call may still start: one bucket, at least 250 ms.
func Grace(window time.Duration) time.Duration { return max(BucketWidth(window), minGrace) }

// Horizon is how long after its start a bucket keeps counting: its own width, the window, and the
// grace. A spend at t is therefore counted until at least t + window + grace.
func Horizon(window time.Duration) time.Duration {
	return BucketWidth(window) + window + Grace(window)
}

// CountedSince is the oldest bucket start (exclusive) still counted at now.
func CountedSince(now time.Time, window time.Duration) time.Time {
	return now.Add(-Horizon(window))
}

// Wait is how long a call must wait at now before it may spend: until blockedUntil, and until
// enough of the counted spends have left the window for one more to fit. 0 means it may go now.
// spent must be the buckets counted at now (after CountedSince), oldest first.
func Wait(p store.BudgetRow, now time.Time, spent []store.SpendBucket) time.Duration {
	var wait time.Duration
	if p.BlockedUntil.After(now) {
		wait = p.BlockedUntil.Sub(now)
	}
	used := 0
	for _, s := range spent {
		used += s.Used
	}
	h := Horizon(p.Window)
	for _, s := range spent {
		if used < p.Requests {
			break
		}
		used -= s.Used
		if used < p.Requests {
			wait = max(wait, s.Bucket.Add(h).Sub(now))
		}
	}
	return max(wait, 0)
}

// Sum is how many requests spent holds.
func Sum(spent []store.SpendBucket) int {
	n := 0
	for _, s := range spent {
		n += s.Used
	}
	return n
}
