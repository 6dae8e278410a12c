package simkit

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Tool is one simulated vendor: its companies, faults, accounting and quota, and the middleware
// every vendor route goes through. A vendor package builds its routes with Handle.
type Tool struct {
	Store  *Store
	Faults *Faults
	Acct   *Accounting
	Quota  *Window
	// Concurrency is how many requests one route pattern may serve at once (0: no limit);
	// beyond it the tool answers 429 (Autotask: 3 per endpoint).
	Concurrency int
	// ErrorBody renders the vendor's error shape for a status and message.
	ErrorBody func(status int, message string) (contentType string, body []byte)

	mux    *http.ServeMux
	writes writeLog

	hookMu     sync.Mutex
	hookURL    string
	hookSecret string
	hookBuild  func(action string, c Company, secret string) (http.Header, []byte)
	hookClient *http.Client
	hookWG     sync.WaitGroup
}

// NewTool returns a tool over store with an open quota, and its control API mounted.
func NewTool(store *Store, errorBody func(int, string) (string, []byte)) *Tool {
	t := &Tool{Store: store, Faults: &Faults{}, Acct: NewAccounting(time.Hour), Quota: NewWindow(0, time.Hour),
		ErrorBody: errorBody, mux: http.NewServeMux(), hookClient: &http.Client{Timeout: 10 * time.Second}}
	t.mountControl()
	store.OnChange(t.deliver)
	return t
}

// Mux is where the vendor mounts its routes; the tool's http.Handler.
func (t *Tool) Mux() *http.ServeMux { return t.mux }

// ServeHTTP serves the vendor's routes and the control API.
func (t *Tool) ServeHTTP(w http.ResponseWriter, r *http.Request) { t.mux.ServeHTTP(w, r) }

// Handle mounts a vendor route: pattern is an http.ServeMux pattern ("GET /organizations");
// auth checks the request's credentials and returns the vendor's refusal (status, message)
// or 0; h serves it. Accounting, injected faults, credentials, the concurrency limit and the
// quota are applied in that order, as a vendor's edge would.
func (t *Tool) Handle(pattern string, auth func(*http.Request) (int, string), h http.HandlerFunc) {
	t.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		n := t.Acct.Begin(pattern)
		defer t.Acct.End(pattern)
		if t.Faults.Apply(w, r, func(status int) (string, []byte) { return t.ErrorBody(status, http.StatusText(status)) }) {
			return
		}
		if auth != nil {
			status, msg := auth(r)
			if status == 0 && t.Faults.RejectCredentials() {
				status, msg = http.StatusUnauthorized, "invalid credentials"
			}
			if status != 0 {
				t.Acct.Unauthorized()
				t.Error(w, status, msg)
				return
			}
		}
		if t.Concurrency > 0 && n > t.Concurrency {
			t.Acct.Refused()
			t.Error(w, http.StatusTooManyRequests, "too many concurrent requests on "+pattern)
			return
		}
		ok, wait := t.Quota.Take()
		if !ok {
			t.Acct.Refused()
			w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
			t.Error(w, http.StatusTooManyRequests, "request quota exceeded")
			return
		}
		t.Acct.Accepted(time.Now())
		h(w, r)
	})
}

// Error writes the vendor's error shape.
func (t *Tool) Error(w http.ResponseWriter, status int, message string) {
	ct, b := t.ErrorBody(status, message)
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteJSON writes v as JSON with contentType.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// SetQuota changes the quota and the window MaxInWindow is measured over.
func (t *Tool) SetQuota(limit int, span time.Duration) {
	t.Quota.Set(limit, span)
	t.Acct.SetSpan(span)
}

// Webhooks makes the tool deliver a signed webhook for every company change: build renders the
// vendor's body and headers (signature included) for the configured secret. Deliveries go to
// the URL set through the control API (PUT /_control/webhook), none until then.
func (t *Tool) Webhooks(build func(action string, c Company, secret string) (http.Header, []byte)) {
	t.hookMu.Lock()
	t.hookBuild = build
	t.hookMu.Unlock()
}

// SetWebhook sets where deliveries go and the secret they are signed with ("" url: none).
func (t *Tool) SetWebhook(url, secret string) {
	t.hookMu.Lock()
	t.hookURL, t.hookSecret = url, secret
	t.hookMu.Unlock()
}

// WaitWebhooks waits for deliveries in flight (tests).
func (t *Tool) WaitWebhooks() { t.hookWG.Wait() }

func (t *Tool) deliver(action string, c Company) {
	t.hookMu.Lock()
	url, secret, build := t.hookURL, t.hookSecret, t.hookBuild
	t.hookMu.Unlock()
	if url == "" || build == nil {
		return
	}
	h, body := build(action, c, secret)
	t.hookWG.Add(1)
	go func() {
		defer t.hookWG.Done()
		// A vendor retries failed deliveries for a while; three tries a second apart do here.
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				cancel()
				return
			}
			req.Header = h.Clone()
			resp, err := t.hookClient.Do(req)
			cancel()
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode < 500 {
					return
				}
			}
			time.Sleep(time.Second)
		}
	}()
}
