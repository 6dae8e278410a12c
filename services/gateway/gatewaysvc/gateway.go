// Package gatewaysvc is the REST gateway, the suite's front door: it authenticates callers, turns them into signed
// identities and forwards their calls to the services over gRPC through grpc-gateway, so
// validation, authorization and error masking run in the services' interceptors as for any
// gRPC caller.
package gatewaysvc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/klauspost/compress/gzhttp"
	"github.com/swaggest/swgui/v5emb"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/gateway/internal/openapi"
	"github.com/orgplane/orgplane/services/gateway/ui"
)

// Upstream is a service behind the gateway: where it is and the REST routes it declares in its
// platform.Spec.
type Upstream struct {
	Name   string
	Addr   string
	Routes []platform.Route
}

// UpstreamsOf turns the suite's specs into upstreams at addrs (by service name); a service not
// in addrs is taken at 127.0.0.1 on its default port.
func UpstreamsOf(specs []platform.Spec, addrs map[string]string) []Upstream {
	out := make([]Upstream, 0, len(specs))
	for _, s := range specs {
		addr := addrs[s.Name]
		if addr == "" {
			_, port, _ := net.SplitHostPort(s.DefaultGRPCAddr)
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		out = append(out, Upstream{Name: s.Name, Addr: addr, Routes: s.Routes})
	}
	return out
}

// authenticator is the service that turns API keys into identities.
const authenticator = "org"

// Config is what a gateway needs.
type Config struct {
	Log       *slog.Logger
	Keys      *identity.Keyring
	Upstreams []Upstream
	// OperatorToken is the platform operator's bearer credential.
	OperatorToken string
	// Metrics, when set, is served at /metrics.
	Metrics http.Handler
	// UpstreamTimeout bounds every call to a service.
	UpstreamTimeout time.Duration
	// RateLimit is each credential's token bucket.
	RateLimit RateLimit
	// CORSOrigins are the exact browser origins allowed to call the API; none when empty, and
	// "*" or wildcards are refused (withCORS says why).
	CORSOrigins []string
	// AuthFailures throttles refused credentials per client address and key prefix; the zero
	// value takes the defaults.
	AuthFailures AuthThrottle
	// UpstreamTLS secures the connections to the services; the zero value is plaintext.
	UpstreamTLS rpc.ClientTLS
	// StreamLifetime ends each server stream (the notification feed's live stream) after this
	// long, whereupon the client reconnects; zero means DefaultStreamLifetime (streams.go).
	StreamLifetime time.Duration
	// InsecureCookies sends the session cookie without Secure (and so without the __Host-
	// prefix), for a gateway served over plain HTTP on loopback (the dev stack); anywhere else
	// the cookie would cross the network in clear.
	InsecureCookies bool
}

// MinOperatorTokenLen keeps the operator credential out of guessing range.
const MinOperatorTokenLen = 32

// Gateway is the REST API handler.
type Gateway struct {
	cfg      Config
	conns    map[string]*grpc.ClientConn
	auth     orgv1.AuthServiceClient
	sessions orgv1.SignInAuthServiceClient
	failures *failureThrottle
	routes   *routes
	// public are the routes reached without a credential (sessions.go).
	public *publicRoutes
	// csrfKeys check the CSRF tokens of cookie requests; the first makes them.
	csrfKeys [][]byte
	// origins are the allowed CORS origins, whose pages may use a session too.
	origins map[string]bool
	// root is the gateway's own mux, for the access log to name the route a request matched.
	root *http.ServeMux
	// done ends with the context New was given, or at Close: open streams end with it.
	done context.Context
	stop context.CancelFunc
	h    http.Handler
}

// responseHeader lets services set the few HTTP response headers they own (caching of images);
// every other piece of response metadata stays inside.
func responseHeader(key string) (string, bool) {
	switch key {
	case "x-http-cache-control":
		return "Cache-Control", true
	case "x-http-etag":
		return "ETag", true
	case "x-http-last-modified":
		return "Last-Modified", true
	}
	return "", false
}

// New dials the services and builds the handler. Connections are lazy: a service that is not up
// yet makes /readyz fail, not New.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	if len(cfg.OperatorToken) < MinOperatorTokenLen {
		return nil, fmt.Errorf("operator token: need at least %d characters", MinOperatorTokenLen)
	}
	if cfg.UpstreamTimeout == 0 {
		cfg.UpstreamTimeout = 30 * time.Second
	}
	if cfg.StreamLifetime == 0 {
		cfg.StreamLifetime = DefaultStreamLifetime
	}
	transport, err := cfg.UpstreamTLS.DialOption(cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("TLS to the services: %w", err)
	}
	origins, err := allowedOrigins(cfg.CORSOrigins)
	if err != nil {
		return nil, err
	}
	public, err := findPublicRoutes()
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, conns: map[string]*grpc.ClientConn{}, failures: newFailureThrottle(cfg.AuthFailures, time.Now),
		public: public, csrfKeys: cfg.Keys.DeriveAll("csrf"), origins: origins}
	g.done, g.stop = context.WithCancel(ctx)
	for _, u := range cfg.Upstreams {
		if u.Addr == "" {
			g.Close()
			return nil, fmt.Errorf("upstream %s: no address", u.Name)
		}
		// Each service takes only tokens signed for it (its name is the audience).
		conn, err := rpc.Dial(u.Addr, cfg.Keys, rpc.Audience(u.Name), transport,
			grpc.WithChainUnaryInterceptor(g.guardCalls, upstreamUnavailable(u.Name, cfg.Log.Warn)),
			grpc.WithChainStreamInterceptor(g.guardStreams, streamRefusals(u.Name, cfg.Log.Warn)))
		if err != nil {
			g.Close()
			return nil, err
		}
		g.conns[u.Name] = conn
	}
	if g.conns[authenticator] == nil {
		g.Close()
		return nil, fmt.Errorf("upstream %s (it authenticates API keys and sessions): no address", authenticator)
	}

	known, err := newRoutes(openapi.Document)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("the API document: %w", err)
	}
	g.routes = known
	mux := runtime.NewServeMux(
		// Every field is always present in responses, so clients see one stable shape; images
		// (google.api.HttpBody) go out as themselves.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, restMarshaler{&runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}}),
		// Refusals of what the gateway itself decodes, in the API's words (restwords.go).
		runtime.SetQueryParameterParser(&restQueryParser{}),
		runtime.WithErrorHandler(restErrorHandler),
		runtime.WithRoutingErrorHandler(known.routingError),
		// The caller's own credential stops here; services trust only the signed identity.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(responseHeader),
		runtime.WithMetadata(annotate),
		runtime.WithForwardResponseOption(streamStarted),
		runtime.WithForwardResponseOption(g.sessionResponses),
	)
	for _, u := range cfg.Upstreams {
		for _, register := range u.Routes {
			if err := register(ctx, mux, g.conns[u.Name]); err != nil {
				g.Close()
				return nil, fmt.Errorf("routes of %s: %w", u.Name, err)
			}
		}
	}
	g.auth = orgv1.NewAuthServiceClient(g.conns[authenticator])
	g.sessions = orgv1.NewSignInAuthServiceClient(g.conns[sessionAuthenticator])

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	root.HandleFunc("GET /readyz", g.readyz)
	root.HandleFunc("GET /version", serveVersion)
	root.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Document)
	})
	root.HandleFunc("GET /openapi3.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.DocumentV3)
	})
	if cfg.Metrics != nil {
		root.Handle("GET /metrics", cfg.Metrics)
	}
	if g.conns[webhookService] != nil {
		root.Handle("POST /v1/webhooks/{integrationId}", retryAfterOn503(http.HandlerFunc(g.webhook)))
	}
	if g.conns[unsubscribeService] != nil {
		// Public pages, like the webhook route: the link's signed token is the credential.
		root.Handle("GET /unsubscribe", g.limitPerAddress(g.unsubscribeForm))
		root.Handle("POST /unsubscribe", g.limitPerAddress(g.unsubscribe))
	}
	root.Handle("GET /docs/", v5emb.New("Orgplane API", "/openapi.json", "/docs/"))
	root.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
	api := retryAfterOn503(g.authenticate(g.limitRate(limitBody(requireUTF8(g.withTimeout(etag(g.isStream, mux)))))))
	web, err := newWebUI(ui.FS, withCORS(origins, api))
	if err != nil {
		g.Close()
		return nil, err
	}
	root.Handle("/", web)
	gz, err := gzhttp.NewWrapper(gzhttp.MinSize(1024))
	if err != nil {
		g.Close()
		return nil, err
	}
	traced := otelhttp.NewHandler(securityHeaders(root), "gateway",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
	zipped := gz(traced)
	g.root = root
	g.h = requestID(g.accessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.isStream(r) {
			traced.ServeHTTP(w, r) // streams.go: compression would hold messages back
			return
		}
		zipped.ServeHTTP(w, r)
	})))
	return g, nil
}

