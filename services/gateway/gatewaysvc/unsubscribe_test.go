package gatewaysvc_test

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// The notification service's side of the pages is tested with the real service in the dev
// stack (deploy/devstack/stack/notification_test.go); here a stand-in behind the real gRPC
// server (identity and authorization interceptors included) records what the pages ask of it.

// goodToken is the one token the stand-in accepts.
const goodToken = "v1.good-token.signature"

// leakyRefusal is what a token library might say; no page may repeat it.
const leakyRefusal = "hmac: signature mismatch (key dev1)"

type fakeUnsubscribe struct {
	notificationv1.UnimplementedUnsubscribeServiceServer
	mu      sync.Mutex
	callers []identity.Identity
	tokens  []string
}

func (f *fakeUnsubscribe) Unsubscribe(ctx context.Context, req *notificationv1.UnsubscribeRequest) (*notificationv1.UnsubscribeResponse, error) {
	id, _ := identity.From(ctx)
	f.mu.Lock()
	f.callers = append(f.callers, id)
	f.tokens = append(f.tokens, req.GetToken())
	f.mu.Unlock()
	if req.GetToken() != goodToken {
		return nil, status.Error(codes.InvalidArgument, leakyRefusal)
	}
	return &notificationv1.UnsubscribeResponse{Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_REVIEW_ASSIGNED}, nil
}

func (f *fakeUnsubscribe) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

// serveNotification serves the stand-ins as the notification service, with its audience.
func serveNotification(t *testing.T, keys *identity.Keyring, unsub notificationv1.UnsubscribeServiceServer, feed notificationv1.NotificationServiceServer) string {
	t.Helper()
	srv, err := rpc.NewServer(slog.New(slog.DiscardHandler), keys, rpc.ServiceName("notification"))
	if err != nil {
		t.Fatal(err)
	}
	if unsub != nil {
		notificationv1.RegisterUnsubscribeServiceServer(srv, unsub)
	}
	if feed != nil {
		notificationv1.RegisterNotificationServiceServer(srv, feed)
	}
	return testkit.ServeGRPC(t, srv)
}

// serveFakeOrg serves a fakeOrg accepting keys (authfailures_test.go).
func serveFakeOrg(t *testing.T, keys ...string) string {
	t.Helper()
	org := &fakeOrg{valid: map[[32]byte]bool{}}
	for _, k := range keys {
		org.valid[sha256.Sum256([]byte(k))] = true
	}
	srv := grpc.NewServer()
	orgv1.RegisterAuthServiceServer(srv, org)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func pagesGateway(t *testing.T, keys *identity.Keyring, notificationAddr string) *httptest.Server {
	t.Helper()
	return startGateway(t, gatewaysvc.Config{Keys: keys, Upstreams: []gatewaysvc.Upstream{
		{Name: "org", Addr: serveFakeOrg(t)}, {Name: "notification", Addr: notificationAddr},
	}}, nil)
}

// startGateway serves a gateway over real HTTP; adjust, when set, changes the server (timeouts).
func startGateway(t *testing.T, cfg gatewaysvc.Config, adjust func(*http.Server)) *httptest.Server {
	t.Helper()
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.OperatorToken = operator
	g, err := gatewaysvc.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(g)
	if adjust != nil {
		adjust(srv.Config)
	}
	srv.Start()
	t.Cleanup(func() {
		g.Close()
		srv.Close()
	})
	return srv
}

type page struct {
	code   int
	header http.Header
	body   string
}

func fetchPage(t *testing.T, method, u, contentType, body string) page {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header, string(b)}
}

func form(token string) string { return url.Values{"token": {token}}.Encode() }

const formType = "application/x-www-form-urlencoded"

func TestUnsubscribePageAsksAndChangesNothing(t *testing.T) {
	keys := testkit.Keyring(t)
	unsub := &fakeUnsubscribe{}
	gw := pagesGateway(t, keys, serveNotification(t, keys, unsub, nil))

	p := fetchPage(t, "GET", gw.URL+"/unsubscribe?token="+url.QueryEscape(goodToken), "", "")
	if p.code != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET: %d %s %s", p.code, p.header.Get("Content-Type"), p.body)
	}
	for _, want := range []string{`method="post"`, `action="/unsubscribe"`, `name="token" value="` + goodToken + `"`, "Stop these emails?"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %q:\n%s", want, p.body)
		}
	}
	// The page must be able to send its form: the API's sandboxing policy would forbid it.
	csp := p.header.Get("Content-Security-Policy")
	if strings.Contains(csp, "sandbox") || !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if p.header.Get("Referrer-Policy") != "no-referrer" || p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v: the token could leak through a Referer or a cache", p.header)
	}
	// Fetched again, as scanners and previews do: still nothing asked of the service.
	fetchPage(t, "GET", gw.URL+"/unsubscribe?token="+url.QueryEscape(goodToken), "", "")
	fetchPage(t, "HEAD", gw.URL+"/unsubscribe?token="+url.QueryEscape(goodToken), "", "")
	if calls := unsub.calls(); len(calls) != 0 {
		t.Fatalf("a GET called Unsubscribe: %v", calls)
	}

	// What the link carries is text in the page, never markup.
	hostile := `"><script>alert(1)</script>`
	p = fetchPage(t, "GET", gw.URL+"/unsubscribe?token="+url.QueryEscape(hostile), "", "")
	if strings.Contains(p.body, "<script>") {
		t.Errorf("the token was written into the page as markup:\n%s", p.body)
	}
	for _, bad := range []string{"", strings.Repeat("x", 1025)} {
		if p := fetchPage(t, "GET", gw.URL+"/unsubscribe?token="+bad, "", ""); p.code != http.StatusBadRequest || !strings.Contains(p.body, "This link is not valid") {
			t.Errorf("GET with token %.10q…: %d %s", bad, p.code, p.body)
		}
	}
	if calls := unsub.calls(); len(calls) != 0 {
		t.Fatalf("a GET called Unsubscribe: %v", calls)
	}
}

