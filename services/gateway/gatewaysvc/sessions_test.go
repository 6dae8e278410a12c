package gatewaysvc_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
	"github.com/orgplane/orgplane/services/gateway/suite"
)

const (
	sessAccount  = "00000000-0000-4000-8000-0000000000aa"
	sessUser     = "00000000-0000-4000-8000-0000000000bb"
	sessPassword = "correct horse battery staple"
	sessKey      = "opk_sessionsession-valid-api-key-000"
)

// received is one call a service got: the method, who the verified identity token says called,
// and the metadata it came with.
type received struct {
	method string
	id     identity.Identity
	md     metadata.MD
}

// sessionOrg stands in for org's side of sign-in (and for every other service, which answers
// FailedPrecondition "reached" to anything): it opens sessions, resolves them by digest as org
// does, and records every call with the identity the gateway signed for it.
type sessionOrg struct {
	keys *identity.Keyring

	mu       sync.Mutex
	sessions map[[32]byte]string // token digest -> session id
	calls    []received
	// issued are the session tokens handed out, to look for in what the gateway answers.
	issued []string
	// challenges are the open sign-in challenges by token (sso_test.go).
	challenges map[string]orgv1.SignInChallengeKind
	// flows are the started single sign-ons by binding; bindings are the bindings that
	// CompleteSingleSignOn received, in order; flowTTL is how long a flow lasts (sso_test.go).
	flows    map[string]ssoFlow
	bindings []string
	flowTTL  time.Duration
}

func (o *sessionOrg) record(ctx context.Context) (identity.Identity, error) {
	method, _ := grpc.Method(ctx)
	md, _ := metadata.FromIncomingContext(ctx)
	id, err := identity.FromIncomingFor(ctx, o.keys, "org")
	o.mu.Lock()
	o.calls = append(o.calls, received{method: method, id: id, md: md})
	o.mu.Unlock()
	return id, err
}

// last is the last call of method (its full gRPC name, or the RPC's name alone), if any.
func (o *sessionOrg) last(method string) (received, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.calls) - 1; i >= 0; i-- {
		if m := o.calls[i].method; m == method || strings.HasSuffix(m, "/"+method) {
			return o.calls[i], true
		}
	}
	return received{}, false
}

func (o *sessionOrg) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.calls)
}

func (o *sessionOrg) open() (token, id string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token, id = "ops_"+base64.RawURLEncoding.EncodeToString(b), uuid.NewString()
	o.mu.Lock()
	o.sessions[sha256.Sum256([]byte(token))] = id
	o.issued = append(o.issued, token)
	o.mu.Unlock()
	return token, id
}

func (o *sessionOrg) close(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for d, s := range o.sessions {
		if s == id {
			delete(o.sessions, d)
		}
	}
}

type signInFake struct {
	orgv1.UnimplementedSignInServiceServer
	*sessionOrg
}

func (f signInFake) SignIn(ctx context.Context, req *orgv1.SignInRequest) (*orgv1.SignInResponse, error) {
	if _, err := f.record(ctx); err != nil {
		return nil, err
	}
	switch {
	case req.GetEmail() == "":
		return nil, errReached // org's validation would refuse it
	case req.GetPassword() != sessPassword:
		return nil, status.Error(codes.Unauthenticated, "wrong email or password")
	case req.GetEmail() == twoStepEmail:
		return &orgv1.SignInResponse{Challenge: f.challenge(orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)}, nil
	case req.GetEmail() == enrollEmail:
		return &orgv1.SignInResponse{Challenge: f.challenge(orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_ENROLLMENT)}, nil
	}
	return f.signedIn(req.GetEmail()), nil
}

