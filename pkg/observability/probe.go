package observability

import (
	"context"
	"sync"
	"time"
)

// Probe caches what observable instruments report (the rows of a table, a broker's view of a
// consumer), so that every reader of the metrics (a Prometheus scrape, an OTLP periodic reader)
// costs at most one look per TTL, and a dependency that hangs delays a collection by Wait at
// most: the look goes on in the background for up to Timeout, and meanwhile the last values
// stand. Once a look has failed, collections wait for none until one succeeds again, so a
// process with many probes (the dev stack's consumers) still answers a scrape at once while
// NATS or Postgres is away.
type Probe[T any] struct {
	TTL, Wait, Timeout time.Duration

	look    func(context.Context) (T, error)
	mu      sync.Mutex
	val     T
	at      time.Time
	failing bool
	running chan struct{}
}

// NewProbe returns a probe that looks with look, reusing an answer for ttl.
func NewProbe[T any](ttl time.Duration, look func(context.Context) (T, error)) *Probe[T] {
	return &Probe[T]{TTL: ttl, Wait: 250 * time.Millisecond, Timeout: 5 * time.Second, look: look}
}

// Get returns the latest answer, looking again first when it is older than TTL. Until one look
// has succeeded it returns the zero value, so every series is there from the start (an alert
// on a series that is missing would silently never fire).
func (p *Probe[T]) Get() T {
	p.mu.Lock()
	if !p.at.IsZero() && time.Since(p.at) < p.TTL {
		defer p.mu.Unlock()
		return p.val
	}
	if p.running == nil {
		done := make(chan struct{})
		p.running = done
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), p.Timeout)
			v, err := p.look(ctx)
			cancel()
			p.mu.Lock()
			defer p.mu.Unlock()
			p.running, p.failing = nil, err != nil
			if err == nil {
				p.val, p.at = v, time.Now()
			}
		}()
	}
	running := p.running
	if p.failing {
		defer p.mu.Unlock()
		return p.val
	}
	p.mu.Unlock()
	t := time.NewTimer(p.Wait)
	defer t.Stop()
	select {
	case <-running:
	case <-t.C:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.val
}