func TestUnsubscribeFormAndOneClickCallTheServiceAsTheGateway(t *testing.T) {
	keys := testkit.Keyring(t)
	unsub := &fakeUnsubscribe{}
	gw := pagesGateway(t, keys, serveNotification(t, keys, unsub, nil))

	p := fetchPage(t, "POST", gw.URL+"/unsubscribe", formType, form(goodToken))
	if p.code != http.StatusOK || !strings.Contains(p.body, "You are unsubscribed") || !strings.Contains(p.body, "reviews assigned to you") {
		t.Fatalf("POST form: %d %s", p.code, p.body)
	}
	// RFC 8058: the mail client posts the fixed body to the URL it was given, token in the query.
	p = fetchPage(t, "POST", gw.URL+"/unsubscribe?token="+url.QueryEscape(goodToken), formType, "List-Unsubscribe=One-Click")
	if p.code != http.StatusOK || !strings.Contains(p.body, "reviews assigned to you") {
		t.Fatalf("one-click POST: %d %s", p.code, p.body)
	}
	if calls := unsub.calls(); len(calls) != 2 || calls[0] != goodToken || calls[1] != goodToken {
		t.Fatalf("Unsubscribe got %v, want the token twice", calls)
	}
	unsub.mu.Lock()
	defer unsub.mu.Unlock()
	for _, id := range unsub.callers {
		if id.Kind != identity.KindService || id.PrincipalID != "gateway" {
			t.Errorf("Unsubscribe called as %+v, want the gateway's service identity", id)
		}
	}
}

func TestUnsubscribeRefusesATamperedTokenInPlainWords(t *testing.T) {
	keys := testkit.Keyring(t)
	unsub := &fakeUnsubscribe{}
	gw := pagesGateway(t, keys, serveNotification(t, keys, unsub, nil))
	tampered := goodToken[:len(goodToken)-1] + "X"
	for name, req := range map[string]struct{ url, body string }{
		"form":      {gw.URL + "/unsubscribe", form(tampered)},
		"one-click": {gw.URL + "/unsubscribe?token=" + url.QueryEscape(tampered), "List-Unsubscribe=One-Click"},
		"no token":  {gw.URL + "/unsubscribe", "List-Unsubscribe=One-Click"},
	} {
		p := fetchPage(t, "POST", req.url, formType, req.body)
		if p.code != http.StatusBadRequest || !strings.Contains(p.body, "This link is not valid") {
			t.Errorf("%s: %d %s", name, p.code, p.body)
		}
		if strings.Contains(p.body, "hmac") || strings.Contains(p.body, "signature") || strings.Contains(p.body, "InvalidArgument") {
			t.Errorf("%s: the page repeats the service's words: %s", name, p.body)
		}
	}
	if calls := unsub.calls(); len(calls) != 2 {
		t.Errorf("Unsubscribe got %v: the empty token should not have been sent", calls)
	}
}

func TestUnsubscribeWhileTheServiceIsAwayIsA503Page(t *testing.T) {
	gw := pagesGateway(t, testkit.Keyring(t), closedAddr(t))
	p := fetchPage(t, "POST", gw.URL+"/unsubscribe", formType, form(goodToken))
	if p.code != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Nothing was changed") {
		t.Fatalf("%d %v %s", p.code, p.header, p.body)
	}
	if strings.Contains(p.body, "127.0.0.1") || strings.Contains(p.body, "connection refused") {
		t.Fatalf("the page names the service's address: %s", p.body)
	}
}

func TestUnsubscribePagesAreLimitedPerClientAddress(t *testing.T) {
	keys := testkit.Keyring(t)
	unsub := &fakeUnsubscribe{}
	gw := pagesGateway(t, keys, serveNotification(t, keys, unsub, nil))
	limited := 0
	for range 40 {
		p := fetchPage(t, "POST", gw.URL+"/unsubscribe", formType, form("guess"))
		if p.code == http.StatusTooManyRequests {
			limited++
			if p.header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After")
			}
		}
	}
	if limited < 15 || len(unsub.calls()) > 25 {
		t.Fatalf("%d of 40 guesses limited, %d reached the service", limited, len(unsub.calls()))
	}
}
