package simkit

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Fault is one injected misbehaviour. Faults are queued and served in order: the head of the
// queue applies to the next request, for Count requests or, when For is set, to every request
// until For has passed since it was injected (an outage: {"status":503,"for":"30s"}).
type Fault struct {
	// Status is the status to answer with (429, 500, 503...); 0 only delays.
	Status int `json:"status"`
	// RetryAfter is sent as Retry-After (seconds) with a 429 or 503 when not zero.
	RetryAfter int `json:"retryAfterSeconds,omitempty"`
	// Delay is how long to wait before answering (slowness, timeouts).
	Delay Duration `json:"delay,omitempty"`
	// Count is how many requests it applies to (default 1); ignored when For is set.
	Count int `json:"count,omitempty"`
	// For makes the fault a window of time instead of a count: every request within For of the
	// injection gets it.
	For Duration `json:"for,omitempty"`

	until time.Time
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Faults are the misbehaviours a test asked for, and the simulated tool's health switches.
type Faults struct {
	mu      sync.Mutex
	queue   []Fault
	latency time.Duration
	badAuth bool
}

// Inject queues x for the next requests.
func (f *Faults) Inject(x Fault) {
	if x.Count <= 0 {
		x.Count = 1
	}
	f.mu.Lock()
	if x.For > 0 {
		x.until = time.Now().Add(time.Duration(x.For))
	}
	f.queue = append(f.queue, x)
	f.mu.Unlock()
}

// Down makes the tool answer every API request with status (503 when 0) for d, as a vendor
// outage does; Retry-After is left out, as most outages do not send one.
func (f *Faults) Down(status int, d time.Duration) {
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	f.Inject(Fault{Status: status, For: Duration(d)})
}

// SetLatency makes every request take at least d (the vendor's per-request time).
func (f *Faults) SetLatency(d time.Duration) { f.mu.Lock(); f.latency = d; f.mu.Unlock() }

// Latency is the per-request time set.
func (f *Faults) Latency() time.Duration { f.mu.Lock(); defer f.mu.Unlock(); return f.latency }

// SetRejectCredentials makes the tool refuse every credential (a revoked key).
func (f *Faults) SetRejectCredentials(v bool) { f.mu.Lock(); f.badAuth = v; f.mu.Unlock() }

// RejectCredentials reports whether every credential is refused.
func (f *Faults) RejectCredentials() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.badAuth }

// Reset drops every queued fault and switch.
func (f *Faults) Reset() { f.mu.Lock(); f.queue, f.latency, f.badAuth = nil, 0, false; f.mu.Unlock() }

// next takes the fault the current request gets, if any.
func (f *Faults) next() (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for len(f.queue) > 0 && !f.queue[0].until.IsZero() && !now.Before(f.queue[0].until) {
		f.queue = f.queue[1:]
	}
	if len(f.queue) == 0 {
		return Fault{}, false
	}
	x := f.queue[0]
	if !x.until.IsZero() {
		return x, true
	}
	f.queue[0].Count--
	if f.queue[0].Count <= 0 {
		f.queue = f.queue[1:]
	}
	return x, true
}

// Apply sleeps the latency and any injected delay, then, when an injected fault has a status,
// writes it with body (the vendor's error shape for that status) and returns true: the request
// is answered. It returns false when the request should be served normally.
func (f *Faults) Apply(w http.ResponseWriter, r *http.Request, body func(status int) (contentType string, b []byte)) bool {
	x, ok := f.next()
	wait := f.Latency()
	if ok {
		wait += time.Duration(x.Delay)
	}
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return true
		}
	}
	if !ok || x.Status == 0 {
		return false
	}
	if x.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(x.RetryAfter))
	}
	ct, b := body(x.Status)
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(x.Status)
	_, _ = w.Write(b)
	return true
}
