package transport

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	def := 5 * time.Second
	future := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		in       string
		min, max time.Duration
	}{
		{"", def, def},
		{"2", 2 * time.Second, 2 * time.Second},
		{" 120 ", 2 * time.Minute, 2 * time.Minute},
		{"0", 0, 0},
		{"-1", def, def},
		{"soon", def, def},
		{"999999", 24 * time.Hour, 24 * time.Hour},
		{future, 3 * time.Second, 4 * time.Second},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0, 0},
	}
	for _, c := range cases {
		if got := retryAfter(c.in, def); got < c.min || got > c.max {
			t.Errorf("retryAfter(%q) = %s, want in [%s, %s]", c.in, got, c.min, c.max)
		}
	}
}

func TestSafeToRepeat(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"GET /organizations":              true,
		"HEAD /organizations":             true,
		"PUT /company/companies/1":        true,
		"DELETE /organizations":           true,
		"POST /v1.0/Companies/query":      true,
		"POST /company/companies/search":  true,
		"POST /company/companies/search/": true,
		"PATCH /v1.0/Companies/query":     true,
		"POST /company/companies":         false,
		"POST /v1.0/Companies":            false,
		"PATCH /company/companies/1":      false,
		"POST /organizations/queryable":   false,
		"POST /system/callbacks":          false,
	}
	for in, want := range cases {
		method, path, _ := cutSpace(in)
		req := httptest.NewRequest(method, "http://vendor"+path, nil)
		if got := safeToRepeat(req); got != want {
			t.Errorf("safeToRepeat(%s) = %v, want %v", in, got, want)
		}
	}
}

func cutSpace(s string) (string, string, bool) {
	for i := range s {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
