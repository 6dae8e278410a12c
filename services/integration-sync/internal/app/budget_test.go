package app_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/itglue"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// checkQuotaHeld fails the test unless the simulator never had to refuse a request for its quota
// or its concurrency limit, never accepted more than quota requests in one window, and never
// served more than concurrency requests at once on any route.
func checkQuotaHeld(t *testing.T, s simkit.Stats, quota, concurrency int) {
	t.Helper()
	if s.Refused != 0 {
		t.Errorf("the simulator refused %d requests for its quota or concurrency limit", s.Refused)
	}
	if s.MaxInWindow > quota {
		t.Errorf("the simulator accepted %d requests in one window, quota %d", s.MaxInWindow, quota)
	}
	for route, n := range s.MaxInFlight {
		if n > concurrency {
			t.Errorf("%d requests at once on %s, limit %d", n, route, concurrency)
		}
	}
}

// A refresh that needs more requests than the Autotask quota allows in one window, started when
// the window is already nearly spent, waits for the window to move and finishes, without the
// tool ever refusing a call.
func TestRefreshNeedingMoreThanTheQuotaWaitsForTheWindow(t *testing.T) {
	t.Parallel()
	const (
		quota  = 8
		window = 3 * time.Second
		n      = 4500 // 9 pages of 500, plus zone discovery: more than the quota on its own
		// Connection tests spend 2 calls each (zone discovery, the field definitions). They fill
		// the window first, so that the quota, not the time a page takes to record, sets the pace.
		tests = 3
	)
	w := newWorld(t)
	svc := w.service(true)
	integ := w.connect(svc, "autotask", domain.BudgetPolicy{Requests: quota, Window: window, Concurrency: 3})
	sim := w.sim("autotask")
	seed(sim, n, "Quota")
	sim.SetQuota(quota, window)
	sim.Acct.Reset()

	start := time.Now()
	for range tests {
		if res, err := svc.TestIntegration(w.ctx(), w.account, integ.ID); err != nil || !res.OK {
			t.Fatalf("connection test: %v %+v", err, res)
		}
	}
	op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	done := w.waitOperation(svc, op.ID, 25*time.Second, nil)
	elapsed := time.Since(start)
	if done.State != domain.OpSucceeded {
		t.Fatalf("refresh ended %v: %s %s", done.State, done.ErrorReason, done.ErrorMessage)
	}
	if done.Progress.ItemsDone != n || done.Result.Created != n {
		t.Fatalf("progress %+v result %+v, want all %d companies", done.Progress, done.Result, n)
	}
	s := sim.Acct.Snapshot()
	checkQuotaHeld(t, s, quota, 3)
	if refresh := s.Total - 2*tests; refresh <= quota {
		t.Fatalf("the refresh made %d requests; the test needs more than the quota of %d", refresh, quota)
	}
	if s.MaxInWindow != quota {
		t.Fatalf("at most %d requests in one window: the test never pressed the quota of %d", s.MaxInWindow, quota)
	}
	if elapsed < window {
		t.Fatalf("%d requests against %d per %v took only %v: the budget did not wait for the window", s.Total, quota, window, elapsed)
	}
}

// Two integration-sync processes over one database spend from one budget: process A refreshes
// while process B tests the connection from three goroutines at once, and the tool still sees
// neither its quota nor its concurrency limit exceeded.
func TestTwoProcessesShareTheQuota(t *testing.T) {
	t.Parallel()
	const (
		quota  = 10
		window = 2 * time.Second
		n      = 4500
		// Each connection test is two calls (zone discovery, the field definitions).
		testers, testsEach = 3, 3
	)
	w := newWorld(t)
	a := w.service(true)
	b := w.service(false)
	integ := w.connect(a, "autotask", domain.BudgetPolicy{Requests: quota, Window: window, Concurrency: 3})
	sim := w.sim("autotask")
	seed(sim, n, "Shared")
	sim.SetQuota(quota, window)
	// Slow enough that B's concurrent calls overlap with each other and with A's pages.
	sim.Faults.SetLatency(30 * time.Millisecond)
	sim.Acct.Reset()

	op, err := a.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, testers*testsEach)
	for range testers {
		wg.Go(func() {
			for range testsEach {
				res, err := b.TestIntegration(w.ctx(), w.account, integ.ID)
				switch {
				case err != nil:
					errs <- err
				case !res.OK:
					errs <- errors.New("connection test failed: " + res.Message)
				}
			}
		})
	}
	done := w.waitOperation(a, op.ID, 25*time.Second, nil)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("process B: %v", err)
	}
	if done.State != domain.OpSucceeded || done.Progress.ItemsDone != n {
		t.Fatalf("process A's refresh ended %v (%s %s), %d items", done.State, done.ErrorReason, done.ErrorMessage, done.Progress.ItemsDone)
	}
	s := sim.Acct.Snapshot()
	checkQuotaHeld(t, s, quota, 3)
	if s.MaxInWindow != quota {
		t.Fatalf("at most %d requests in one window: the test never pressed the quota of %d", s.MaxInWindow, quota)
	}
}

