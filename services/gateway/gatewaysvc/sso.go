package gatewaysvc

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Single sign-on sends the browser to the account's identity provider and back. Org ties each
// flow to the browser that started it with a binding (StartSingleSignOnResponse.flow_binding);
// the gateway keeps the binding in a short-lived HttpOnly cookie, never in a body, and hands it to
// org on the provider's redirect back. A callback URL carried into another browser (one an
// attacker had the provider make for their own account, to sign a victim in as them) arrives
// there without the binding and fails.

const (
	// secureFlowCookie is the flow cookie's name over HTTPS; the __Host- prefix keeps subdomains
	// and plain-HTTP pages from planting it, as for the session cookie.
	secureFlowCookie = "__Host-orgplane_sso"
	// insecureFlowCookie is its name on plain HTTP (Config.InsecureCookies).
	insecureFlowCookie = "orgplane_sso"
	// maxFlowLifetime caps the flow cookie: signing in at the provider takes minutes, and a
	// binding left behind by an abandoned flow should not outlive that by much.
	maxFlowLifetime = 10 * time.Minute
	// maxFlowBinding is CompleteSingleSignOnRequest.flow_binding's limit: a longer binding
	// could never come back.
	maxFlowBinding = 512
	// maxReturnPath is StartSingleSignOnRequest.return_path's limit.
	maxReturnPath = 512
)

// flowReturn is the identity provider's redirect back: the binding the browser's flow cookie
// held, empty when it had none.
type flowReturn struct{ binding string }

// flowCookieName is the flow cookie's name in this deployment.
func (g *Gateway) flowCookieName() string {
	if g.cfg.InsecureCookies {
		return insecureFlowCookie
	}
	return secureFlowCookie
}

// publicCall is what a public request's calls carry: the attested client and, on the provider's
// redirect back, the flow cookie's binding. That response clears the flow cookie whatever comes
// of it (a flow completes once, or fails), so the header is set here, before anything can answer:
// a refused query, a throttled client or org's refusal clear it as a success does.
func (g *Gateway) publicCall(w http.ResponseWriter, r *http.Request) *call {
	c := &call{public: true, attest: g.attestation(r)}
	if g.isFlowReturn(r) {
		c.flow = &flowReturn{}
		if fc, err := r.Cookie(g.flowCookieName()); err == nil {
			c.flow.binding = strings.TrimSpace(fc.Value)
		}
		g.endFlow(w)
	}
	return c
}

// endFlow clears the flow cookie, once per response. The success path calls it again, from the
// forward-response option: the ETag layer (middleware.go) answers GETs from a recorder whose
// headers replace the outer ones of the same name, so the session cookie set there would
// otherwise drop the clearing set in publicCall.
func (g *Gateway) endFlow(w http.ResponseWriter) {
	for _, v := range w.Header().Values("Set-Cookie") {
		if strings.HasPrefix(v, g.flowCookieName()+"=;") {
			return
		}
	}
	g.setCookie(w, g.flowCookieName(), "", 0)
}

// isFlowReturn reports whether r is for a route that completes a single sign-on.
func (g *Gateway) isFlowReturn(r *http.Request) bool {
	if g.routes == nil || len(g.public.flowReturns) == 0 {
		return false
	}
	t := g.routes.template(r.Method, r.URL.Path)
	return t != "" && g.public.flowReturns[routeShape(r.Method, t)]
}

// bindFlow sets a single sign-on completion's binding to the flow cookie's (empty without one),
// whatever the query said. It acts on the request message on its way to org, in the client
// interceptor, rather than rewriting the query in an HTTP middleware: grpc-gateway fills a field
// from its proto name and its JSON name alike (flow_binding, flowBinding), and a query rewrite
// would have to foresee every spelling and route, where the message's type leaves no way
// around it.
func bindFlow(ctx context.Context, req any) {
	rq, ok := req.(*orgv1.CompleteSingleSignOnRequest)
	if !ok {
		return
	}
	rq.FlowBinding = ""
	if c := callFrom(ctx); c != nil && c.flow != nil {
		rq.FlowBinding = c.flow.binding
	}
}

