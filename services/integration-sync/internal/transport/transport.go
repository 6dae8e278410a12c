// Package transport is the http.RoundTripper under every connector's client: each attempt spends
// from the integration's rate budget (shared by every replica), 429s block the whole budget for
// their Retry-After, 5xx and network failures of requests safe to repeat are retried with capped
// exponential backoff and full jitter, and credentials refused repeatedly stop the integration
// instead of hammering the vendor.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/orgplane/orgplane/services/integration-sync/internal/budget"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
)

// ErrStopped: the vendor refused the integration's credentials Options.StopAfterAuthFailures
// times in a row; no call is made until the credentials are replaced and verified
// (budget.Budgets.AuthSucceeded).
var ErrStopped = errors.New("integration stopped: its credentials were refused repeatedly")

// Options tune the transport; the zero value takes every default.
type Options struct {
	// MaxAttempts is how many times one request is tried (default 4).
	MaxAttempts int
	// AttemptTimeout bounds one attempt, response body included (default 30 s).
	AttemptTimeout time.Duration
	// StopAfterAuthFailures is how many consecutive 401/403 answers stop the integration
	// (default 3).
	StopAfterAuthFailures int
	// DefaultRetryAfter is how long a 429 without a usable Retry-After blocks (default 5 s).
	DefaultRetryAfter time.Duration
	// BackoffInitial and BackoffMax bound the backoff before retrying a 5xx or a network
	// failure (defaults 250 ms and 10 s); each wait is drawn uniformly below the bound.
	BackoffInitial, BackoffMax time.Duration
	// Observe, when set, is told about every attempt (tests, metrics).
	Observe func(Attempt)
	// Log receives debug lines (method, path and status; never the query string or headers).
	Log *slog.Logger
}

// Attempt is one try of a request, as Observe sees it.
type Attempt struct {
	Method, Path string
	// N is the attempt's number, from 1.
	N int
	// Status is the response's status, 0 when the attempt failed without one (Err).
	Status int
	Err    error
	// Retry says whether another attempt follows, after Wait (a 429's block is in the budget).
	Retry bool
	Wait  time.Duration
}

// Stats count what a RoundTripper did.
type Stats struct {
	// Attempts reached the vendor; Retries are those after a first; RateLimited were answered
	// 429; AuthFailures 401/403; Refused were not sent because the integration is stopped.
	Attempts, Retries, RateLimited, AuthFailures, Refused int64
}

// RoundTripper spends an integration's budget on every attempt. It is safe for concurrent use.
type RoundTripper struct {
	base          http.RoundTripper
	budgets       *budget.Budgets
	integrationID string
	opts          Options

	attempts, retries, rateLimited, authFailures, refused atomic.Int64
}

// New returns a client for one integration's connector over base (nil: a copy of
// http.DefaultTransport).
func New(base http.RoundTripper, b *budget.Budgets, integrationID string, opts Options) *http.Client {
	return &http.Client{Transport: NewRoundTripper(base, b, integrationID, opts)}
}

// NewRoundTripper is New's transport.
func NewRoundTripper(base http.RoundTripper, b *budget.Budgets, integrationID string, opts Options) *RoundTripper {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 4
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 30 * time.Second
	}
	if opts.StopAfterAuthFailures <= 0 {
		opts.StopAfterAuthFailures = 3
	}
	if opts.DefaultRetryAfter <= 0 {
		opts.DefaultRetryAfter = 5 * time.Second
	}
	if opts.BackoffInitial <= 0 {
		opts.BackoffInitial = 250 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &RoundTripper{base: base, budgets: b, integrationID: integrationID, opts: opts}
}

// Stats returns the counts so far.
func (t *RoundTripper) Stats() Stats {
	return Stats{Attempts: t.attempts.Load(), Retries: t.retries.Load(), RateLimited: t.rateLimited.Load(),
		AuthFailures: t.authFailures.Load(), Refused: t.refused.Load()}
}