// signedIn opens a session for email and answers as org does once a sign-in completes.
func (o *sessionOrg) signedIn(email string) *orgv1.SignInResponse {
	token, id := o.open()
	opened := time.Now().AddDate(-1, 0, 0)
	return &orgv1.SignInResponse{SessionToken: token, CurrentUser: &orgv1.CurrentUser{
		AccountId: sessAccount, User: &orgv1.User{Id: sessUser, Email: email},
		// Org's clock, a year behind the gateway's: the cookie lasts the session's 12 h anyway.
		Session: &orgv1.Session{Id: id, CreateTime: timestamppb.New(opened), ExpireTime: timestamppb.New(opened.Add(12 * time.Hour))},
	}}
}

func (f signInFake) GetCurrentUser(ctx context.Context, _ *orgv1.GetCurrentUserRequest) (*orgv1.CurrentUser, error) {
	id, err := f.record(ctx)
	if err != nil {
		return nil, err
	}
	// Whatever org might put here, the gateway's own token is what the browser gets.
	return &orgv1.CurrentUser{AccountId: id.AccountID, User: &orgv1.User{Id: id.UserID}, Session: &orgv1.Session{Id: id.SessionID},
		CsrfToken: "set-by-org"}, nil
}

func (f signInFake) SignOut(ctx context.Context, _ *orgv1.SignOutRequest) (*orgv1.SignOutResponse, error) {
	id, err := f.record(ctx)
	if err != nil {
		return nil, err
	}
	f.close(id.SessionID)
	return &orgv1.SignOutResponse{}, nil
}

func (f signInFake) RevokeMySession(ctx context.Context, req *orgv1.RevokeMySessionRequest) (*orgv1.RevokeMySessionResponse, error) {
	if _, err := f.record(ctx); err != nil {
		return nil, err
	}
	f.close(req.GetSessionId())
	return &orgv1.RevokeMySessionResponse{}, nil
}

func (f signInFake) RevokeAllMySessions(ctx context.Context, _ *orgv1.RevokeAllMySessionsRequest) (*orgv1.RevokeAllMySessionsResponse, error) {
	if _, err := f.record(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	n := len(f.sessions)
	clear(f.sessions)
	f.mu.Unlock()
	return &orgv1.RevokeAllMySessionsResponse{Revoked: int32(n)}, nil
}

// errReached is what the fakes answer to a call they only record.
var errReached = status.Error(codes.FailedPrecondition, "reached")

func (f signInFake) RequestPasswordReset(ctx context.Context, _ *orgv1.RequestPasswordResetRequest) (*orgv1.RequestPasswordResetResponse, error) {
	_, _ = f.record(ctx)
	return nil, errReached
}

func (f signInFake) ResetPassword(ctx context.Context, _ *orgv1.ResetPasswordRequest) (*orgv1.ResetPasswordResponse, error) {
	_, _ = f.record(ctx)
	return nil, errReached
}

func (f signInFake) AcceptInvitation(ctx context.Context, _ *orgv1.AcceptInvitationRequest) (*orgv1.AcceptInvitationResponse, error) {
	_, _ = f.record(ctx)
	return nil, errReached
}

func (f signInFake) ListMySessions(ctx context.Context, _ *orgv1.ListMySessionsRequest) (*orgv1.ListMySessionsResponse, error) {
	_, _ = f.record(ctx)
	return nil, errReached
}

func (f signInFake) ChangePassword(ctx context.Context, _ *orgv1.ChangePasswordRequest) (*orgv1.ChangePasswordResponse, error) {
	_, _ = f.record(ctx)
	return nil, errReached
}

func (f signInFake) InviteUser(ctx context.Context, _ *orgv1.InviteUserRequest) (*orgv1.Invitation, error) {
	_, _ = f.record(ctx)
	return nil, errReached
}

type sessionAuthFake struct {
	orgv1.UnimplementedSignInAuthServiceServer
	*sessionOrg
}

func (f sessionAuthFake) AuthenticateSession(ctx context.Context, req *orgv1.AuthenticateSessionRequest) (*orgv1.AuthenticateSessionResponse, error) {
	if _, err := f.record(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	id, ok := f.sessions[[32]byte(req.GetDigest())]
	f.mu.Unlock()
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "authentication required")
	}
	return &orgv1.AuthenticateSessionResponse{AccountId: sessAccount, UserId: sessUser, SessionId: id,
		Permissions: []string{"organizations:read"}}, nil
}

