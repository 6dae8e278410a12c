package gatewaysvc_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Every answer of the gateway, refusals included, forbids content sniffing; every API answer
// also carries a policy under which a browser runs nothing it contains. The logos themselves are
// checked through the whole suite (TestImagesAreServedInertOnEveryImageRoute).
func TestEveryAnswerForbidsSniffingAndAPIAnswersRunNothing(t *testing.T) {
	g, err := gatewayWithOrigins(t)
	if err != nil {
		t.Fatal(err)
	}
	check := func(method, path string, api bool) {
		r := httptest.NewRequest(method, path, strings.NewReader("{}"))
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		h := w.Header()
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s (%d): X-Content-Type-Options %q", method, path, w.Code, h.Get("X-Content-Type-Options"))
		}
		csp := h.Get("Content-Security-Policy")
		if api && (!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") ||
			!strings.Contains(csp, "frame-ancestors 'none'")) {
			t.Errorf("%s %s (%d): Content-Security-Policy %q", method, path, w.Code, csp)
		}
	}
	for _, rt := range routes(t) {
		check(rt[0], rt[1], true)
	}
	for _, p := range []string{"/openapi.json", "/healthz", "/nowhere"} {
		check("GET", p, true)
	}
	check("GET", "/docs/", false)
	w := httptest.NewRecorder()
	g.ServeHTTP(w, httptest.NewRequest("GET", "/docs/", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("the reference page (Swagger UI runs script, so no sandbox there): %d", w.Code)
	}
}
