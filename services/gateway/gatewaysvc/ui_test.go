package gatewaysvc_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/services/gateway/ui"
)

// What a browser sends when it opens a page, and what API clients send.
const (
	browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	jsonAccept    = "application/json"
)

const uiCSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func uiGateway(t *testing.T) http.Handler {
	t.Helper()
	g, err := gatewayWithOrigins(t)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func fetch(g http.Handler, method, path, accept string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}

func indexHTML(t *testing.T) []byte {
	t.Helper()
	b, err := fs.ReadFile(ui.FS, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requirePage checks that w is the UI's page, served as the SPA fallback.
func requirePage(t *testing.T, what string, w *httptest.ResponseRecorder, index []byte) {
	t.Helper()
	h := w.Header()
	switch {
	case w.Code != http.StatusOK:
		t.Errorf("%s: %d, want the page", what, w.Code)
	case !bytes.Equal(w.Body.Bytes(), index):
		t.Errorf("%s: the body is not index.html: %.120q", what, w.Body.String())
	case !strings.HasPrefix(h.Get("Content-Type"), "text/html"):
		t.Errorf("%s: Content-Type %q", what, h.Get("Content-Type"))
	case h.Get("Cache-Control") != "no-cache":
		t.Errorf("%s: Cache-Control %q, want no-cache (a new build must reach the browser)", what, h.Get("Cache-Control"))
	case h.Get("Content-Security-Policy") != uiCSP:
		t.Errorf("%s: Content-Security-Policy %q", what, h.Get("Content-Security-Policy"))
	case h.Get("X-Content-Type-Options") != "nosniff":
		t.Errorf("%s: X-Content-Type-Options %q", what, h.Get("X-Content-Type-Options"))
	case h.Get("Referrer-Policy") != "no-referrer":
		t.Errorf("%s: Referrer-Policy %q (invitation links carry their token in the query)", what, h.Get("Referrer-Policy"))
	case !strings.Contains(h.Get("Vary"), "Accept"):
		t.Errorf("%s: Vary %q, but the answer depends on Accept", what, h.Get("Vary"))
	}
}

// requireNotPage checks that w is not the web UI's page (the reference page under /docs/ is HTML
// of its own).
func requireNotPage(t *testing.T, what string, w *httptest.ResponseRecorder, index []byte) {
	t.Helper()
	if bytes.Equal(w.Body.Bytes(), index) {
		t.Errorf("%s: answered with the web UI's page (%d)", what, w.Code)
	}
	if csp := w.Header().Get("Content-Security-Policy"); csp == uiCSP {
		t.Errorf("%s: the UI's policy on an API answer", what)
	}
}

func TestBrowsersGetTheWebUIPageOnEveryPathOutsideTheAPI(t *testing.T) {
	g := uiGateway(t)
	index := indexHTML(t)
	for _, p := range []string{"/", "/signin", "/signin?next=%2Faccount", "/account", "/organizations/00000000-0000-4000-8000-000000000001",
		"/invitations/accept?token=abc", "/passwordResets/complete?token=abc", "/nowhere/at/all", "/v1x", "/docsx", "/assetsx"} {
		requirePage(t, "GET "+p, fetch(g, "GET", p, browserAccept), index)
	}
	// Accept as some browsers and tools spell it.
	for _, accept := range []string{"text/html", "TEXT/HTML; charset=utf-8", "application/json;q=0.5, text/html"} {
		requirePage(t, "Accept "+accept, fetch(g, "GET", "/account", accept), index)
	}
	head := fetch(g, "HEAD", "/account", browserAccept)
	if head.Code != http.StatusOK || head.Body.Len() != 0 || !strings.HasPrefix(head.Header().Get("Content-Type"), "text/html") {
		t.Errorf("HEAD /account: %d, %d bytes, %q", head.Code, head.Body.Len(), head.Header().Get("Content-Type"))
	}
	// The browser's copy is revalidated with the ETag, so an unchanged build costs a 304.
	etag := fetch(g, "GET", "/", browserAccept).Header().Get("ETag")
	if etag == "" {
		t.Fatal("the page has no ETag")
	}
	if w := fetch(g, "GET", "/account", browserAccept, "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("GET with the current ETag: %d, want 304", w.Code)
	}
}

func TestAPIClientsAndAPIPathsNeverGetTheWebUIPage(t *testing.T) {
	g := uiGateway(t)
	index := indexHTML(t)
	// Unknown paths answer API clients with the API's JSON 404, whatever Accept they send.
	for _, accept := range []string{"", jsonAccept, "*/*", "text/html;q=0, application/json"} {
		w := fetch(g, "GET", "/nowhere", accept, "Authorization", "Bearer "+operator)
		requireNotPage(t, "GET /nowhere Accept "+accept, w, index)
		var status struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if w.Code != http.StatusNotFound || json.Unmarshal(w.Body.Bytes(), &status) != nil || status.Code != 5 {
			t.Errorf("GET /nowhere Accept %q: %d %s, want the API's JSON 404", accept, w.Code, w.Body)
		}
	}
	// The API's paths and the gateway's own pages stay theirs for browsers too: the identity
	// provider's redirect back to /v1/singleSignOn/callback is a browser navigation.
	for _, p := range []string{"/v1", "/v1/", "/v1/nowhere", "/v1/me", "/v1/singleSignOn/callback?state=s&code=c",
		"/v1/accounts/00000000-0000-4000-8000-000000000001/organizations", "/openapi.json", "/openapi3.json", "/openapi-next.json",
		"/healthz", "/readyz", "/version", "/metrics", "/unsubscribe?token=x", "/docs", "/docs/"} {
		requireNotPage(t, "GET "+p, fetch(g, "GET", p, browserAccept), index)
	}
	// Only reads fall back to the page.
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		requireNotPage(t, m+" /account", fetch(g, m, "/account", browserAccept), index)
	}
}

func TestWebUIAssetsAreCachedForeverAndTheirNamesAreHashed(t *testing.T) {
	g := uiGateway(t)
	index := indexHTML(t)
	assets, err := fs.ReadDir(ui.FS, "assets")
	if err != nil {
		t.Fatal(err)
	}
	if len(assets) < 2 {
		t.Fatalf("%d files in the build's assets, want the script and the stylesheet at least", len(assets))
	}
	hashed := regexp.MustCompile(`^[A-Za-z0-9_-]+-[A-Za-z0-9_-]{8}\.(js|css)$`)
	types := map[string]string{".js": "text/javascript", ".css": "text/css"}
	for _, a := range assets {
		name := a.Name()
		if !hashed.MatchString(name) {
			t.Errorf("assets/%s: not a content-hashed name, yet it is cached for a year", name)
			continue
		}
		want, _ := fs.ReadFile(ui.FS, "assets/"+name)
		w := fetch(g, "GET", "/assets/"+name, "*/*")
		h := w.Header()
		switch {
		case w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), want):
			t.Errorf("GET /assets/%s: %d, %d bytes of %d", name, w.Code, w.Body.Len(), len(want))
		case h.Get("Cache-Control") != "public, max-age=31536000, immutable":
			t.Errorf("GET /assets/%s: Cache-Control %q", name, h.Get("Cache-Control"))
		case !strings.HasPrefix(h.Get("Content-Type"), types[name[strings.LastIndex(name, "."):]]):
			t.Errorf("GET /assets/%s: Content-Type %q", name, h.Get("Content-Type"))
		case h.Get("Content-Security-Policy") != uiCSP:
			t.Errorf("GET /assets/%s: Content-Security-Policy %q", name, h.Get("Content-Security-Policy"))
		}
	}
	// A file of an older build is gone: not the page (a browser would run HTML as script), not cached.
	for _, accept := range []string{"*/*", browserAccept} {
		w := fetch(g, "GET", "/assets/index-0ld8uild.js", accept)
		if w.Code != http.StatusNotFound || bytes.Equal(w.Body.Bytes(), index) || strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("GET a missing asset (Accept %q): %d %q", accept, w.Code, w.Header().Get("Cache-Control"))
		}
	}
	if w := fetch(g, "GET", "/favicon.svg", "image/*"); w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/svg+xml" ||
		w.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("GET /favicon.svg: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"))
	}
}

// The committed build must work under its own policy: every script and stylesheet the page
// names is a file of the build, and nothing is inline (script-src and style-src 'self' would
// block it, leaving a blank page).
func TestTheWebUIBuildRunsUnderItsContentSecurityPolicy(t *testing.T) {
	index := string(indexHTML(t))
	refs := regexp.MustCompile(`(?:src|href)="(/[^"]+)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html names %d files:\n%s", len(refs), index)
	}
	for _, r := range refs {
		if _, err := fs.Stat(ui.FS, strings.TrimPrefix(r[1], "/")); err != nil {
			t.Errorf("index.html names %s, which the build does not have", r[1])
		}
	}
	if m := regexp.MustCompile(`<script(?:\s[^>]*)?>`).FindAllString(index, -1); len(m) == 0 {
		t.Error("index.html has no script")
	} else {
		for _, tag := range m {
			if !strings.Contains(tag, ` src="/assets/`) {
				t.Errorf("inline script, which the policy blocks: %s", tag)
			}
		}
	}
	for _, bad := range []string{"<style", " style=", "javascript:"} {
		if strings.Contains(index, bad) {
			t.Errorf("index.html holds %q, which the policy blocks", bad)
		}
	}
}