// ServeHTTP serves the REST API.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.h.ServeHTTP(w, r) }

// Close ends the open streams and closes the service connections.
func (g *Gateway) Close() {
	if g.stop != nil {
		g.stop()
	}
	for _, c := range g.conns {
		_ = c.Close()
	}
}

// readinessBudget bounds /readyz as a whole; the checks share it, so it stays under the
// probes' timeout (3 s in the Helm chart) whatever the services do.
const readinessBudget = 2 * time.Second

// readyz answers 200 only when every required service reports SERVING, so a load balancer sends
// traffic only to a gateway that can complete it. Every service is required unless named by an
// exclude parameter (kube-apiserver's convention, `/readyz?exclude=billing`): the Helm chart's
// probe requires only org, since a gateway whose every pod left its Service over one service's
// outage would take the whole API with it, while the routes of a service that is down already
// answer 503 with Retry-After (unavailable.go). Excluded services are still checked and
// reported, for the operator reading /readyz. The body always lists every check, so kube's
// verbose parameter is accepted and changes nothing.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	excluded, bad := g.readinessExclusions(r.URL.RawQuery)
	if bad != nil {
		writeStatus(w, bad.status())
		return
	}
	report := map[string]string{}
	ready := true
	for _, h := range g.checkUpstreams(r.Context()) {
		report[h.name] = h.report
		ready = ready && (h.serving || slices.Contains(excluded, h.name))
	}
	w.Header().Set("Content-Type", "application/json")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "services": report, "excluded": excluded})
}