// startSessionOrg serves the fakes, and for any other method answers FailedPrecondition
// "reached" after recording it.
func startSessionOrg(t *testing.T, keys *identity.Keyring) (*sessionOrg, string) {
	t.Helper()
	o := &sessionOrg{keys: keys, sessions: map[[32]byte]string{}, challenges: map[string]orgv1.SignInChallengeKind{},
		flows: map[string]ssoFlow{}, flowTTL: 5 * time.Minute}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		md, _ := metadata.FromIncomingContext(stream.Context())
		// The audience is the service the path names; a token for another is refused.
		var id identity.Identity
		var err error
		for _, aud := range []string{"org", "mapping", "integration-sync", "notification", "billing"} {
			if id, err = identity.FromIncomingFor(stream.Context(), keys, aud); err == nil {
				break
			}
		}
		o.mu.Lock()
		o.calls = append(o.calls, received{method: method, id: id, md: md})
		o.mu.Unlock()
		return errReached
	}))
	orgv1.RegisterSignInServiceServer(srv, signInFake{sessionOrg: o})
	orgv1.RegisterSignInAuthServiceServer(srv, sessionAuthFake{sessionOrg: o})
	orgv1.RegisterSingleSignOnServiceServer(srv, ssoFake{sessionOrg: o})
	orgv1.RegisterAuthServiceServer(srv, &fakeOrg{valid: map[[32]byte]bool{sha256.Sum256([]byte(sessKey)): true}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return o, lis.Addr().String()
}

// sessionGateway is a gateway with every service's routes (and org's sign-in routes) in front of
// one sessionOrg.
func sessionGateway(t *testing.T, adjust func(*gatewaysvc.Config)) (*sessionOrg, http.Handler, *logLines) {
	t.Helper()
	keys := testkit.Keyring(t)
	o, addr := startSessionOrg(t, keys)
	var ups []gatewaysvc.Upstream
	for _, s := range suite.Specs(suite.Options{}) {
		routes := s.Routes
		if s.Name == "org" {
			// Registered again if org's spec has it already: the mux takes the later one.
			routes = append(append([]platform.Route{}, routes...), orgv1.RegisterSignInServiceHandler, orgv1.RegisterSingleSignOnServiceHandler)
		}
		ups = append(ups, gatewaysvc.Upstream{Name: s.Name, Addr: addr, Routes: routes})
	}
	logs := &logLines{}
	cfg := gatewaysvc.Config{
		Log:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Keys: keys, OperatorToken: operator, Upstreams: ups,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	g, err := gatewaysvc.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return o, g, logs
}

// send serves one request; header holds name, value pairs.
func send(h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// signedIn signs in through the gateway and returns the session cookie and CSRF token.
func signedIn(t *testing.T, h http.Handler) (*http.Cookie, string, *httptest.ResponseRecorder) {
	t.Helper()
	w := send(h, "POST", "/v1/signIn", `{"email":"ada@example.com","password":"`+sessPassword+`"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("sign in: %d %s", w.Code, w.Body)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("sign in set %d cookies: %v", len(cookies), w.Header().Values("Set-Cookie"))
	}
	var body struct {
		CurrentUser struct {
			CsrfToken string `json:"csrfToken"`
		} `json:"currentUser"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.CurrentUser.CsrfToken == "" {
		t.Fatalf("sign in: no csrfToken in %s", w.Body)
	}
	return cookies[0], body.CurrentUser.CsrfToken, w
}

func cookieHeader(c *http.Cookie) string { return c.Name + "=" + c.Value }

// apiRoute is one REST binding of an orgplane RPC, from the proto registry.
type apiRoute struct {
	rpc    protoreflect.FullName
	method string
	path   string // variables filled with a UUID
	public bool
}

// apiRoutes reads every REST route of every orgplane RPC, and whether its rule makes it public,
// from the registered descriptors.
func apiRoutes(t *testing.T) []apiRoute {
	t.Helper()
	_ = suite.Specs(suite.Options{}) // every service's descriptors are registered
	var out []apiRoute
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "orgplane.") {
			return true
		}
		for i := range f.Services().Len() {
			sd := f.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				for _, b := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					method, path := binding(b)
					path = filledPath(path)
					out = append(out, apiRoute{rpc: md.FullName(), method: method, path: path, public: rpc.PublicMethod(md)})
				}
			}
		}
		return true
	})
	return out
}

