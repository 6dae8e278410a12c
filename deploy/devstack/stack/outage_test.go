package stack_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
)

// pgProxy keeps one address for a Postgres that comes back on another port after a restart, as a
// Kubernetes Service does; stopping the real server behind it is the outage.
type pgProxy struct {
	lis    net.Listener
	mu     sync.Mutex
	target string
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{lis: lis, target: target}
	t.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *pgProxy) retarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

func (p *pgProxy) serve(c net.Conn) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", target, time.Second)
	if err != nil {
		_ = c.Close() // refused, as the real server's port would be
		return
	}
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}

func hostPort(t *testing.T, url string) string {
	t.Helper()
	_, rest, _ := strings.Cut(url, "@")
	hp, _, _ := strings.Cut(rest, "/")
	return hp
}

// Issue 12 Build 8 and 7: with the suite's Postgres stopped, every call kind (operator and API
// key, read and write) answers 503 with Retry-After and RetryInfo, never 500; readiness says
// NOT_SERVING with the reason; and everything recovers on its own when Postgres returns.
func TestPostgresOutageIs503OnEveryCallKindAndReadinessFollows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A private server of this test's own, which it may stop: Ensure would otherwise return the
	// shared DATABASE_URL. The test is not parallel, so no other test reads the variable meanwhile.
	private := func() (*pgcluster.Server, error) {
		shared := os.Getenv("DATABASE_URL")
		os.Setenv("DATABASE_URL", "")
		defer os.Setenv("DATABASE_URL", shared)
		return pgcluster.Ensure(ctx, pgcluster.Options{DataDir: dir, SkipDefaultPort: true, Unsynced: true})
	}
	pg, err := private()
	if err != nil {
		t.Skipf("no private postgres: %v", err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	proxy := newPGProxy(t, hostPort(t, pg.URL))
	viaProxy := strings.Replace(pg.URL, hostPort(t, pg.URL), proxy.lis.Addr().String(), 1)

	s := startStack(t, func(o *stack.Options) { o.DatabaseURL = viaProxy })
	created := s.do("POST", "/v1/accounts", operatorToken, accountBody("Outage MSP"))
	if created.code != http.StatusOK {
		t.Fatalf("create account = %d %s", created.code, created.body)
	}
	m := created.json(t)
	account := m["account"].(map[string]any)["id"].(string)
	key := m["administratorApiKey"].(string)
	calls := []struct{ name, method, path, token, body string }{
		{"operator read", "GET", "/v1/accounts/" + account, operatorToken, ""},
		{"operator write", "POST", "/v1/accounts", operatorToken, accountBody("During The Outage")},
		{"api key read", "GET", "/v1/accounts/" + account + "/organizations", key, ""},
		{"api key write", "POST", "/v1/accounts/" + account + "/organizations", key, `{"name":"Contoso"}`},
		{"api key billing read", "GET", "/v1/accounts/" + account + "/subscription/usage", key, ""},
	}
	waitReady := func(want int, reason string) map[string]any {
		t.Helper()
		var last response
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			last = s.doQuiet("GET", "/readyz", "", "")
			// During the outage, wait for every service to have noticed (none still "SERVING").
			allNoticed := want == http.StatusOK || !strings.Contains(string(last.body), `"SERVING"`)
			if last.code == want && strings.Contains(string(last.body), reason) && allNoticed {
				var body map[string]any
				_ = json.Unmarshal(last.body, &body)
				return body
			}
		}
		t.Fatalf("readyz = %d %s, want %d with %q", last.code, last.body, want, reason)
		return nil
	}
	waitReady(http.StatusOK, "")

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	body := waitReady(http.StatusServiceUnavailable, "database unreachable")
	t.Logf("readyz during the outage: %v", body["services"])
	for _, c := range calls {
		r := s.do(c.method, c.path, c.token, c.body)
		if r.code != http.StatusServiceUnavailable {
			t.Errorf("%s: %d %s, want 503", c.name, r.code, r.body)
			continue
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", c.name)
		}
		if strings.Contains(string(r.body), "127.0.0.1") || strings.Contains(string(r.body), "dial tcp") {
			t.Errorf("%s: body names an internal address: %s", c.name, r.body)
		}
		if !strings.Contains(string(r.body), "RetryInfo") {
			t.Errorf("%s: no RetryInfo in %s", c.name, r.body)
		}
	}

	// Every route of the API document, with both credential kinds: a route either refuses the
	// request before it needs the database (a 4xx) or answers 503 with Retry-After; never 500.
	doc := s.do("GET", "/openapi.json", "", "")
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc.body, &spec); err != nil || len(spec.Paths) == 0 {
		t.Fatalf("openapi.json: %v (%d paths)", err, len(spec.Paths))
	}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	unavailable := 0
	for path, methods := range spec.Paths {
		concrete := param.ReplaceAllStringFunc(path, func(p string) string {
			if p == "{accountId}" {
				return account
			}
			return "0b6f3d5e-6f5c-4a59-9a57-1f3f0a6d0001"
		})
		for method, op := range methods {
			method = strings.ToUpper(method)
			body := ""
			if method != "GET" && method != "DELETE" {
				body = "{}"
			}
			for _, who := range []struct{ name, token string }{{"operator", operatorToken}, {"api key", key}} {
				var r response
				if streamingOperation(op) {
					r = s.openStream(method, concrete, who.token)
				} else {
					r = s.do(method, concrete, who.token, body)
				}
				switch {
				case r.code < 0:
					t.Errorf("%s %s as %s: %s", method, path, who.name, r.body)
				case r.code == http.StatusServiceUnavailable:
					unavailable++
					if r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "RetryInfo") {
						t.Errorf("%s %s as %s: 503 without Retry-After or RetryInfo: %s", method, path, who.name, r.body)
					}
				case r.code >= 500:
					t.Errorf("%s %s as %s: %d %s, want 503 or a refusal before the database", method, path, who.name, r.code, r.body)
				}
			}
		}
	}
	if unavailable == 0 {
		t.Error("no route answered 503 during the outage")
	}
	t.Logf("%d paths: %d answers were 503", len(spec.Paths), unavailable)

	pg, err = private()
	if err != nil {
		t.Fatal(err)
	}
	proxy.retarget(hostPort(t, pg.URL))
	waitReady(http.StatusOK, "")
	for _, c := range calls {
		if r := s.do(c.method, c.path, c.token, c.body); r.code != http.StatusOK {
			t.Errorf("after recovery, %s: %d %s", c.name, r.code, r.body)
		}
	}
}