// readinessExclusions reads /readyz's query: the services named by exclude, in the gateway's
// order. A name that is no service, or a parameter /readyz does not take, is refused rather than
// ignored: a typo in a probe would otherwise change what readiness requires without anyone
// noticing.
func (g *Gateway) readinessExclusions(rawQuery string) ([]string, *inputError) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, &inputError{"query", "is not a valid query string"}
	}
	for _, key := range slices.Sorted(maps.Keys(q)) {
		if key != "exclude" && key != "verbose" {
			return nil, &inputError{key, "is not a parameter of /readyz (it takes exclude and verbose)"}
		}
	}
	names := make([]string, 0, len(g.cfg.Upstreams))
	for _, u := range g.cfg.Upstreams {
		names = append(names, u.Name)
	}
	for _, name := range q["exclude"] {
		if !slices.Contains(names, name) {
			return nil, &inputError{"exclude", fmt.Sprintf("%q is not a service; the services are %s", name, strings.Join(names, ", "))}
		}
	}
	excluded := []string{}
	for _, name := range names {
		if slices.Contains(q["exclude"], name) {
			excluded = append(excluded, name)
		}
	}
	return excluded, nil
}

// upstreamHealth is what one service said to the gateway's health check.
type upstreamHealth struct {
	name    string
	serving bool
	// report is the status as /readyz shows it, with the service's reason when it has one.
	report string
}

// checkUpstreams asks every service at once, within one budget: checked in turn, a service that
// hangs would spend the others' time and have them reported unreachable too.
func (g *Gateway) checkUpstreams(ctx context.Context) []upstreamHealth {
	ctx, cancel := context.WithTimeout(identity.With(ctx, identity.Service("gateway")), readinessBudget)
	defer cancel()
	out := make([]upstreamHealth, len(g.cfg.Upstreams))
	var wg sync.WaitGroup
	for i, u := range g.cfg.Upstreams {
		wg.Go(func() { out[i] = g.checkUpstream(ctx, u.Name) })
	}
	wg.Wait()
	return out
}

func (g *Gateway) checkUpstream(ctx context.Context, name string) upstreamHealth {
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(g.conns[name]).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
	switch {
	case status.Code(err) == codes.DeadlineExceeded:
		return upstreamHealth{name: name, report: "UNREACHABLE: no answer within " + readinessBudget.String()}
	case err != nil:
		return upstreamHealth{name: name, report: "UNREACHABLE"}
	}
	h := upstreamHealth{name: name, serving: resp.GetStatus() == healthpb.HealthCheckResponse_SERVING, report: resp.GetStatus().String()}
	// A service that cannot work says why ("schema version 0, want 3"); an operator reading
	// /readyz learns it without the service's logs.
	if why := md.Get(platform.NotServingReasonHeader); !h.serving && len(why) > 0 {
		h.report += ": " + why[0]
	}
	return h
}