// RoundTrip sends req within the budget, retrying as the package says. The response returned
// holds the attempt's concurrency slot until its body is closed or read to the end.
func (t *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	path := req.URL.Path // never the query: some vendors take keys there
	repeatable := safeToRepeat(req) && (req.Body == nil || req.Body == http.NoBody || req.GetBody != nil)
	bo := &backoff.ExponentialBackOff{InitialInterval: t.opts.BackoffInitial, RandomizationFactor: 0,
		Multiplier: 2, MaxInterval: t.opts.BackoffMax}
	bo.Reset()

	for n := 1; ; n++ {
		last := n >= t.opts.MaxAttempts
		release, failures, err := t.budgets.AcquireUnlessStopped(ctx, t.integrationID, t.opts.StopAfterAuthFailures)
		if errors.Is(err, budget.ErrAuthStopped) {
			t.refused.Add(1)
			closeBody(req)
			return nil, fmt.Errorf("%s %s: %w", req.Method, path, ErrStopped)
		}
		if err != nil {
			closeBody(req)
			return nil, fmt.Errorf("%s %s: %w", req.Method, path, err)
		}
		resp, err := t.send(req, n, release)
		t.attempts.Add(1)
		if n > 1 {
			t.retries.Add(1)
		}
		at := Attempt{Method: req.Method, Path: path, N: n, Err: err}
		if resp != nil {
			at.Status = resp.StatusCode
		}

		switch {
		case err != nil:
			if ctx.Err() != nil || !repeatable || last {
				t.observe(at)
				return nil, err
			}
			at.Retry, at.Wait = true, jitter(bo.NextBackOff())
		case resp.StatusCode == http.StatusTooManyRequests:
			t.rateLimited.Add(1)
			// The block is written even if the caller has gone: other callers must honor it.
			wait := retryAfter(resp.Header.Get("Retry-After"), t.opts.DefaultRetryAfter)
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_, berr := t.budgets.BlockFor(bctx, t.integrationID, wait)
			cancel()
			if berr != nil {
				t.opts.Log.Warn("rate budget: cannot record a 429's Retry-After", "integration", t.integrationID, "err", berr)
			}
			if last || berr != nil || !replayable(req) {
				t.observe(at)
				return resp, nil
			}
			// No backoff of our own: Acquire waits for the block, on every replica.
			at.Retry, at.Wait = true, wait
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			t.authFailures.Add(1)
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if _, aerr := t.budgets.AuthFailed(actx, t.integrationID); aerr != nil {
				t.opts.Log.Warn("rate budget: cannot count an auth failure", "integration", t.integrationID, "err", aerr)
			}
			cancel()
			t.observe(at)
			return resp, nil
		case resp.StatusCode >= 500:
			if !repeatable || last {
				t.observe(at)
				return resp, nil
			}
			at.Retry, at.Wait = true, jitter(bo.NextBackOff())
		default:
			// Only a call that carried the credentials proves they work again.
			if failures > 0 && resp.StatusCode < 300 && !connector.CarriesNoCredentials(ctx) {
				if aerr := t.budgets.AuthSucceeded(ctx, t.integrationID); aerr != nil {
					t.opts.Log.Warn("rate budget: cannot reset auth failures", "integration", t.integrationID, "err", aerr)
				}
			}
			t.observe(at)
			return resp, nil
		}

		t.observe(at)
		t.opts.Log.Debug("integration call retried", "integration", t.integrationID, "method", req.Method,
			"path", path, "attempt", n, "status", at.Status, "err", at.Err, "wait", at.Wait)
		if resp != nil {
			drain(resp.Body)
		}
		if at.Status != http.StatusTooManyRequests {
			if err := sleep(ctx, at.Wait); err != nil {
				closeBody(req)
				return nil, err
			}
		}
	}
}

// send makes one attempt under its own timeout; release and the timeout end with the response
// body, or at once when there is no response.
func (t *RoundTripper) send(req *http.Request, n int, release func()) (*http.Response, error) {
	actx, cancel := context.WithTimeout(req.Context(), t.opts.AttemptTimeout)
	done := func() { cancel(); release() }
	r := req.Clone(actx)
	if n > 1 && req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			done()
			return nil, fmt.Errorf("%s %s: replay body: %w", req.Method, req.URL.Path, err)
		}
		r.Body = b
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		done()
		return nil, err
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		done()
		return resp, nil
	}
	resp.Body = &heldBody{ReadCloser: resp.Body, done: done}
	return resp, nil
}

func (t *RoundTripper) observe(a Attempt) {
	if t.opts.Observe != nil {
		t.opts.Observe(a)
	}
}

// heldBody ends an attempt (its slot, its timeout) when the body is closed or read to the end.
type heldBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *heldBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *heldBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// safeToRepeat: methods that are idempotent, and the read-only POSTs (Autotask's
// Companies/query, ConnectWise's .../search) that only look like writes.
func safeToRepeat(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	case http.MethodPost, http.MethodPatch:
		p := strings.ToLower(strings.TrimSuffix(req.URL.Path, "/"))
		return strings.HasSuffix(p, "/query") || strings.HasSuffix(p, "/search")
	}
	return false
}

// replayable: a 429 was refused before any work was done, so any request may be sent again, as
// long as its body can be.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP-date; def when absent or
// unreadable. A date is turned into a delay here, so the block is measured on the database's
// clock (BlockFor) rather than this host's.
func retryAfter(v string, def time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return def
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			return def
		}
		// A day is as long as a block may last: beyond it the value is more likely a mistake
		// (or a timestamp) than a wish, and the integration would look dead.
		return time.Duration(min(secs, 24*3600) * float64(time.Second))
	}
	if at, err := http.ParseTime(v); err == nil {
		// An HTTP-date has whole seconds: round up so the wait is never short.
		return max(time.Until(at).Truncate(time.Second)+time.Second, 0)
	}
	return def
}

// jitter draws a wait uniformly in [0, d] ("full jitter").
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// drain reads a little of a body being discarded, so its connection can be reused, and closes it.
func drain(b io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(b, 64<<10))
	_ = b.Close()
}

// closeBody closes the request body, as a RoundTripper must when it does not send it.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
