package observability_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/observability"
)

func TestProbeCachesAndNeverHangsACollection(t *testing.T) {
	t.Parallel()
	var looks atomic.Int32
	var hang, fail atomic.Bool
	release := make(chan struct{})
	p := observability.NewProbe(time.Hour, func(ctx context.Context) (int, error) {
		n := int(looks.Add(1))
		if hang.Load() {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		if fail.Load() {
			return 0, errors.New("down")
		}
		return n, nil
	})
	p.Wait = 50 * time.Millisecond

	fail.Store(true)
	if v := p.Get(); v != 0 {
		t.Fatalf("before any answer Get = %d, want the zero value", v)
	}
	fail.Store(false)
	// After a failure nothing waits for the next look: its answer shows once it is in.
	waitFor(t, p, 2)
	if v := p.Get(); v != 2 || looks.Load() != 2 {
		t.Fatalf("Get = %d after %d looks; want the cached answer without a look", v, looks.Load())
	}

	p.TTL = 0
	hang.Store(true)
	start := time.Now()
	if v := p.Get(); v != 2 {
		t.Fatalf("Get = %d while the look hangs, want the last answer", v)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a hanging look held the collection for %s", d)
	}
	p.Get() // the hanging look is still running: no second one starts
	if looks.Load() != 3 {
		t.Fatalf("%d looks; want one at a time", looks.Load())
	}
	hang.Store(false)
	close(release)
	waitFor(t, p, 4)
}

func waitFor(t *testing.T, p *observability.Probe[int], want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.Get() < want {
		if time.Now().After(deadline) {
			t.Fatalf("Get = %d, want %d", p.Get(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
