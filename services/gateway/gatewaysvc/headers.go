package gatewaysvc

import (
	"net/http"
	"strings"
)

// apiContentSecurityPolicy is sent with every API answer. The API serves data, never pages:
// nothing it returns may run script, load anything, be framed or reach a same-origin context,
// even an image a browser is tricked into rendering as a document (a logo opened in a tab).
const apiContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; sandbox"

// securityHeaders stops browsers guessing content types on every response (a logo must be the
// image its Content-Type says, never sniffed into HTML), and locks API answers down with
// apiContentSecurityPolicy. The reference page under /docs/ runs Swagger UI's own script, so
// it gets nosniff only.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path != "/docs" && !strings.HasPrefix(r.URL.Path, "/docs/") {
			h.Set("Content-Security-Policy", apiContentSecurityPolicy)
		}
		next.ServeHTTP(w, r)
	})
}