func binding(b *annotations.HttpRule) (string, string) {
	switch p := b.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return "GET", p.Get
	case *annotations.HttpRule_Post:
		return "POST", p.Post
	case *annotations.HttpRule_Put:
		return "PUT", p.Put
	case *annotations.HttpRule_Patch:
		return "PATCH", p.Patch
	case *annotations.HttpRule_Delete:
		return "DELETE", p.Delete
	}
	return "", ""
}

func filledPath(template string) string {
	var b strings.Builder
	for {
		i := strings.Index(template, "{")
		if i < 0 {
			b.WriteString(template)
			return b.String()
		}
		j := strings.Index(template[i:], "}")
		b.WriteString(template[:i] + "00000000-0000-4000-8000-000000000001")
		template = template[i+j+1:]
	}
}

func grpcName(rpc protoreflect.FullName) string {
	return "/" + string(rpc.Parent()) + "/" + string(rpc.Name())
}

// The routes of RPCs whose rule says public (read from the registry, as the gateway reads them)
// reach their service without a credential, as the gateway itself, with the client attested;
// a credential sent along is ignored. Every other route is 401 without one, and no service hears
// of the request.
func TestPublicRoutesTakeNoCredentialAndNoOtherRouteDoes(t *testing.T) {
	o, g, _ := sessionGateway(t, func(c *gatewaysvc.Config) {
		c.AuthFailures.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		c.RateLimit = gatewaysvc.RateLimit{PerSecond: 1000, Burst: 1000}
	})
	routes := apiRoutes(t)
	public := map[string]bool{}
	for _, rt := range routes {
		if rt.public {
			public[rt.method+" "+rt.path] = true
		}
	}
	// Every public route, so that making one more public is a decision this test records.
	wantPublic := []string{
		"POST /v1/signIn", "POST /v1/signIn:verifyCode", "POST /v1/signIn:startEnrollment", "POST /v1/signIn:completeEnrollment",
		"POST /v1/passwordResets", "POST /v1/passwordResets:complete", "POST /v1/invitations:accept",
		"POST /v1/singleSignOn:start", "GET /v1/singleSignOn/callback",
	}
	for _, want := range wantPublic {
		if !public[want] {
			t.Errorf("%s is not public in the registry", want)
		}
	}
	if len(routes) < 60 || len(public) != len(wantPublic) {
		t.Fatalf("%d routes, %d public (%v): the registry was not read as expected", len(routes), len(public), public)
	}
	for _, rt := range routes {
		before := o.count()
		w := send(g, rt.method, rt.path, "{}")
		if !rt.public {
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s %s without a credential: %d %s, want 401", rt.method, rt.path, w.Code, w.Body)
			}
			if o.count() != before {
				t.Errorf("%s %s without a credential reached a service", rt.method, rt.path)
			}
			continue
		}
		// Public: whatever credential and client-made attestation the request carries.
		r := httptest.NewRequest(rt.method, rt.path, strings.NewReader("{}"))
		r.RemoteAddr = "10.1.2.3:4567" // a trusted proxy, forwarding for 203.0.113.9
		r.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
		r.Header.Set("User-Agent", "Mozilla/5.0 (Test) \x01Browser")
		r.Header.Set("Authorization", "Bearer "+sessKey)
		r.Header.Set("Cookie", "__Host-orgplane_session=ops_whatever")
		r.Header.Set("X-Orgplane-Client-Address", "6.6.6.6")
		r.Header.Set("Grpc-Metadata-X-Orgplane-Client-Address", "6.6.6.6")
		r.Header.Set("Grpc-Metadata-X-Orgplane-User-Agent", "spoofed")
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, r)
		if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
			t.Errorf("public %s %s: %d %s", rt.method, rt.path, rec.Code, rec.Body)
			continue
		}
		got, ok := o.last(grpcName(rt.rpc))
		if !ok {
			t.Errorf("public %s %s: %s was not called", rt.method, rt.path, rt.rpc)
			continue
		}
		if got.id.Kind != identity.KindService || got.id.PrincipalID != "gateway" {
			t.Errorf("public %s %s reached the service as %+v, want the gateway", rt.method, rt.path, got.id)
		}
		if a := got.md.Get("x-orgplane-client-address"); len(a) != 1 || a[0] != "203.0.113.9" {
			t.Errorf("public %s %s: client address %v, want [203.0.113.9]", rt.method, rt.path, a)
		}
		if ua := got.md.Get("x-orgplane-user-agent"); len(ua) != 1 || ua[0] != "Mozilla/5.0 (Test) ?Browser" {
			t.Errorf("public %s %s: user agent %q", rt.method, rt.path, ua)
		}
		if a := got.md.Get("authorization"); len(a) > 0 {
			t.Errorf("public %s %s: the client's Authorization reached the service: %v", rt.method, rt.path, a)
		}
	}
}

