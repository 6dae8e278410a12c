package simkit

import (
	"sync"
	"time"
)

// Window is a rolling-window request quota: at most Limit requests in any Span. It keeps
// each accepted request's time, so it is exact, as a vendor's accounting would be.
type Window struct {
	mu    sync.Mutex
	limit int
	span  time.Duration
	times []time.Time
	now   func() time.Time
}

// NewWindow returns a quota of limit requests per span (limit 0: unlimited).
func NewWindow(limit int, span time.Duration) *Window {
	return &Window{limit: limit, span: span, now: time.Now}
}

// Set changes the quota (tests shrink it) and forgets what was counted.
func (w *Window) Set(limit int, span time.Duration) {
	w.mu.Lock()
	w.limit, w.span, w.times = limit, span, nil
	w.mu.Unlock()
}

// Limits returns the quota.
func (w *Window) Limits() (int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limit, w.span
}

// Take counts one request if the quota allows it. When it does not, it returns false and how
// long until the oldest counted request leaves the window.
func (w *Window) Take() (ok bool, retryAfter time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.limit <= 0 {
		return true, 0
	}
	now := w.now()
	cut := 0
	for cut < len(w.times) && !w.times[cut].After(now.Add(-w.span)) {
		cut++
	}
	w.times = w.times[cut:]
	if len(w.times) >= w.limit {
		return false, w.times[0].Add(w.span).Sub(now)
	}
	w.times = append(w.times, now)
	return true, 0
}

// Stats is what the simulated tool served, for tests and the bench.
type Stats struct {
	// Requests counts every request that reached the tool's API (refused ones too), by route
	// pattern ("GET /organizations").
	Requests map[string]int `json:"requests"`
	// Total is the sum of Requests.
	Total int `json:"total"`
	// Refused counts requests answered 429 because a quota or concurrency limit was hit
	// (injected faults not included).
	Refused int `json:"refused"`
	// Unauthorized counts requests refused for their credentials.
	Unauthorized int `json:"unauthorized"`
	// MaxInFlight is the most requests served at once, per route pattern.
	MaxInFlight map[string]int `json:"maxInFlight"`
	// MaxInWindow is the most accepted requests seen inside any one quota window.
	MaxInWindow int `json:"maxInWindow"`
}

// Accounting counts what a simulated tool served.
type Accounting struct {
	mu       sync.Mutex
	stats    Stats
	inFlight map[string]int
	accepted []time.Time
	span     time.Duration
}

// NewAccounting returns an empty Accounting measuring MaxInWindow over span.
func NewAccounting(span time.Duration) *Accounting {
	a := &Accounting{span: span}
	a.Reset()
	return a
}

// SetSpan changes the window MaxInWindow is measured over.
func (a *Accounting) SetSpan(span time.Duration) { a.mu.Lock(); a.span = span; a.mu.Unlock() }

// Reset forgets everything counted.
func (a *Accounting) Reset() {
	a.mu.Lock()
	a.stats = Stats{Requests: map[string]int{}, MaxInFlight: map[string]int{}}
	a.inFlight = map[string]int{}
	a.accepted = nil
	a.mu.Unlock()
}

// Begin counts a request on route and returns how many are in flight on it now, this one
// included; call End when it is answered.
func (a *Accounting) Begin(route string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Requests[route]++
	a.stats.Total++
	a.inFlight[route]++
	n := a.inFlight[route]
	if n > a.stats.MaxInFlight[route] {
		a.stats.MaxInFlight[route] = n
	}
	return n
}

// End marks a request on route answered.
func (a *Accounting) End(route string) { a.mu.Lock(); a.inFlight[route]--; a.mu.Unlock() }

// Accepted records a request the quota let through, for MaxInWindow.
func (a *Accounting) Accepted(at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accepted = append(a.accepted, at)
	cut := 0
	for cut < len(a.accepted) && !a.accepted[cut].After(at.Add(-a.span)) {
		cut++
	}
	a.accepted = a.accepted[cut:]
	if len(a.accepted) > a.stats.MaxInWindow {
		a.stats.MaxInWindow = len(a.accepted)
	}
}

// Refused counts a request refused by a quota or concurrency limit.
func (a *Accounting) Refused() { a.mu.Lock(); a.stats.Refused++; a.mu.Unlock() }

// Unauthorized counts a request refused for its credentials.
func (a *Accounting) Unauthorized() { a.mu.Lock(); a.stats.Unauthorized++; a.mu.Unlock() }

// Snapshot returns a copy of the counts.
func (a *Accounting) Snapshot() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Requests = make(map[string]int, len(a.stats.Requests))
	for k, v := range a.stats.Requests {
		s.Requests[k] = v
	}
	s.MaxInFlight = make(map[string]int, len(a.stats.MaxInFlight))
	for k, v := range a.stats.MaxInFlight {
		s.MaxInFlight[k] = v
	}
	return s
}
