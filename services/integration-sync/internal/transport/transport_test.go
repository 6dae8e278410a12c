package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/integration-sync/internal/budget"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
	"github.com/orgplane/orgplane/services/integration-sync/internal/transport"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// replicas returns n Budgets over one fresh database, each on its own pool (n processes), and
// an integration configured with p.
func replicas(t *testing.T, n int, p connector.Budget) ([]*budget.Budgets, string) {
	t.Helper()
	spec := platform.Spec{Name: "integration-sync", Migrations: []postgres.MigrationSet{store.Migrations()}}
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	out := []*budget.Budgets{budget.New(db.Pool)}
	for range n - 1 {
		pool, err := postgres.Open(context.Background(), db.Config)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		out = append(out, budget.New(pool))
	}
	for _, b := range out {
		t.Cleanup(b.Close)
	}
	id := uuid.NewString()
	if err := out[0].Configure(context.Background(), id, p); err != nil {
		t.Fatal(err)
	}
	return out, id
}

var fast = transport.Options{BackoffInitial: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond}

// recorder is a vendor that answers from a script and remembers when each request arrived.
type recorder struct {
	mu       sync.Mutex
	arrivals []time.Time
	bodies   []string
	answer   func(n int, w http.ResponseWriter, r *http.Request) // n counts from 1
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.arrivals = append(rec.arrivals, time.Now())
	rec.bodies = append(rec.bodies, string(b))
	n := len(rec.arrivals)
	rec.mu.Unlock()
	rec.answer(n, w, r)
}

func (rec *recorder) count() int { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.arrivals) }

func serve(t *testing.T, rec *recorder) *httptest.Server {
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, error) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// A 429 with Retry-After: 2 blocks the integration on every replica: no request, from the
// client that got it or from another process's client, reaches the vendor within 2 s of it.
func TestRetryAfterHoldsEveryReplica(t *testing.T) {
	t.Parallel()
	rs, id := replicas(t, 2, connector.Budget{Requests: 1000, Window: time.Minute})
	var refusedAt atomic.Pointer[time.Time]
	rec := &recorder{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			now := time.Now()
			refusedAt.Store(&now)
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}}
	srv := serve(t, rec)
	var seen []int
	var mu sync.Mutex
	opts := fast
	opts.Observe = func(a transport.Attempt) { mu.Lock(); seen = append(seen, a.Status); mu.Unlock() }
	first := transport.New(nil, rs[0], id, opts)
	other := transport.New(nil, rs[1], id, fast)

	done := make(chan error, 1)
	go func() {
		resp, err := do(t, first, http.MethodGet, srv.URL+"/organizations", "")
		if err == nil && resp.StatusCode != http.StatusOK {
			err = errors.New(resp.Status)
		}
		done <- err
	}()
	// The other replica calls once the block is recorded.
	for deadline := time.Now().Add(5 * time.Second); ; {
		u, err := rs[1].Usage(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !u.BlockedUntil.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 429 never blocked the budget")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := do(t, other, http.MethodGet, srv.URL+"/organizations/1", "")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("other replica: %v %v", resp, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the client that got the 429: %v", err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.arrivals) != 3 {
		t.Fatalf("vendor saw %d requests, want 3 (the 429, its retry, the other replica's)", len(rec.arrivals))
	}
	at := *refusedAt.Load()
	for i, a := range rec.arrivals[1:] {
		if gap := a.Sub(at); gap < 2*time.Second {
			t.Fatalf("request %d reached the vendor %s after the 429 with Retry-After: 2", i+2, gap)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != 429 || seen[1] != 200 {
		t.Fatalf("attempts observed: %v, want [429 200]", seen)
	}
}

// Server errors of requests safe to repeat are retried, with the body replayed; a POST that
// creates is never repeated.
func TestServerErrors(t *testing.T) {
	t.Parallel()
	rs, id := replicas(t, 1, connector.Budget{Requests: 1000, Window: time.Minute})

	t.Run("GET retried until it succeeds", func(t *testing.T) {
		rec := &recorder{answer: func(n int, w http.ResponseWriter, r *http.Request) {
			switch n {
			case 1:
				w.WriteHeader(http.StatusInternalServerError)
			case 2:
				w.WriteHeader(http.StatusServiceUnavailable)
			default:
				w.WriteHeader(http.StatusOK)
			}
		}}
		srv := serve(t, rec)
		rt := transport.NewRoundTripper(nil, rs[0], id, fast)
		resp, err := do(t, &http.Client{Transport: rt}, http.MethodGet, srv.URL+"/company/companies", "")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("got %v, %v; want 200 after two retries", resp, err)
		}
		if n := rec.count(); n != 3 {
			t.Fatalf("vendor saw %d requests, want 3", n)
		}
		if s := rt.Stats(); s.Attempts != 3 || s.Retries != 2 {
			t.Fatalf("stats %+v, want 3 attempts, 2 retries", s)
		}
	})
	t.Run("read-only POST query retried with its body", func(t *testing.T) {
		rec := &recorder{answer: func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			w.WriteHeader(http.StatusOK)
		}}
		srv := serve(t, rec)
		body := `{"MaxRecords":500,"filter":[{"op":"gt","field":"id","value":0}]}`
		resp, err := do(t, transport.New(nil, rs[0], id, fast), http.MethodPost, srv.URL+"/v1.0/Companies/query", body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("got %v, %v", resp, err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.bodies) != 2 || rec.bodies[0] != body || rec.bodies[1] != body {
			t.Fatalf("bodies sent: %q, want the query twice", rec.bodies)
		}
	})
	t.Run("POST create not retried", func(t *testing.T) {
		rec := &recorder{answer: func(n int, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
		}}
		srv := serve(t, rec)
		resp, err := do(t, transport.New(nil, rs[0], id, fast), http.MethodPost, srv.URL+"/company/companies", `{"name":"Acme"}`)
		if err != nil || resp.StatusCode != 500 {
			t.Fatalf("got %v, %v; want the 500 itself", resp, err)
		}
		if n := rec.count(); n != 1 {
			t.Fatalf("vendor saw %d creates, want 1", n)
		}
	})
	t.Run("GET gives up after MaxAttempts", func(t *testing.T) {
		rec := &recorder{answer: func(n int, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}}
		srv := serve(t, rec)
		resp, err := do(t, transport.New(nil, rs[0], id, fast), http.MethodGet, srv.URL+"/organizations", "")
		if err != nil || resp.StatusCode != 503 {
			t.Fatalf("got %v, %v; want the last 503", resp, err)
		}
		if n := rec.count(); n != 4 {
			t.Fatalf("vendor saw %d requests, want MaxAttempts (4)", n)
		}
	})
	t.Run("timeout retried", func(t *testing.T) {
		rec := &recorder{answer: func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				select {
				case <-r.Context().Done():
				case <-time.After(2 * time.Second):
				}
				return
			}
			w.WriteHeader(http.StatusOK)
		}}
		srv := serve(t, rec)
		opts := fast
		opts.AttemptTimeout = 200 * time.Millisecond
		resp, err := do(t, transport.New(nil, rs[0], id, opts), http.MethodGet, srv.URL+"/organizations", "")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("got %v, %v; want 200 after a timed-out attempt", resp, err)
		}
		if n := rec.count(); n != 2 {
			t.Fatalf("vendor saw %d requests, want 2", n)
		}
	})
}