// A bearer credential or cookie on a public route opens nothing more: the call is the gateway's,
// which services refuse anything but the public RPCs (and the gateway does not even send).
func TestSignInTakesNoCredentialAndOpensASession(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		name := map[bool]string{false: "https", true: "insecure http"}[insecure]
		t.Run(name, func(t *testing.T) {
			o, g, logs := sessionGateway(t, func(c *gatewaysvc.Config) { c.InsecureCookies = insecure })
			cookie, csrf, w := signedIn(t, g)
			call, _ := o.last("SignIn")
			if call.id.Kind != identity.KindService || call.id.PrincipalID != "gateway" {
				t.Fatalf("SignIn reached org as %+v", call.id)
			}

			// The cookie: HttpOnly, SameSite=Lax, Path=/, until the session's absolute expiry;
			// Secure with the __Host- prefix unless the gateway serves plain HTTP.
			set := w.Header().Values("Set-Cookie")
			raw := set[0]
			wantName := "__Host-orgplane_session"
			if insecure {
				wantName = "orgplane_session"
			}
			if cookie.Name != wantName || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" ||
				cookie.Domain != "" || cookie.Secure == insecure {
				t.Errorf("cookie %q", raw)
			}
			if cookie.MaxAge != 12*3600 {
				t.Errorf("cookie Max-Age %d, want the session's 12 h", cookie.MaxAge)
			}
			if !strings.HasPrefix(cookie.Value, "ops_") || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("cookie %q, Cache-Control %q", raw, w.Header().Get("Cache-Control"))
			}
			// The token is in the cookie, not in the body.
			if strings.Contains(w.Body.String(), cookie.Value) || strings.Contains(w.Body.String(), strings.TrimPrefix(cookie.Value, "ops_")) {
				t.Errorf("the body holds the session token: %s", w.Body)
			}
			var body map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if body["sessionToken"] != "" {
				t.Errorf("sessionToken = %v", body["sessionToken"])
			}

			// The cookie authenticates: org resolves its digest, the service sees the session.
			me := send(g, "GET", "/v1/me", "", "Cookie", cookieHeader(cookie), "User-Agent", "TestBrowser/1")
			if me.Code != http.StatusOK {
				t.Fatalf("GET /v1/me: %d %s", me.Code, me.Body)
			}
			var cu struct {
				CsrfToken string `json:"csrfToken"`
			}
			_ = json.Unmarshal(me.Body.Bytes(), &cu)
			if cu.CsrfToken != csrf {
				t.Errorf("GET /v1/me csrfToken %q, sign-in's %q", cu.CsrfToken, csrf)
			}
			got, _ := o.last("GetCurrentUser")
			if got.id.Kind != identity.KindUser || got.id.UserID != sessUser || got.id.SessionID == "" || got.id.AccountID != sessAccount {
				t.Errorf("GET /v1/me reached org as %+v", got.id)
			}
			if ua := got.md.Get("x-orgplane-user-agent"); len(ua) != 1 || ua[0] != "TestBrowser/1" {
				t.Errorf("user agent attested as %v", ua)
			}
			if a := got.md.Get("x-orgplane-client-address"); len(a) != 1 || a[0] != "192.0.2.1" {
				t.Errorf("client address attested as %v", a)
			}
			auth, _ := o.last("AuthenticateSession")
			if auth.id.Kind != identity.KindService || auth.id.PrincipalID != "gateway" {
				t.Errorf("AuthenticateSession called as %+v", auth.id)
			}

			// The cookie under the other deployment's name is not the session cookie.
			other := "orgplane_session"
			if insecure {
				other = "__Host-orgplane_session"
			}
			if w := send(g, "GET", "/v1/me", "", "Cookie", other+"="+cookie.Value); w.Code != http.StatusUnauthorized {
				t.Errorf("the session under %s: %d", other, w.Code)
			}

			// The access log names the session, never its token or CSRF token.
			lines := logs.requests(t, 3)
			var meLine map[string]any
			for _, l := range lines {
				if l["route"] == "/v1/me" && l["status"] == float64(200) {
					meLine = l
				}
			}
			if meLine == nil || meLine["caller"] != "session" || meLine["principal"] != sessUser || meLine["session_id"] != got.id.SessionID ||
				meLine["account_id"] != sessAccount {
				t.Errorf("access log of GET /v1/me: %v", meLine)
			}
			if lines[0]["caller"] != "public" {
				t.Errorf("access log of the sign-in: %v", lines[0])
			}
			all := logs.String()
			for _, secret := range []string{cookie.Value, csrf, sessPassword} {
				if strings.Contains(all, secret) {
					t.Errorf("the log holds a secret %q", secret)
				}
			}
		})
	}
}

