package gatewaysvc

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Whatever layer answers 503 (a service's Unavailable, an unreachable service, the API-key check
// while org is away), the client is told when to retry; a Retry-After already set is kept.
func TestEvery503CarriesRetryAfter(t *testing.T) {
	for _, c := range []struct {
		name, preset, want string
		code               int
	}{
		{"plain 503", "", "1", http.StatusServiceUnavailable},
		{"503 with its own Retry-After", "7", "7", http.StatusServiceUnavailable},
		{"500 is not told to retry", "", "", http.StatusInternalServerError},
		{"200", "", "", http.StatusOK},
	} {
		h := retryAfterOn503(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if c.preset != "" {
				w.Header().Set("Retry-After", c.preset)
			}
			w.WriteHeader(c.code)
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/accounts", nil))
		if got := rec.Header().Get("Retry-After"); got != c.want {
			t.Errorf("%s: Retry-After %q, want %q", c.name, got, c.want)
		}
	}
}
