package gatewaysvc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// People sign in with a password and get a session: an opaque token in an HttpOnly cookie that
// the gateway turns, on every request, into the same signed identity an API key gets (kind user,
// with the session's id), by asking org what the session grants now. A closed session, a
// deactivated user or a changed role therefore takes effect on the very next request.
//
// A browser attaches the cookie to whatever a page makes it send, so cookie requests get the
// checks bearer requests do not need: every method but GET, HEAD and OPTIONS carries the session's
// CSRF token in X-CSRF-Token (a page of another site cannot read it), and a request whose Origin
// is neither the gateway's own nor an allowed CORS origin is refused. The few public routes
// (signing in and its second step, single sign-on, redeeming an invitation or a reset link) take
// no credential at all: the gateway calls them as itself and attests the client's address and user
// agent, which is all those RPCs trust besides their request.

const (
	// secureCookie is the session cookie's name over HTTPS. The __Host- prefix makes browsers
	// refuse it unless it is Secure, has Path=/ and no Domain: no subdomain and no plain-HTTP
	// page can plant or overwrite it.
	secureCookie = "__Host-orgplane_session"
	// insecureCookie is its name on plain HTTP (Config.InsecureCookies), where browsers refuse
	// the __Host- prefix.
	insecureCookie = "orgplane_session"
	// csrfHeader carries the session's CSRF token on requests that change something.
	csrfHeader = "X-CSRF-Token"

	// Metadata the gateway attests on public and session calls; org believes it only from the
	// gateway's own identity.
	clientAddressKey = "x-orgplane-client-address"
	userAgentKey     = "x-orgplane-user-agent"
	// maxUserAgent bounds the attested user agent: it is shown to the user in their session
	// list, not parsed.
	maxUserAgent = 512
)

// sessionAuthenticator is the service that resolves session cookies, as it does API keys.
const sessionAuthenticator = authenticator

// call is what authentication learned of a request that the layers below act on: whether it is
// public (the gateway calls as itself), the session it came with, and the client to attest.
type call struct {
	public  bool
	session *sessionCall
	// attest holds the metadata vouched for to the service: client address and user agent.
	attest metadata.MD
	// flow is set on the identity provider's redirect back (sso.go).
	flow *flowReturn
}

// sessionCall is a request's session.
type sessionCall struct {
	token string
	id    string
	// ended is set when the call closes this very session (RevokeMySession of its own id), so
	// the response clears the cookie.
	ended bool
}

type callKey struct{}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// publicRoutes are the REST routes of the RPCs whose rule says public, read from the proto
// registry, and the full gRPC names of those RPCs.
type publicRoutes struct {
	shapes  map[string]bool // "POST /v1/signIn" with each variable written {}
	methods map[string]bool // "/orgplane.org.v1.SignInService/SignIn"
	// flowReturns are the shapes of the routes that complete a single sign-on, known by their
	// RPC's request type: those get the flow cookie's binding (sso.go).
	flowReturns map[string]bool
}

var routeVariable = regexp.MustCompile(`\{[^}]*\}`)

// routeShape is a route with its variables blanked, so the proto's "{session_id}" and the API
// document's "{sessionId}" name the same route.
func routeShape(method, path string) string {
	return method + " " + routeVariable.ReplaceAllString(path, "{}")
}

// findPublicRoutes reads every orgplane RPC's rule and HTTP binding. A public rule the suite
// cannot apply (public on anything but a service rule) is refused by rpc.PublicMethod and so is
// never public here either; a public RPC with a route the gateway could not match exactly is an
// error, so the gateway does not start with a public route it would misjudge.
func findPublicRoutes() (*publicRoutes, error) {
	pr := &publicRoutes{shapes: map[string]bool{}, methods: map[string]bool{}, flowReturns: map[string]bool{}}
	flowReturn := (*orgv1.CompleteSingleSignOnRequest)(nil).ProtoReflect().Descriptor().FullName()
	var err error
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "orgplane.") {
			return true
		}
		for i := range f.Services().Len() {
			sd := f.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				if !rpc.PublicMethod(md) {
					continue
				}
				pr.methods["/"+string(sd.FullName())+"/"+string(md.Name())] = true
				rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue // reachable from services only; nothing for the gateway to open
				}
				for _, b := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					method, path := httpBinding(b)
					if method == "" || strings.Contains(path, "=") || strings.Contains(path, "*") {
						err = fmt.Errorf("%s: public route %q: only plain paths can be public", md.FullName(), path)
						return false
					}
					pr.shapes[routeShape(method, path)] = true
					if md.Input().FullName() == flowReturn {
						pr.flowReturns[routeShape(method, path)] = true
					}
				}
			}
		}
		return true
	})
	return pr, err
}

func httpBinding(b *annotations.HttpRule) (method, path string) {
	switch p := b.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	}
	return "", ""
}