// Three refusals of the credentials stop the integration: the fourth call never reaches the
// vendor, until AuthSucceeded.
func TestAuthFailuresStopTheIntegration(t *testing.T) {
	t.Parallel()
	rs, id := replicas(t, 1, connector.Budget{Requests: 1000, Window: time.Minute})
	var allow atomic.Bool
	rec := &recorder{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if allow.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}}
	srv := serve(t, rec)
	c := transport.New(nil, rs[0], id, fast)
	for i := range 3 {
		resp, err := do(t, c, http.MethodGet, srv.URL+"/organizations", "")
		if err != nil || resp.StatusCode != 401 {
			t.Fatalf("call %d: %v, %v; want the 401 (not retried)", i+1, resp, err)
		}
	}
	if n := rec.count(); n != 3 {
		t.Fatalf("vendor saw %d requests, want 3", n)
	}
	for range 2 {
		if _, err := do(t, c, http.MethodGet, srv.URL+"/organizations", ""); !errors.Is(err, transport.ErrStopped) {
			t.Fatalf("after 3 refusals: %v, want ErrStopped", err)
		}
	}
	if n := rec.count(); n != 3 {
		t.Fatalf("a stopped integration reached the vendor: %d requests", n)
	}
	// Credentials replaced and verified.
	if err := rs[0].AuthSucceeded(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	allow.Store(true)
	if resp, err := do(t, c, http.MethodGet, srv.URL+"/organizations", ""); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after AuthSucceeded: %v, %v", resp, err)
	}

	// A success between refusals resets the count.
	allow.Store(false)
	do(t, c, http.MethodGet, srv.URL+"/organizations", "")
	do(t, c, http.MethodGet, srv.URL+"/organizations", "")
	allow.Store(true)
	do(t, c, http.MethodGet, srv.URL+"/organizations", "")
	if u, err := rs[0].Usage(t.Context(), id); err != nil || u.AuthFailures != 0 {
		t.Fatalf("after a 2xx: %d failures, %v; want 0", u.AuthFailures, err)
	}
}

// A response holds its concurrency slot until its body is closed.
func TestSlotHeldUntilBodyClosed(t *testing.T) {
	t.Parallel()
	rs, id := replicas(t, 1, connector.Budget{Requests: 1000, Window: time.Minute, Concurrency: 1})
	rec := &recorder{answer: func(n int, w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") }}
	srv := serve(t, rec)
	c := transport.New(nil, rs[0], id, fast)
	held, err := c.Get(srv.URL + "/organizations")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(short, http.MethodGet, srv.URL+"/organizations", nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second call while the first body is open: %v, want it to wait", err)
	}
	held.Body.Close()
	if resp, err := do(t, c, http.MethodGet, srv.URL+"/organizations", ""); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the body closed: %v, %v", resp, err)
	}
}

// Two replicas' clients against a vendor that counts exactly (simkit.Window, 20 per 2 s):
// the vendor never refuses one, and all calls finish once the window moves.
func TestVendorQuotaNeverExceeded(t *testing.T) {
	t.Parallel()
	rs, id := replicas(t, 2, connector.Budget{Requests: 20, Window: 2 * time.Second})
	quota := simkit.NewWindow(20, 2*time.Second)
	var refused, served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := quota.Take(); !ok {
			refused.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		served.Add(1)
		w.Write(bytes.Repeat([]byte("x"), 100))
	}))
	t.Cleanup(srv.Close)
	clients := []*http.Client{transport.New(nil, rs[0], id, fast), transport.New(nil, rs[1], id, fast)}
	const total = 45
	var next atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for g := range 6 {
		c := clients[g%2]
		wg.Go(func() {
			for next.Add(1) <= total {
				resp, err := do(t, c, http.MethodGet, srv.URL+"/organizations", "")
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("call: %v %v", resp, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if r := refused.Load(); r != 0 {
		t.Fatalf("the vendor refused %d calls: the budget let more than 20 through in 2 s", r)
	}
	if s := served.Load(); s != total {
		t.Fatalf("vendor served %d, want %d", s, total)
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Fatalf("45 calls at 20 per 2 s took %s", took)
	}
}