func (g *Gateway) withTimeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.isStream(r) {
			g.serveStream(next, w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.UpstreamTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate turns the caller's credential into an identity: the bearer credential (the
// operator's or an API key) when the request has an Authorization header, else the session
// cookie (sessions.go). It says nothing about why a credential was refused. The public routes
// take no credential: the gateway calls them as itself, whatever the request carries.
func (g *Gateway) authenticate(next http.Handler) http.Handler {
	op := []byte(g.cfg.OperatorToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only the gateway attests the client; a client's own claim under these names goes.
		r.Header.Del(clientAddressKey)
		r.Header.Del(userAgentKey)
		if g.isPublic(r) {
			// grpc-gateway hands Authorization to the service whatever the header matcher says;
			// a credential sent here is nobody's business.
			r.Header.Del("Authorization")
			id := identity.Service("gateway")
			noteCaller(r.Context(), id)
			c := g.publicCall(w, r)
			next.ServeHTTP(w, r.WithContext(context.WithValue(identity.With(r.Context(), id), callKey{}, c)))
			return
		}
		authorization := r.Header.Get("Authorization")
		if authorization == "" {
			if token := g.sessionToken(r); token != "" {
				g.serveSession(next, w, r, token)
				return
			}
		}
		scheme, cred, ok := strings.Cut(authorization, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
			writeStatus(w, status.New(codes.Unauthenticated, "authentication required"))
			return
		}
		if subtle.ConstantTimeCompare([]byte(cred), op) == 1 {
			id := identity.Identity{Kind: identity.KindOperator, PrincipalID: "operator"}
			noteCaller(r.Context(), id)
			next.ServeHTTP(w, r.WithContext(identity.With(r.Context(), id)))
			return
		}
		id, err := g.checkAPIKey(r, cred)
		if err != nil {
			g.refuse(w, err, "api key")
			return
		}
		// The key has become the signed identity; the services need not see it.
		r.Header.Del("Authorization")
		noteCaller(r.Context(), id)
		next.ServeHTTP(w, r.WithContext(identity.With(r.Context(), id)))
	})
}

// serveSession serves a request that came with the session cookie alone. Beyond what org says
// of the session, a browser's request must come from an allowed origin and, if it changes
// something, carry the session's CSRF token.
func (g *Gateway) serveSession(next http.Handler, w http.ResponseWriter, r *http.Request, token string) {
	attest := g.attestation(r)
	id, err := g.checkSession(r, token, attest)
	if err != nil {
		g.refuse(w, err, "session")
		return
	}
	noteCaller(r.Context(), id)
	if !g.originAllowed(r) {
		writeForbidden(w, "requests with the session cookie are accepted from this API's own origin and its allowed CORS origins only")
		return
	}
	if !safeMethod(r.Method) && !g.csrfValid(r, token) {
		writeForbidden(w, "missing or wrong "+csrfHeader)
		return
	}
	c := &call{session: &sessionCall{token: token, id: id.SessionID}, attest: attest}
	next.ServeHTTP(w, r.WithContext(context.WithValue(identity.With(r.Context(), id), callKey{}, c)))
}

// refuse answers a credential that did not authenticate: 429 while its client or prefix is
// throttled, 401 when org refused it, 503 when org could not say.
func (g *Gateway) refuse(w http.ResponseWriter, err error, what string) {
	switch status.Code(err) {
	case codes.ResourceExhausted:
		writeThrottled(w, err)
	case codes.Unauthenticated, codes.InvalidArgument:
		writeStatus(w, status.New(codes.Unauthenticated, "authentication required"))
	default:
		g.cfg.Log.Warn(what+" authentication failed", "error", err)
		writeStatus(w, unavailableStatus("authentication is unavailable; retry shortly"))
	}
}

// authenticateAPIKey asks the org service, on every request, what a key grants: a revoked key or
// a changed role takes effect at once.
func (g *Gateway) authenticateAPIKey(ctx context.Context, key string) (identity.Identity, error) {
	ctx, cancel := context.WithTimeout(identity.With(ctx, identity.Service("gateway")), 5*time.Second)
	defer cancel()
	resp, err := g.auth.AuthenticateApiKey(ctx, &orgv1.AuthenticateApiKeyRequest{Digest: identity.APIKeyDigest(key)})
	if err != nil {
		return identity.Identity{}, err
	}
	return identity.Identity{
		Kind: identity.KindAPIKey, PrincipalID: resp.GetApiKeyId(), AccountID: resp.GetAccountId(),
		UserID: resp.GetUserId(), Permissions: resp.GetPermissions(),
		RestrictedToGroups: resp.GetRestrictedToGroups(), Groups: resp.GetGroupIds(),
	}, nil
}

// writeStatus writes an error in the same google.rpc.Status JSON shape grpc-gateway uses.
func writeStatus(w http.ResponseWriter, s *status.Status) {
	writeStatusCode(w, s, runtime.HTTPStatusFromCode(s.Code()))
}

func writeStatusCode(w http.ResponseWriter, s *status.Status, code int) {
	b, err := protojson.Marshal(s.Proto())
	if err != nil {
		http.Error(w, `{"code":13,"message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if s.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="orgplane"`)
	}
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

type requestIDKey struct{}

// requestID gives every request an id, the caller's own when well-formed, echoed in
// X-Request-Id and sent to the services, which report it as the correlation id of failures.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !rpc.ValidRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