// flowStarted moves a started flow's binding from the body into the flow cookie. SameSite=Lax
// still sends the cookie on the provider's redirect back, a top-level GET from another site,
// where Strict would not.
func (g *Gateway) flowStarted(w http.ResponseWriter, m *orgv1.StartSingleSignOnResponse) error {
	binding := m.GetFlowBinding()
	m.FlowBinding = ""
	if !cookieValue(binding) {
		return status.Error(codes.Internal, "the single sign-on came without a browser binding the gateway can keep")
	}
	g.setCookie(w, g.flowCookieName(), binding, flowLifetime(m.GetExpireTime()))
	return nil
}

// flowLifetime is the flow cookie's: until the flow expires, at most maxFlowLifetime. The expiry
// is on org's clock, which may differ from the gateway's; org checks it anyway, so an expiry that
// looks past (or is missing) gets the cap rather than a cookie dead on arrival.
func flowLifetime(expire *timestamppb.Timestamp) time.Duration {
	if expire == nil {
		return maxFlowLifetime
	}
	d := time.Until(expire.AsTime())
	if d <= 0 || d > maxFlowLifetime {
		return maxFlowLifetime
	}
	return d
}

// cookieValue reports whether s can be a cookie's value as it is (RFC 6265 cookie-octets, no
// quotes): net/http would silently drop any other byte, and the binding would then never match.
func cookieValue(s string) bool {
	if s == "" || len(s) > maxFlowBinding {
		return false
	}
	for i := range len(s) {
		if b := s[i]; b <= ' ' || b >= 0x7f || b == '"' || b == ',' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// redirectToWebUI answers single sign-on's return with 303 See Other to the path the flow
// started with: the browser arrived by a top-level navigation, with no script waiting for a
// body. The body is emptied: the session is in the cookie, and the web UI reads the user and the
// CSRF token from GET /v1/me as on any page load.
func (g *Gateway) redirectToWebUI(w http.ResponseWriter, m *orgv1.SignInResponse) {
	g.endFlow(w)
	w.Header().Set("Location", returnPath(m.GetReturnPath()))
	w.WriteHeader(http.StatusSeeOther)
	proto.Reset(m)
}

// returnPath is where the browser goes after single sign-on: p when it is a path on this site,
// else "/". Org checks the path when the flow starts; this holds even if it did not. A second "/"
// right after the first makes a link to another host ("//evil.example"), browsers read "\" as
// "/" ("/\evil.example") and drop tabs and newlines before reading, so neither passes, nor any
// control character. Spaces and non-ASCII letters, which org allows, are percent-encoded, as the
// browser would, so the Location header stays ASCII.
func returnPath(p string) string {
	if p == "" || len(p) > maxReturnPath || p[0] != '/' || strings.HasPrefix(p, "//") || !utf8.ValidString(p) {
		return "/"
	}
	var b strings.Builder
	for i := range len(p) {
		switch c := p[i]; {
		case c < ' ' || c == 0x7f || c == '\\':
			return "/"
		case c == ' ' || c > 0x7f:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ssoErrorPath is the web UI's sign-in page, where a browser whose single sign-on failed is sent
// with the reason (ssoError=<ErrorInfo reason, or the gRPC code's name>), to show in words and
// offer to start again, instead of a JSON body on a page nobody's script asked for.
const ssoErrorPath = "/signin"

// flowFailedInBrowser answers a failed single sign-on return with 303 See Other to the sign-in
// page when a browser navigated there (its Accept names text/html); API clients keep the JSON
// error. Only the reason travels, never the provider's or org's free text.
func flowFailedInBrowser(w http.ResponseWriter, r *http.Request, err error) bool {
	c := callFrom(r.Context())
	if c == nil || c.flow == nil || !acceptsHTML(r.Header.Get("Accept")) {
		return false
	}
	reason := status.Code(err).String()
	if s, ok := status.FromError(err); ok {
		for _, d := range s.Details() {
			if info, isInfo := d.(*errdetails.ErrorInfo); isInfo && info.GetReason() != "" {
				reason = info.GetReason()
			}
		}
	}
	w.Header().Set("Location", ssoErrorPath+"?"+url.Values{"ssoError": {reason}}.Encode())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther)
	return true
}