// Issue 18: a cookie request that changes something needs X-CSRF-Token; one that reads does not;
// a bearer request never does. Checked on a route of every method the API has.
func TestCookieRequestsThatChangeSomethingNeedTheCSRFToken(t *testing.T) {
	o, g, _ := sessionGateway(t, nil)
	byMethod := map[string]apiRoute{}
	for _, rt := range apiRoutes(t) {
		if _, ok := byMethod[rt.method]; !ok && !rt.public {
			byMethod[rt.method] = rt
		}
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		rt, ok := byMethod[m]
		if !ok {
			t.Fatalf("no %s route in the API", m)
		}
		body := ""
		if m != "GET" && m != "DELETE" {
			body = "{}"
		}
		// A session per method: the route picked for one (the registry's order varies from run
		// to run) may be sign-out or a session's revocation, which would end the session the
		// next method is tried with.
		cookie, csrf, _ := signedIn(t, g)
		forbidden := func(w *httptest.ResponseRecorder) bool {
			var s struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &s)
			return w.Code == http.StatusForbidden && s.Code == int(codes.PermissionDenied) && s.Message == "missing or wrong X-CSRF-Token"
		}
		without := send(g, m, rt.path, body, "Cookie", cookieHeader(cookie))
		wrong := send(g, m, rt.path, body, "Cookie", cookieHeader(cookie), "X-CSRF-Token", csrf[:len(csrf)-2]+"AA")
		right := send(g, m, rt.path, body, "Cookie", cookieHeader(cookie), "X-CSRF-Token", csrf)
		bearer := send(g, m, rt.path, body, "Authorization", "Bearer "+sessKey)
		if got, _ := o.last(grpcName(rt.rpc)); len(got.md.Get("authorization")) > 0 {
			t.Errorf("%s %s: the API key reached the service in metadata", m, rt.path)
		}
		switch m {
		case "GET":
			if forbidden(without) || without.Code == http.StatusUnauthorized {
				t.Errorf("GET %s with the cookie alone: %d %s", rt.path, without.Code, without.Body)
			}
		default:
			if !forbidden(without) {
				t.Errorf("%s %s with the cookie, no X-CSRF-Token: %d %s, want 403 naming X-CSRF-Token", m, rt.path, without.Code, without.Body)
			}
			if !forbidden(wrong) {
				t.Errorf("%s %s with a wrong X-CSRF-Token: %d %s", m, rt.path, wrong.Code, wrong.Body)
			}
		}
		if right.Code == http.StatusForbidden || right.Code == http.StatusUnauthorized {
			t.Errorf("%s %s with the cookie and its X-CSRF-Token: %d %s", m, rt.path, right.Code, right.Body)
		}
		if bearer.Code == http.StatusForbidden || bearer.Code == http.StatusUnauthorized {
			t.Errorf("%s %s with an API key, no X-CSRF-Token: %d %s", m, rt.path, bearer.Code, bearer.Body)
		}
	}
	// Another session's token is no good for this one.
	cookie, _, _ := signedIn(t, g)
	_, otherCSRF, _ := signedIn(t, g)
	if w := send(g, "POST", "/v1/signOut", "{}", "Cookie", cookieHeader(cookie), "X-CSRF-Token", otherCSRF); w.Code != http.StatusForbidden {
		t.Errorf("sign out with another session's CSRF token: %d %s", w.Code, w.Body)
	}
}