// isPublic reports whether r is for a public route: the route the API document says it matches
// (the most specific one, as the mux picks) is a public RPC's. guardCalls backs this up on the
// gRPC side, so a request the mux routed elsewhere still cannot call anything else as the
// gateway.
func (g *Gateway) isPublic(r *http.Request) bool {
	if g.routes == nil || len(g.public.shapes) == 0 {
		return false
	}
	t := g.routes.template(r.Method, r.URL.Path)
	return t != "" && g.public.shapes[routeShape(r.Method, t)]
}

// guardCalls runs on every call the gateway makes to a service. A public request's call must
// be one of the public RPCs, whatever route the mux found for it: the gateway's own identity
// opens nothing else. A single sign-on's completion carries the flow cookie's binding, never the
// client's (bindFlow). And a session's call that closes this very session is noted, for the
// response to clear the cookie.
func (g *Gateway) guardCalls(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	bindFlow(ctx, req)
	if c := callFrom(ctx); c != nil {
		if c.public && !g.public.methods[method] {
			return status.Error(codes.Unauthenticated, "authentication required")
		}
		if rv, ok := req.(*orgv1.RevokeMySessionRequest); ok && c.session != nil && rv.GetSessionId() == c.session.id {
			c.session.ended = true
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// guardStreams is guardCalls for server streams, none of which is public.
func (g *Gateway) guardStreams(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c := callFrom(ctx); c != nil && c.public && !g.public.methods[method] {
		return nil, status.Error(codes.Unauthenticated, "authentication required")
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// attestation is the client as the gateway determined it: its address (the peer, or what a
// trusted proxy forwarded) and its User-Agent, made safe for gRPC metadata.
func (g *Gateway) attestation(r *http.Request) metadata.MD {
	addr := r.RemoteAddr
	if ip := g.failures.clientIP(r); ip.IsValid() {
		addr = ip.String()
	}
	return metadata.Pairs(clientAddressKey, addr, userAgentKey, printable(r.UserAgent(), maxUserAgent))
}

// printable keeps what gRPC metadata can carry (printable ASCII), at most n bytes of it; any
// other byte becomes "?".
func printable(s string, n int) string {
	b := []byte(s[:min(len(s), n)])
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// annotate is the metadata every forwarded call carries: the request id, and on public and
// session calls the attested client. grpc-gateway lets it replace anything a client sent under
// the same keys.
func annotate(ctx context.Context, _ *http.Request) metadata.MD {
	md := metadata.Pairs(rpc.RequestIDKey, requestIDFrom(ctx))
	if c := callFrom(ctx); c != nil && c.attest != nil {
		md = metadata.Join(md, c.attest)
	}
	return md
}

// authenticateSession asks org, on every request, what a session grants now.
func (g *Gateway) authenticateSession(ctx context.Context, token string, attest metadata.MD) (identity.Identity, error) {
	ctx, cancel := context.WithTimeout(identity.With(ctx, identity.Service("gateway")), 5*time.Second)
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, attest)
	resp, err := g.sessions.AuthenticateSession(ctx, &orgv1.AuthenticateSessionRequest{Digest: identity.APIKeyDigest(token)})
	if err != nil {
		return identity.Identity{}, err
	}
	if resp.GetSessionId() == "" || resp.GetUserId() == "" || resp.GetAccountId() == "" {
		// A session identity without its session would be an API key's in the services' eyes.
		return identity.Identity{}, status.Error(codes.Internal, "org answered a session without its ids")
	}
	return identity.Identity{
		Kind: identity.KindUser, PrincipalID: resp.GetUserId(), AccountID: resp.GetAccountId(),
		UserID: resp.GetUserId(), SessionID: resp.GetSessionId(), Permissions: resp.GetPermissions(),
		RestrictedToGroups: resp.GetRestrictedToGroups(), Groups: resp.GetGroupIds(),
	}, nil
}

// cookieName is the session cookie's name in this deployment.
func (g *Gateway) cookieName() string {
	if g.cfg.InsecureCookies {
		return insecureCookie
	}
	return secureCookie
}

// sessionToken is the session cookie r carries, if any.
func (g *Gateway) sessionToken(r *http.Request) string {
	c, err := r.Cookie(g.cookieName())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(c.Value)
}

// sessionCookie sets the cookie to token for lifetime (none: until the browser closes), or clears
// it when token is empty.
func (g *Gateway) sessionCookie(w http.ResponseWriter, token string, lifetime time.Duration) {
	g.setCookie(w, g.cookieName(), token, lifetime)
}

// setCookie sets one of the gateway's cookies (the session's, the single sign-on flow's): HttpOnly,
// Path=/, no Domain, Secure unless InsecureCookies, SameSite=Lax, for lifetime (none: until the
// browser closes), or clears it when value is empty. The response is not to be cached.
func (g *Gateway) setCookie(w http.ResponseWriter, name, value string, lifetime time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, Secure: !g.cfg.InsecureCookies,
		SameSite: http.SameSiteLaxMode,
	}
	switch {
	case value == "":
		c.MaxAge = -1 // Max-Age=0: the browser drops it now
	case lifetime > 0:
		c.MaxAge = max(1, int(math.Ceil(lifetime.Seconds())))
	}
	w.Header().Add("Set-Cookie", c.String())
	w.Header().Set("Cache-Control", "no-store")
}

// sessionLifetime is how long a session just opened lasts at most: from its opening to its
// absolute expiry, both on org's clock, so a clock of the gateway's that differs from org's
// cannot shorten or stretch the cookie.
func sessionLifetime(s *orgv1.Session) time.Duration {
	switch {
	case s.GetExpireTime() == nil:
		return 0
	case s.GetCreateTime() != nil:
		return s.GetExpireTime().AsTime().Sub(s.GetCreateTime().AsTime())
	}
	return time.Until(s.GetExpireTime().AsTime())
}

// csrfToken is the CSRF token of a session: an HMAC of its token under a key derived from the
// identity keyring, so the gateway checks it without storing anything and a page that cannot
// read the HttpOnly cookie cannot compute it.
func (g *Gateway) csrfToken(session string) string {
	return csrfWith(g.csrfKeys[0], session)
}

func csrfWith(key []byte, session string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("csrf\x00" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid checks the header against the session's token under every key of the ring, so a
// key rotation does not break the pages open at the time.
func (g *Gateway) csrfValid(r *http.Request, session string) bool {
	got := []byte(strings.TrimSpace(r.Header.Get(csrfHeader)))
	ok := false
	for _, k := range g.csrfKeys {
		ok = hmac.Equal(got, []byte(csrfWith(k, session))) || ok
	}
	return ok && len(got) > 0
}

// safeMethod reports whether a method changes nothing, so needs no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// originAllowed reports whether a cookie request's Origin, if it sent one, is the gateway's own
// or an allowed CORS origin. Browsers send Origin on every cross-origin request and on same-origin
// ones that change something; a missing Origin is a same-origin read or not a browser.
func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if g.origins[origin] {
		return true
	}
	scheme := "https"
	if g.cfg.InsecureCookies && r.TLS == nil {
		scheme = "http"
	}
	return strings.EqualFold(origin, scheme+"://"+r.Host)
}

func writeForbidden(w http.ResponseWriter, msg string) {
	writeStatus(w, status.New(codes.PermissionDenied, msg))
}

// sessionResponses is a forward-response option: grpc-gateway calls it with each answer before
// marshalling it. The session token of a sign-in goes into the cookie and never into the body;
// the CSRF token is filled in where the API promises it; the cookie goes when its session ends.
// It goes by the answer's type, not by the RPC that gave it, so every call that completes a
// sign-in (the password, the second step, the enrollment, single sign-on, and any added later
// with the same answer) is treated alike.
func (g *Gateway) sessionResponses(ctx context.Context, w http.ResponseWriter, m proto.Message) error {
	c := callFrom(ctx)
	switch m := m.(type) {
	case *orgv1.SignInResponse:
		return g.signInAnswered(w, c, m)
	case *orgv1.StartSingleSignOnResponse:
		return g.flowStarted(w, m)
	case *orgv1.CurrentUser:
		m.CsrfToken = ""
		if c != nil && c.session != nil {
			m.CsrfToken = g.csrfToken(c.session.token)
			w.Header().Set("Cache-Control", "no-store")
		}
	case *orgv1.SignOutResponse, *orgv1.RevokeAllMySessionsResponse:
		if c != nil && c.session != nil {
			g.sessionCookie(w, "", 0)
		}
	case *orgv1.RevokeMySessionResponse:
		if c != nil && c.session != nil && c.session.ended {
			g.sessionCookie(w, "", 0)
		}
	}
	return nil
}

// signInAnswered handles every SignInResponse. With a session token it sets the cookie and fills
// the CSRF token; on single sign-on's return it then sends the browser on to the web UI. Without
// one it is a challenge for a second step, whose token stays in the body: it is short-lived and
// good only for that step, and no session exists yet for a cookie to hold.
func (g *Gateway) signInAnswered(w http.ResponseWriter, c *call, m *orgv1.SignInResponse) error {
	w.Header().Set("Cache-Control", "no-store")
	token := m.GetSessionToken()
	m.SessionToken = ""
	if token == "" {
		if m.GetChallenge() == nil {
			return status.Error(codes.Internal, "the sign-in opened no session")
		}
		return nil
	}
	g.sessionCookie(w, token, sessionLifetime(m.GetCurrentUser().GetSession()))
	if m.CurrentUser != nil {
		m.CurrentUser.CsrfToken = g.csrfToken(token)
	}
	if c != nil && c.flow != nil {
		g.redirectToWebUI(w, m)
	}
	return nil
}
