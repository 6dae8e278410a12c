package gatewaysvc

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/orgplane/orgplane/pkg/identity"
)

// accessLog writes one line per request at info once its response is complete (a stream's when
// it ends): method, route template, status, duration, bytes, request id and, once authentication
// knows them, the kind of caller, its principal, its session's id and its account. The route is
// the matched template ("/v1/accounts/{accountId}"), never the raw path or query, so ids stay
// out and lines group by route; no header is logged, so neither is a credential (bearer, cookie
// or CSRF token). It wraps the whole gateway, so refused credentials and the gateway's own routes are
// logged too; bytes are as sent (after compression).
func (g *Gateway) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &countingWriter{ResponseWriter: w}
		// The log wraps everything (a refused credential is a request too); the caller becomes
		// known deeper in, where authentication puts it here.
		seen := &caller{}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, seen))
		next.ServeHTTP(rw, r)
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", g.routeOf(r)),
			slog.Int("status", rw.statusOr200()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes", rw.bytes),
			slog.String("request_id", requestIDFrom(r.Context())),
		}
		if seen.kind != "" {
			attrs = append(attrs, slog.String("caller", seen.kind))
		}
		if seen.principal != "" {
			attrs = append(attrs, slog.String("principal", seen.principal))
		}
		if seen.sessionID != "" {
			attrs = append(attrs, slog.String("session_id", seen.sessionID))
		}
		if seen.accountID != "" {
			attrs = append(attrs, slog.String("account_id", seen.accountID))
		}
		g.cfg.Log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// routeOf names the API route r matched, or "unmatched": a path no route has may hold anything
// the caller typed, so it is not logged.
func (g *Gateway) routeOf(r *http.Request) string {
	if g.routes != nil {
		if t := g.routes.template(r.Method, r.URL.Path); t != "" {
			return t
		}
	}
	// A route of the gateway's own mux ("GET /readyz"); "/" is where the API's routes hang.
	p := r.Pattern
	if p == "" && g.root != nil {
		_, p = g.root.Handler(r)
	}
	if p != "" {
		if _, path, ok := strings.Cut(p, " "); ok {
			p = path
		}
		if p != "/" {
			return p
		}
	}
	return "unmatched"
}

// template is the API route that method and path match, as the API document spells it. Where
// several fit ("/v1/x/{id}" and "/v1/x/search"), the one with more fixed segments wins, as in
// the mux.
func (rt *routes) template(method, path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	best, bestFixed := -1, -1
	for i, t := range rt.templates {
		if !t.fits(segs) || !slices.Contains(t.methods, method) {
			continue
		}
		fixed := 0
		for _, s := range t.segs {
			if !strings.HasPrefix(s, "{") {
				fixed++
			}
		}
		if fixed > bestFixed {
			best, bestFixed = i, fixed
		}
	}
	if best < 0 {
		return ""
	}
	t := rt.templates[best]
	out := "/" + strings.Join(t.segs, "/")
	if t.verb != "" {
		out += ":" + t.verb
	}
	return out
}

// countingWriter records the status and body size of a response on its way out.
type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 { // 1xx are interim; the final status follows
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.bytes += int64(n)
	return n, err
}

// Unwrap keeps streams working: http.ResponseController reaches the connection through it to
// flush each message and lift the write deadline.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *countingWriter) statusOr200() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

// caller is who a request turned out to be, noted by authentication for the access log: what
// kind of caller ("operator", "api_key", "session", or "public" for a public route), its
// principal (the key's id, the signed-in user's id), the session's id (never its token) and the
// account.
type caller struct{ kind, principal, sessionID, accountID string }

type callerKey struct{}

// noteCaller tells the access log, if the request has one, who is calling.
func noteCaller(ctx context.Context, id identity.Identity) {
	c, ok := ctx.Value(callerKey{}).(*caller)
	if !ok {
		return
	}
	c.accountID = id.AccountID
	switch id.Kind {
	case identity.KindOperator:
		c.kind = "operator"
	case identity.KindAPIKey:
		c.kind, c.principal = "api_key", id.PrincipalID
	case identity.KindUser:
		c.kind, c.principal, c.sessionID = "session", id.PrincipalID, id.SessionID
	case identity.KindService:
		c.kind = "public" // the gateway calls a public route as itself
	}
}