// A page of another site can make a browser send the cookie; the gateway answers such a request
// only from its own origin or an allowed CORS origin.
func TestCookieRequestsFromOtherOriginsAreRefused(t *testing.T) {
	const ui = "https://ui.example.com"
	_, g, _ := sessionGateway(t, func(c *gatewaysvc.Config) { c.CORSOrigins = []string{ui} })
	cookie, csrf, _ := signedIn(t, g)
	for origin, ok := range map[string]bool{
		"": true, ui: true, "https://example.com": true, // httptest's host
		"https://evil.example.net": false, "http://example.com": false, "https://ui.example.com.evil.net": false, "null": false,
	} {
		w := send(g, "GET", "/v1/me", "", "Cookie", cookieHeader(cookie), "Origin", origin)
		if ok && w.Code != http.StatusOK || !ok && w.Code != http.StatusForbidden {
			t.Errorf("GET /v1/me with the cookie from origin %q: %d %s", origin, w.Code, w.Body)
		}
		w = send(g, "POST", "/v1/me/sessions/"+uuid.NewString()+":revoke", "{}", "Cookie", cookieHeader(cookie),
			"X-CSRF-Token", csrf, "Origin", origin)
		if ok && w.Code != http.StatusOK || !ok && w.Code != http.StatusForbidden {
			t.Errorf("POST revoke with the cookie from origin %q: %d %s", origin, w.Code, w.Body)
		}
	}
	// A bearer request from any origin is the API key holder's business, as before.
	if w := send(g, "GET", "/v1/accounts/"+sessAccount, "", "Authorization", "Bearer "+sessKey, "Origin", "https://evil.example.net"); w.Code == http.StatusForbidden {
		t.Errorf("API key from another origin: %d %s", w.Code, w.Body)
	}
}