// arrival is one request a recorder saw: when it arrived, when its answer was written, and the
// status of that answer.
type arrival struct {
	path      string
	at, ended time.Time
	status    int
}

// recorder sits in front of a simulator and keeps every request's arrival.
type recorder struct {
	next http.Handler
	// before runs before the simulator serves a request (to inject a fault into it), after once
	// it has answered.
	before func(r *http.Request)
	after  func(a arrival)

	mu   sync.Mutex
	seen []arrival
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := arrival{path: r.Method + " " + r.URL.Path, at: time.Now()}
	rec.mu.Lock()
	n := len(rec.seen) + 1
	rec.seen = append(rec.seen, a) // completed once answered; a request still open counts as arrived
	rec.mu.Unlock()
	if rec.before != nil {
		rec.before(r)
	}
	sw := &statusWriter{ResponseWriter: w}
	rec.next.ServeHTTP(sw, r)
	a.ended, a.status = time.Now(), sw.status
	rec.mu.Lock()
	rec.seen[n-1] = a
	rec.mu.Unlock()
	if rec.after != nil {
		rec.after(a)
	}
}

func (rec *recorder) arrivals() []arrival {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]arrival(nil), rec.seen...)
}

// A 429 with Retry-After: 2 in the middle of an IT Glue refresh holds every call on the
// integration, the refresh's retry and another process's connection test alike, until 2 s after
// the answer; the refresh then finishes.
func TestRetryAfterIsNeverCutShort(t *testing.T) {
	t.Parallel()
	const (
		n          = 2500 // 3 pages of 1000
		retryAfter = 2
	)
	w := newWorld(t)
	a := w.service(true)
	b := w.service(false)
	sim := itglue.New(itglue.Options{APIKey: simulators.ITGlueAPIKey})
	seed(sim.Tool(), n, "Retry")
	refused := make(chan arrival, 1)
	var listings atomic.Int32
	rec := &recorder{next: sim}
	rec.before = func(r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/organizations" {
			return
		}
		// Only the refresh lists: the second page is refused.
		if listings.Add(1) == 2 {
			sim.Tool().Faults.Inject(simkit.Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter})
		}
	}
	rec.after = func(a arrival) {
		if a.status == http.StatusTooManyRequests {
			select {
			case refused <- a:
			default:
			}
		}
	}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	integ, err := a.CreateIntegration(w.ctx(), w.account, app.IntegrationInput{Kind: "itglue", Endpoint: srv.URL,
		Credentials: map[string]string{"apiKey": simulators.ITGlueAPIKey}})
	if err != nil {
		t.Fatal(err)
	}
	op, err := a.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}

	var limited arrival
	select {
	case limited = <-refused:
	case <-time.After(15 * time.Second):
		t.Fatal("the injected 429 was never served")
	}
	// Once the block is recorded (and visible in the API), another process's call must honor it
	// too. A call it had already started before the block was known could not have.
	deadline := time.Now().Add(retryAfter * time.Second)
	for {
		v, err := b.GetIntegration(w.ctx(), w.account, integ.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Usage.BlockedUntil.IsZero() {
			if v.Usage.BlockedUntil.Before(limited.ended.Add(retryAfter * time.Second)) {
				t.Fatalf("blocked until %v, earlier than Retry-After from the 429 at %v", v.Usage.BlockedUntil, limited.ended)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 429's Retry-After never showed in the integration's budget")
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := b.TestIntegration(w.ctx(), w.account, integ.ID)
	if err != nil || !res.OK {
		t.Fatalf("process B's connection test: %v %+v", err, res)
	}

	done := w.waitOperation(a, op.ID, 15*time.Second, nil)
	if done.State != domain.OpSucceeded || done.Progress.ItemsDone != n {
		t.Fatalf("refresh ended %v (%s %s), %d items", done.State, done.ErrorReason, done.ErrorMessage, done.Progress.ItemsDone)
	}
	earliest := limited.ended.Add(retryAfter * time.Second)
	after := 0
	for _, x := range rec.arrivals() {
		if !x.at.After(limited.at) {
			continue
		}
		after++
		if x.at.Before(earliest) {
			t.Errorf("%s arrived %v after the 429 was answered; Retry-After was %d s", x.path, x.at.Sub(limited.ended), retryAfter)
		}
	}
	// The refresh's retry and its last page, and B's test.
	if after < 3 {
		t.Fatalf("%d requests after the 429, want the retry, the last page and B's test", after)
	}
}

// A tool that refuses the credentials is called at most StopAfterAuthFailures (3) times in a
// row by the automatic callers: the refresh that finds out, then webhook deliveries, after which
// nothing reaches the tool. Refreshes of the rejected integration are refused without a call;
// a person's connection test is an explicit retry and reaches the tool once.
func TestRepeatedAuthFailuresStopCallingTheTool(t *testing.T) {
	t.Parallel()
	stopAfter := app.DefaultConfig().StopAfterAuthFailures // the harness keeps the default
	for _, kind := range []string{"connectwise", "autotask"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			svc := w.service(true)
			integ := w.connect(svc, kind, domain.BudgetPolicy{})
			sim := w.sim(kind)
			seed(sim, 5, "Auth")
			recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if _, err := svc.DeliverWebhook(r.Context(), integ.ID, r.Header, body); err != nil {
					rw.WriteHeader(http.StatusUnauthorized)
					return
				}
				rw.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(recv.Close)
			sim.SetWebhook(recv.URL, simulators.WebhookSecret)

			sim.Faults.SetRejectCredentials(true)
			sim.Acct.Reset()
			for i := range 5 {
				op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
				if i == 0 {
					if err != nil {
						t.Fatal(err)
					}
					done := w.waitOperation(svc, op.ID, 15*time.Second, nil)
					if done.State != domain.OpFailed || done.ErrorReason != domain.ReasonCredentialsRejected {
						t.Fatalf("refresh with refused credentials ended %v %s", done.State, done.ErrorReason)
					}
					continue
				}
				if !errors.Is(err, domain.ErrCredentialsRejected) {
					t.Fatalf("refresh %d of a rejected integration: %v", i+1, err)
				}
			}
			// Each change in the tool delivers a signed webhook, whose fetch of the company is
			// refused.
			companies := sim.Store.All()
			var atStop simkit.Stats
			for i := range 5 {
				sim.Store.Update(companies[i].ID, false, func(c *simkitCompany) { c.Name += " changed" })
				sim.WaitWebhooks()
				if s := sim.Acct.Snapshot(); s.Unauthorized >= stopAfter && atStop.Total == 0 {
					atStop = s
				}
			}
			s := sim.Acct.Snapshot()
			if s.Unauthorized != stopAfter {
				t.Fatalf("the tool refused %d calls, want the calls to stop at %d (requests by route: %v)", s.Unauthorized, stopAfter, s.Requests)
			}
			if s.Total != atStop.Total {
				t.Fatalf("%d requests reached the tool after the stop", s.Total-atStop.Total)
			}
			v, err := svc.GetIntegration(w.ctx(), w.account, integ.ID)
			if err != nil {
				t.Fatal(err)
			}
			if v.State != domain.StateCredentialsRejected || v.StateMessage == "" {
				t.Fatalf("integration state %v %q, want CREDENTIALS_REJECTED with the tool's message", v.State, v.StateMessage)
			}
			if v.Usage.AuthFailures < stopAfter {
				t.Fatalf("the budget shows %d auth failures, want at least %d", v.Usage.AuthFailures, stopAfter)
			}

			// A person testing the connection retries once, and is told.
			res, err := svc.TestIntegration(w.ctx(), w.account, integ.ID)
			if err != nil || res.OK || res.Message == "" {
				t.Fatalf("test with refused credentials: %v %+v", err, res)
			}
			if got := sim.Acct.Snapshot().Unauthorized; got != stopAfter+1 {
				t.Fatalf("a connection test reached the tool %d times, want once", got-stopAfter)
			}
		})
	}
}

// The budget is visible in the API: before any call the full limit remains; after a refresh the
// requests it spent are counted as used, and when the oldest leaves the window is shown.
func TestBudgetUsageIsVisible(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(true)
	integ := w.connect(svc, "itglue", domain.BudgetPolicy{})
	if u := integ.Usage; u.Limit != 3000 || u.Used != 0 || u.Remaining != 3000 || u.Window != 5*time.Minute {
		t.Fatalf("usage before any call: %+v, want IT Glue's 3000 per 5 minutes unspent", u)
	}
	sim := w.sim("itglue")
	seed(sim, 1500, "Usage")
	sim.Acct.Reset()
	start := time.Now()
	op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	if done := w.waitOperation(svc, op.ID, 15*time.Second, nil); done.State != domain.OpSucceeded {
		t.Fatalf("refresh ended %v: %s", done.State, done.ErrorMessage)
	}
	v, err := svc.GetIntegration(w.ctx(), w.account, integ.ID)
	if err != nil {
		t.Fatal(err)
	}
	u := v.Usage
	calls := sim.Acct.Snapshot().Total
	if u.Used != calls || u.Used == 0 {
		t.Fatalf("usage shows %d used; the tool served %d", u.Used, calls)
	}
	if u.Limit != 3000 || u.Remaining != u.Limit-u.Used {
		t.Fatalf("usage %+v: remaining is not limit - used", u)
	}
	if u.ResetsAt.Before(start.Add(u.Window)) || u.ResetsAt.After(time.Now().Add(u.Window+10*time.Second)) {
		t.Fatalf("resets at %v, want about one window (%v) after the refresh's first call at %v", u.ResetsAt, u.Window, start)
	}
}
