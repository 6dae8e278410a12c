package main

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// Result is one measurement: a run of one operation by a number of concurrent clients.
type Result struct {
	Ops        int           `json:"ops"`
	Errors     int           `json:"errors"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Throughput float64       `json:"ops_per_sec"`
	P50        time.Duration `json:"p50_ns"`
	P95        time.Duration `json:"p95_ns"`
	P99        time.Duration `json:"p99_ns"`
}

// op performs one operation; worker is the client's index (for unique names).
type op func(ctx context.Context, worker, i int) error

// run drives op from clients goroutines for d (or, when n > 0, until n operations are done).
func run(ctx context.Context, clients int, d time.Duration, n int, f op) Result {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var cancel context.CancelFunc
	if n > 0 {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, d)
	}
	defer cancel()
	next := make(chan int, clients)
	go func() {
		defer close(next)
		for i := 0; n <= 0 || i < n; i++ {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for i := range next {
				t := time.Now()
				if err := f(context.Background(), w, i); err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(lat, errs, time.Since(start))
}

func summarize(lat []time.Duration, errs int, elapsed time.Duration) Result {
	slices.Sort(lat)
	r := Result{Ops: len(lat), Errors: errs, Elapsed: elapsed}
	if elapsed > 0 {
		r.Throughput = float64(len(lat)) / elapsed.Seconds()
	}
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	r.P50, r.P95, r.P99 = pct(0.50), pct(0.95), pct(0.99)
	return r
}

// median takes, field by field, the median of several rounds of the same measurement, so a
// noisy round on a shared machine does not decide the figure.
func median(rs []Result) Result {
	if len(rs) == 1 {
		return rs[0]
	}
	mid := func(get func(Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	out := Result{
		Throughput: mid(func(r Result) float64 { return r.Throughput }),
		P50:        time.Duration(mid(func(r Result) float64 { return float64(r.P50) })),
		P95:        time.Duration(mid(func(r Result) float64 { return float64(r.P95) })),
		P99:        time.Duration(mid(func(r Result) float64 { return float64(r.P99) })),
		Elapsed:    time.Duration(mid(func(r Result) float64 { return float64(r.Elapsed) })),
	}
	for _, r := range rs {
		out.Ops += r.Ops
		out.Errors += r.Errors
	}
	return out
}