// Signing out, revoking this very session and revoking all of them clear the cookie; revoking
// another session leaves it.
func TestEndingThisSessionClearsTheCookie(t *testing.T) {
	_, g, _ := sessionGateway(t, nil)
	cleared := func(w *httptest.ResponseRecorder) bool {
		for _, c := range w.Result().Cookies() {
			if c.Name == "__Host-orgplane_session" && c.MaxAge < 0 && c.Value == "" && c.Secure && c.HttpOnly && c.Path == "/" {
				return true
			}
		}
		return false
	}
	post := func(path string, c *http.Cookie, csrf string) *httptest.ResponseRecorder {
		w := send(g, "POST", path, "{}", "Cookie", cookieHeader(c), "X-CSRF-Token", csrf)
		if w.Code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, w.Code, w.Body)
		}
		return w
	}
	sessionOf := func(c *http.Cookie) string {
		var cu struct {
			Session struct {
				ID string `json:"id"`
			} `json:"session"`
		}
		_ = json.Unmarshal(send(g, "GET", "/v1/me", "", "Cookie", cookieHeader(c)).Body.Bytes(), &cu)
		return cu.Session.ID
	}

	c, csrf, _ := signedIn(t, g)
	if w := post("/v1/signOut", c, csrf); !cleared(w) {
		t.Errorf("sign out: Set-Cookie %v", w.Header().Values("Set-Cookie"))
	}
	if w := send(g, "GET", "/v1/me", "", "Cookie", cookieHeader(c)); w.Code != http.StatusUnauthorized {
		t.Errorf("the cookie after sign out: %d", w.Code)
	}

	c, csrf, _ = signedIn(t, g)
	other, _, _ := signedIn(t, g)
	if w := post("/v1/me/sessions/"+sessionOf(other)+":revoke", c, csrf); cleared(w) || len(w.Header().Values("Set-Cookie")) > 0 {
		t.Errorf("revoking another session: Set-Cookie %v", w.Header().Values("Set-Cookie"))
	}
	if w := post("/v1/me/sessions/"+sessionOf(c)+":revoke", c, csrf); !cleared(w) {
		t.Errorf("revoking this session: Set-Cookie %v", w.Header().Values("Set-Cookie"))
	}

	c, csrf, _ = signedIn(t, g)
	if w := post("/v1/me/sessions:revokeAll", c, csrf); !cleared(w) {
		t.Errorf("revoke all: Set-Cookie %v", w.Header().Values("Set-Cookie"))
	}
}

// A cookie org does not know is answered exactly as a missing credential, and spends the
// client's allowance of failures like a wrong API key: once it is spent, 429 without asking org.
func TestRefusedCookiesLookLikeNoCredentialAndAreThrottled(t *testing.T) {
	o, g, _ := sessionGateway(t, func(c *gatewaysvc.Config) {
		c.AuthFailures = gatewaysvc.AuthThrottle{PerAddress: hour(3), PerPrefix: hour(100)}
	})
	none := send(g, "GET", "/v1/me", "")
	for i := range 3 {
		w := send(g, "GET", "/v1/me", "", "Cookie", "__Host-orgplane_session=ops_guess"+strings.Repeat("x", i+20))
		if w.Code != none.Code || w.Body.String() != none.Body.String() ||
			w.Header().Get("WWW-Authenticate") != none.Header().Get("WWW-Authenticate") {
			t.Fatalf("guess %d: %d %s, no credential: %d %s", i, w.Code, w.Body, none.Code, none.Body)
		}
	}
	before := o.count()
	requireThrottled(t, send(g, "GET", "/v1/me", "", "Cookie", "__Host-orgplane_session=ops_guess-fourth"), "the fourth guess")
	if o.count() != before {
		t.Error("a throttled cookie was looked up")
	}
}
