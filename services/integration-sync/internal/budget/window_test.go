package budget_test

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/budget"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

func TestBucketWidth(t *testing.T) {
	t.Parallel()
	for window, want := range map[time.Duration]time.Duration{
		2 * time.Second:       33 * time.Millisecond,
		5 * time.Minute:       5 * time.Second,
		time.Hour:             time.Minute,
		10 * time.Millisecond: time.Millisecond,
	} {
		if got := budget.BucketWidth(window); got != want {
			t.Errorf("BucketWidth(%s) = %s, want %s", window, got, want)
		}
	}
}

func TestBucketOfIsAlignedAndContainsT(t *testing.T) {
	t.Parallel()
	width := 33 * time.Millisecond
	base := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	for i := range 1000 {
		at := base.Add(time.Duration(i) * 7 * time.Millisecond)
		b := budget.BucketOf(at, width)
		if b.After(at) || !at.Before(b.Add(width)) {
			t.Fatalf("BucketOf(%s) = %s: t not in [b, b+width)", at, b)
		}
		// The same instant in another zone falls in the same bucket (replicas' zones differ).
		if other := budget.BucketOf(at.In(time.FixedZone("x", 5*3600+1800)), width); !other.Equal(b) {
			t.Fatalf("bucket depends on the zone: %s vs %s", other, b)
		}
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	window := time.Minute // width 1 s, horizon 1 s + 60 s + 1 s
	h := budget.Horizon(window)
	b := func(ago time.Duration, used int) store.SpendBucket {
		return store.SpendBucket{Bucket: now.Add(-ago), Used: used}
	}
	cases := []struct {
		name  string
		p     store.BudgetRow
		spent []store.SpendBucket
		want  time.Duration
	}{
		{"empty", store.BudgetRow{Requests: 3, Window: window}, nil, 0},
		{"room left", store.BudgetRow{Requests: 3, Window: window}, []store.SpendBucket{b(10*time.Second, 2)}, 0},
		{"full: the oldest bucket must leave", store.BudgetRow{Requests: 3, Window: window},
			[]store.SpendBucket{b(30*time.Second, 2), b(5*time.Second, 1)}, h - 30*time.Second},
		{"over: two buckets must leave", store.BudgetRow{Requests: 3, Window: window},
			[]store.SpendBucket{b(40*time.Second, 1), b(30*time.Second, 1), b(5*time.Second, 2)}, h - 30*time.Second},
		{"blocked", store.BudgetRow{Requests: 3, Window: window, BlockedUntil: now.Add(2 * time.Second)}, nil, 2 * time.Second},
		{"block in the past", store.BudgetRow{Requests: 3, Window: window, BlockedUntil: now.Add(-time.Second)}, nil, 0},
		{"blocked and full: the later", store.BudgetRow{Requests: 1, Window: window, BlockedUntil: now.Add(2 * time.Second)},
			[]store.SpendBucket{b(10*time.Second, 1)}, h - 10*time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := budget.Wait(c.p, now, c.spent); got != c.want {
				t.Fatalf("Wait = %s, want %s", got, c.want)
			}
		})
	}
}

// A simulated crowd of callers that spend whenever Wait says so never puts more than Requests
// spends in any rolling window, and still uses most of the quota.
func TestWaitNeverExceedsTheWindow(t *testing.T) {
	t.Parallel()
	for _, p := range []store.BudgetRow{
		{Requests: 20, Window: 2 * time.Second},
		{Requests: 50, Window: time.Hour},
		{Requests: 3000, Window: 5 * time.Minute},
	} {
		rng := rand.New(rand.NewPCG(1, uint64(p.Requests)))
		now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
		width := budget.BucketWidth(p.Window)
		buckets := map[time.Time]int{}
		var spends []time.Time
		end := now.Add(5 * p.Window)
		for now.Before(end) {
			var spent []store.SpendBucket
			since := budget.CountedSince(now, p.Window)
			for b, n := range buckets {
				if b.After(since) {
					spent = append(spent, store.SpendBucket{Bucket: b, Used: n})
				}
			}
			sort.Slice(spent, func(i, j int) bool { return spent[i].Bucket.Before(spent[j].Bucket) })
			if w := budget.Wait(p, now, spent); w > 0 {
				now = now.Add(w)
				continue
			}
			buckets[budget.BucketOf(now, width)]++
			spends = append(spends, now)
			now = now.Add(time.Duration(rng.Int64N(int64(p.Window / time.Duration(p.Requests) / 4))))
		}
		if m := maxInWindow(spends, p.Window); m > p.Requests {
			t.Fatalf("%d per %s: %d spends in one window", p.Requests, p.Window, m)
		}
		// Five windows allow 5 × Requests; the conservative buckets may cost a little of it.
		if min := 4 * p.Requests; len(spends) < min {
			t.Fatalf("%d per %s: only %d spends in 5 windows, want at least %d", p.Requests, p.Window, len(spends), min)
		}
	}
}

// maxInWindow is the most of times (sorted) inside any half-open window of length w, the way a
// vendor's rolling count (and simkit.Window) counts.
func maxInWindow(times []time.Time, w time.Duration) int {
	most, lo := 0, 0
	for hi := range times {
		for !times[lo].After(times[hi].Add(-w)) {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}
