package gatewaysvc_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
	"github.com/orgplane/orgplane/services/gateway/internal/openapi"
)

// routes lists every operation of the published API document with its parameters filled in.
func routes(t *testing.T) [][2]string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	var out [][2]string
	for path, methods := range doc.Paths {
		for method := range methods {
			out = append(out, [2]string{strings.ToUpper(method), param.ReplaceAllString(path, "00000000-0000-4000-8000-000000000001")})
		}
	}
	if len(out) < 30 {
		t.Fatalf("only %d routes in the document", len(out))
	}
	return out
}

func gatewayWithOrigins(t *testing.T, origins ...string) (http.Handler, error) {
	g, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log: slog.New(slog.DiscardHandler), Keys: testkit.Keyring(t), OperatorToken: operator,
		Upstreams: []gatewaysvc.Upstream{{Name: "org", Addr: "127.0.0.1:1"}}, CORSOrigins: origins,
	})
	if err == nil {
		t.Cleanup(g.Close)
	}
	return g, err
}

// hostile are origins a page could have that only resemble the allowed one.
var hostile = []string{
	"https://evil.example.net", "https://app.example.com.evil.net", "https://evilapp.example.com",
	"https://sub.app.example.com", "http://app.example.com", "https://app.example.com:8443", "null",
	"https://APP.EXAMPLE.COM", "https://app.example.com/", "",
}

func TestCORSAnswersOnlyTheListedOriginsOnEveryRoute(t *testing.T) {
	const allowed = "https://app.example.com"
	none, err := gatewayWithOrigins(t)
	if err != nil {
		t.Fatal(err)
	}
	one, err := gatewayWithOrigins(t, allowed)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(h http.Handler, method, path, origin string, preflight bool) http.Header {
		var r *http.Request
		if preflight {
			r = httptest.NewRequest("OPTIONS", path, nil)
			r.Header.Set("Access-Control-Request-Method", method)
			r.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-csrf-token")
		} else {
			r = httptest.NewRequest(method, path, strings.NewReader("{}"))
			r.Header.Set("Authorization", "Bearer "+operator+"-wrong")
		}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Header()
	}
	for _, rt := range routes(t) {
		method, path := rt[0], rt[1]
		for _, preflight := range []bool{true, false} {
			for _, origin := range append([]string{allowed}, hostile...) {
				if got := ask(none, method, path, origin, preflight).Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("no origins configured, %s %s from %q (preflight %v): Access-Control-Allow-Origin %q",
						method, path, origin, preflight, got)
				}
			}
			for _, origin := range hostile {
				h := ask(one, method, path, origin, preflight)
				if got := h.Get("Access-Control-Allow-Origin"); got != "" || h.Get("Access-Control-Allow-Credentials") != "" {
					t.Errorf("%s %s from %q (preflight %v): Access-Control-Allow-Origin %q, credentials %q", method, path, origin, preflight,
						got, h.Get("Access-Control-Allow-Credentials"))
				}
			}
			// The allowed origin's pages may send the session cookie and its CSRF token (the
			// preflight asks for X-CSRF-Token); no other origin's may.
			h := ask(one, method, path, allowed, preflight)
			if h.Get("Access-Control-Allow-Origin") != allowed || h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("%s %s from the allowed origin (preflight %v): %v", method, path, preflight, h)
			}
			if preflight && !strings.Contains(h.Get("Access-Control-Allow-Methods"), method) {
				t.Errorf("%s %s preflight allows methods %q", method, path, h.Get("Access-Control-Allow-Methods"))
			}
			if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Errorf("%s %s: answer varies by Origin without saying so: %v", method, path, h.Values("Vary"))
			}
		}
	}
}

func TestCORSConfigurationTakesExactOriginsOnly(t *testing.T) {
	for _, bad := range []string{"*", "https://*.example.com", "*.example.com", "null", "app.example.com",
		"https://app.example.com/", "https://app.example.com/ui", "https://app.example.com?x", "https://user@app.example.com",
		"https://app.example.com:443", "http://app.example.com:80", "https://app.example.com:0", "https://app.example.com:080",
		"ftp://app.example.com", "https://bücher.example", "https://"} {
		if _, err := gatewayWithOrigins(t, "https://fine.example.com", bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("origin %q: %v, want an error naming it", bad, err)
		}
	}
	// Scheme and host are case-insensitive; they are kept as browsers send them.
	h, err := gatewayWithOrigins(t, " HTTPS://App.Example.com ", "http://[::1]:3000", "http://localhost:5173")
	if err != nil {
		t.Fatal(err)
	}
	for _, origin := range []string{"https://app.example.com", "http://[::1]:3000", "http://localhost:5173"} {
		r := httptest.NewRequest("OPTIONS", "/v1/accounts", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "GET")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Header().Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("%s: %v", origin, w.Header())
		}
	}
}
