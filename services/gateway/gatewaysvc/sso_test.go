package gatewaysvc_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// The fakes' side of the second step and of single sign-on: org's answers, as its API describes
// them, to what the gateway forwards.
const (
	twoStepEmail = "two-step@example.com" // signs in with a code after the password
	enrollEmail  = "enroll@example.com"   // must enroll in two-step verification first
	goodCode     = "123456"
	goodRecovery = "rcv-aaaa-bbbb"
)

func randomToken(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// challenge opens a second step of kind for a sign-in whose password was right.
func (o *sessionOrg) challenge(kind orgv1.SignInChallengeKind) *orgv1.SignInChallenge {
	token := randomToken("osc_")
	o.mu.Lock()
	o.challenges[token] = kind
	o.mu.Unlock()
	return &orgv1.SignInChallenge{Kind: kind, Token: token, ExpireTime: timestamppb.New(time.Now().Add(5 * time.Minute))}
}

// takeChallenge ends the challenge token if it is open and of kind.
func (o *sessionOrg) takeChallenge(token string, kind orgv1.SignInChallengeKind, end bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if k, ok := o.challenges[token]; !ok || k != kind {
		return false
	}
	if end {
		delete(o.challenges, token)
	}
	return true
}

func (f signInFake) VerifySignInCode(ctx context.Context, req *orgv1.VerifySignInCodeRequest) (*orgv1.SignInResponse, error) {
	if _, err := f.record(ctx); err != nil {
		return nil, err
	}
	if req.GetCode() != goodCode && req.GetRecoveryCode() != goodRecovery ||
		!f.takeChallenge(req.GetChallengeToken(), orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE, true) {
		return nil, errReached
	}
	return f.signedIn(twoStepEmail), nil
}

func (f signInFake) StartSignInEnrollment(ctx context.Context, req *orgv1.StartSignInEnrollmentRequest) (*orgv1.TwoStepEnrollment, error) {
	if _, err := f.record(ctx); err != nil {
		return nil, err
	}
	if !f.takeChallenge(req.GetChallengeToken(), orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_ENROLLMENT, false) {
		return nil, errReached
	}
	return &orgv1.TwoStepEnrollment{Secret: "JBSWY3DPEHPK3PXP", OtpauthUri: "otpauth://totp/Orgplane:enroll@example.com?secret=JBSWY3DPEHPK3PXP",
		ExpireTime: timestamppb.New(time.Now().Add(10 * time.Minute))}, nil
}

func (f signInFake) CompleteSignInEnrollment(ctx context.Context, req *orgv1.CompleteSignInEnrollmentRequest) (*orgv1.SignInResponse, error) {
	if _, err := f.record(ctx); err != nil {
		return nil, err
	}
	if req.GetCode() != goodCode ||
		!f.takeChallenge(req.GetChallengeToken(), orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_ENROLLMENT, true) {
		return nil, errReached
	}
	resp := f.signedIn(enrollEmail)
	resp.RecoveryCodes = []string{goodRecovery, "rcv-cccc-dddd"}
	return resp, nil
}

// ssoFlow is a single sign-on org started: the state it sent the provider and where the
// browser goes afterwards.
type ssoFlow struct{ state, returnPath string }

// ssoFake is org's single sign-on: it binds each flow to the binding it returns, and completes
// a flow only for its state together with its binding. The return path is echoed unchecked, as
// if org's own check had let something through.
type ssoFake struct {
	orgv1.UnimplementedSingleSignOnServiceServer
	*sessionOrg
}

func (f ssoFake) StartSingleSignOn(ctx context.Context, req *orgv1.StartSingleSignOnRequest) (*orgv1.StartSingleSignOnResponse, error) {
	if _, err := f.record(ctx); err != nil {
		return nil, err
	}
	binding, state := randomToken("osb_"), randomToken("")
	f.mu.Lock()
	f.flows[binding] = ssoFlow{state: state, returnPath: req.GetReturnPath()}
	ttl := f.flowTTL
	f.mu.Unlock()
	return &orgv1.StartSingleSignOnResponse{
		AuthorizationUrl: "https://idp.example/authorize?state=" + state, FlowBinding: binding,
		ExpireTime: timestamppb.New(time.Now().Add(ttl)),
	}, nil
}

func (f ssoFake) CompleteSingleSignOn(ctx context.Context, req *orgv1.CompleteSingleSignOnRequest) (*orgv1.SignInResponse, error) {
	if _, err := f.record(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.bindings = append(f.bindings, req.GetFlowBinding())
	flow, ok := f.flows[req.GetFlowBinding()]
	delete(f.flows, req.GetFlowBinding())
	f.mu.Unlock()
	switch {
	case req.GetError() != "":
		return nil, status.Error(codes.FailedPrecondition, "the identity provider refused the sign-in")
	case !ok || flow.state != req.GetState():
		return nil, status.Error(codes.FailedPrecondition, "the sign-in did not start in this browser")
	}
	resp := f.signedIn("ada@example.com")
	resp.ReturnPath = flow.returnPath
	return resp, nil
}

// lastBinding is the binding the last CompleteSingleSignOn received.
func (o *sessionOrg) lastBinding(t *testing.T) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.bindings) == 0 {
		t.Fatal("CompleteSingleSignOn was not called")
	}
	return o.bindings[len(o.bindings)-1]
}

// lastIssued is the session token org handed out last.
func (o *sessionOrg) lastIssued() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.issued) == 0 {
		return ""
	}
	return o.issued[len(o.issued)-1]
}

// cookieIn is the cookie name the response sets, if it sets exactly one by that name.
func cookieIn(t *testing.T, w *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	var found []*http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
		return found[0]
	}
	t.Fatalf("%d cookies named %s: %v", len(found), name, w.Header().Values("Set-Cookie"))
	return nil
}

// noTokenIn fails unless the body holds none of the session tokens org has issued, and no
// sessionToken value.
func noTokenIn(t *testing.T, o *sessionOrg, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	o.mu.Lock()
	issued := append([]string{}, o.issued...)
	o.mu.Unlock()
	for _, token := range issued {
		if strings.Contains(w.Body.String(), strings.TrimPrefix(token, "ops_")) {
			t.Errorf("%s: the body holds a session token: %s", what, w.Body)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err == nil && body["sessionToken"] != nil && body["sessionToken"] != "" {
		t.Errorf("%s: sessionToken = %v", what, body["sessionToken"])
	}
}

func challengeIn(t *testing.T, w *httptest.ResponseRecorder) (kind, token string) {
	t.Helper()
	var body struct {
		Challenge *struct {
			Kind  string `json:"kind"`
			Token string `json:"token"`
		} `json:"challenge"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Challenge == nil {
		t.Fatalf("no challenge in %d %s", w.Code, w.Body)
	}
	return body.Challenge.Kind, body.Challenge.Token
}

// Issue 18: every answer that completes a sign-in, whichever call gave it, puts the session in
// the cookie, keeps its token out of the body and fills the CSRF token; a challenge for a second
// step sets no cookie and keeps its own token in the body, for the next step.
func TestEveryCompletedSignInSetsTheCookieAndNoBodyHoldsTheToken(t *testing.T) {
	o, g, _ := sessionGateway(t, nil)
	signIn := func(email string) *httptest.ResponseRecorder {
		return send(g, "POST", "/v1/signIn", `{"email":"`+email+`","password":"`+sessPassword+`"}`)
	}
	// challenged signs email in as far as its challenge, which must set no cookie.
	challenged := func(email, wantKind string) string {
		w := signIn(email)
		if w.Code != http.StatusOK {
			t.Fatalf("sign in %s: %d %s", email, w.Code, w.Body)
		}
		kind, token := challengeIn(t, w)
		if kind != wantKind || !strings.HasPrefix(token, "osc_") {
			t.Errorf("sign in %s: challenge %s %q", email, kind, token)
		}
		if set := w.Header().Values("Set-Cookie"); len(set) > 0 {
			t.Errorf("sign in %s answered with a challenge set a cookie: %v", email, set)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("sign in %s: Cache-Control %q", email, w.Header().Get("Cache-Control"))
		}
		noTokenIn(t, o, "challenge", w)
		return token
	}
	for _, tc := range []struct {
		name     string
		complete func() *httptest.ResponseRecorder
		recovery bool // the answer holds the new recovery codes
	}{
		{name: "SignIn", complete: func() *httptest.ResponseRecorder { return signIn("ada@example.com") }},
		{name: "VerifySignInCode with a code", complete: func() *httptest.ResponseRecorder {
			token := challenged(twoStepEmail, "SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE")
			return send(g, "POST", "/v1/signIn:verifyCode", `{"challengeToken":"`+token+`","code":"`+goodCode+`"}`)
		}},
		{name: "VerifySignInCode with a recovery code", complete: func() *httptest.ResponseRecorder {
			token := challenged(twoStepEmail, "SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE")
			return send(g, "POST", "/v1/signIn:verifyCode", `{"challengeToken":"`+token+`","recoveryCode":"`+goodRecovery+`"}`)
		}},
		{name: "CompleteSignInEnrollment", recovery: true, complete: func() *httptest.ResponseRecorder {
			token := challenged(enrollEmail, "SIGN_IN_CHALLENGE_KIND_TWO_STEP_ENROLLMENT")
			start := send(g, "POST", "/v1/signIn:startEnrollment", `{"challengeToken":"`+token+`"}`)
			if start.Code != http.StatusOK || !strings.Contains(start.Body.String(), `"secret":"JBSWY3DPEHPK3PXP"`) {
				t.Fatalf("start enrollment: %d %s", start.Code, start.Body)
			}
			if set := start.Header().Values("Set-Cookie"); len(set) > 0 {
				t.Errorf("start enrollment set a cookie: %v", set)
			}
			return send(g, "POST", "/v1/signIn:completeEnrollment", `{"challengeToken":"`+token+`","code":"`+goodCode+`"}`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.complete()
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			token := o.lastIssued()
			cookie := cookieIn(t, w, "__Host-orgplane_session")
			if cookie == nil || cookie.Value != token || !cookie.HttpOnly || !cookie.Secure || cookie.Path != "/" ||
				cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge != 12*3600 {
				t.Fatalf("session cookie %v, want the session org opened", w.Header().Values("Set-Cookie"))
			}
			noTokenIn(t, o, tc.name, w)
			var body struct {
				CurrentUser struct {
					CsrfToken string `json:"csrfToken"`
				} `json:"currentUser"`
				RecoveryCodes []string `json:"recoveryCodes"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if tc.recovery != (len(body.RecoveryCodes) == 2) {
				t.Errorf("recovery codes %v", body.RecoveryCodes)
			}
			// The CSRF token is this session's: the one GET /v1/me gives with the cookie.
			me := send(g, "GET", "/v1/me", "", "Cookie", cookieHeader(cookie))
			var cu struct {
				CsrfToken string `json:"csrfToken"`
			}
			_ = json.Unmarshal(me.Body.Bytes(), &cu)
			if me.Code != http.StatusOK || body.CurrentUser.CsrfToken == "" || cu.CsrfToken != body.CurrentUser.CsrfToken {
				t.Errorf("csrfToken %q, GET /v1/me with the cookie: %d %s", body.CurrentUser.CsrfToken, me.Code, me.Body)
			}
		})
	}
}

// startFlow starts a single sign-on returning to returnPath and answers the flow cookie it set
// and the state the provider would echo.
func startFlow(t *testing.T, o *sessionOrg, g http.Handler, returnPath string) (*http.Cookie, string, *httptest.ResponseRecorder) {
	t.Helper()
	w := send(g, "POST", "/v1/singleSignOn:start", `{"email":"ada@example.com","returnPath":`+jsonString(returnPath)+`}`)
	if w.Code != http.StatusOK {
		t.Fatalf("start single sign-on: %d %s", w.Code, w.Body)
	}
	var body struct {
		AuthorizationURL string `json:"authorizationUrl"`
		FlowBinding      string `json:"flowBinding"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(body.AuthorizationURL)
	if err != nil || u.Host != "idp.example" || u.Query().Get("state") == "" {
		t.Fatalf("authorizationUrl %q", body.AuthorizationURL)
	}
	if body.FlowBinding != "" {
		t.Errorf("flowBinding %q reached the body", body.FlowBinding)
	}
	var flow *http.Cookie
	for _, c := range w.Result().Cookies() {
		if strings.HasSuffix(c.Name, "orgplane_sso") {
			flow = c
		}
	}
	if flow == nil {
		t.Fatalf("no flow cookie: %v", w.Header().Values("Set-Cookie"))
	}
	if strings.Contains(w.Body.String(), strings.TrimPrefix(flow.Value, "osb_")) {
		t.Errorf("the body holds the flow binding: %s", w.Body)
	}
	o.mu.Lock()
	_, known := o.flows[flow.Value]
	o.mu.Unlock()
	if !known {
		t.Fatalf("flow cookie %q is not the binding org returned", flow.Value)
	}
	return flow, u.Query().Get("state"), w
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// flowCleared reports whether the response drops the flow cookie named name.
func flowCleared(t *testing.T, w *httptest.ResponseRecorder, name string) bool {
	t.Helper()
	c := cookieIn(t, w, name)
	return c != nil && c.Value == "" && c.MaxAge < 0 && c.Path == "/" && c.HttpOnly
}

// Issue 18: starting a single sign-on binds the flow to the browser with a short-lived HttpOnly
// cookie that the provider's cross-site redirect back still carries (SameSite=Lax), until the
// flow's expiry and never beyond 10 minutes; the binding stays out of the body.
func TestStartingSingleSignOnSetsTheFlowCookie(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		t.Run(map[bool]string{false: "https", true: "insecure http"}[insecure], func(t *testing.T) {
			o, g, _ := sessionGateway(t, func(c *gatewaysvc.Config) { c.InsecureCookies = insecure })
			wantName := "__Host-orgplane_sso"
			if insecure {
				wantName = "orgplane_sso"
			}
			for _, tc := range []struct {
				ttl        time.Duration // the flow's expiry, from now on org's clock
				minA, maxA int
			}{
				{5 * time.Minute, 299, 300},
				{time.Hour, 600, 600},        // capped
				{-2 * time.Minute, 600, 600}, // org's clock behind: org judges expiry, the cookie takes the cap
			} {
				o.mu.Lock()
				o.flowTTL = tc.ttl
				o.mu.Unlock()
				flow, _, w := startFlow(t, o, g, "/organizations")
				if flow.Name != wantName || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.Path != "/" ||
					flow.Domain != "" || flow.Secure == insecure || !strings.HasPrefix(flow.Value, "osb_") {
					t.Errorf("flow cookie %v", w.Header().Values("Set-Cookie"))
				}
				if flow.MaxAge < tc.minA || flow.MaxAge > tc.maxA {
					t.Errorf("flow of %v: Max-Age %d, want %d..%d", tc.ttl, flow.MaxAge, tc.minA, tc.maxA)
				}
				if len(w.Result().Cookies()) != 1 || w.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("start set %v, Cache-Control %q", w.Header().Values("Set-Cookie"), w.Header().Get("Cache-Control"))
				}
			}
			call, _ := o.last("StartSingleSignOn")
			if call.id.Kind != identity.KindService || call.id.PrincipalID != "gateway" {
				t.Errorf("StartSingleSignOn reached org as %+v", call.id)
			}
		})
	}
}

// Issue 18: the callback's binding is the flow cookie's, whatever the query says, so a callback
// URL carried to another browser (or forged with a binding in it) fails there.
func TestSingleSignOnCallbackTakesTheBindingFromTheCookieOnly(t *testing.T) {
	o, g, _ := sessionGateway(t, nil)
	// grpc-gateway fills a field from its proto name and its JSON name alike.
	for _, forged := range []string{"", "&flow_binding=osb_forged", "&flowBinding=osb_forged", "&flow_binding="} {
		flow, state, _ := startFlow(t, o, g, "/organizations")
		w := send(g, "GET", "/v1/singleSignOn/callback?state="+state+"&code=authcode"+forged, "", "Cookie", cookieHeader(flow))
		if got := o.lastBinding(t); got != flow.Value {
			t.Errorf("query %q: org got binding %q, the cookie holds %q", forged, got, flow.Value)
		}
		if w.Code != http.StatusSeeOther {
			t.Errorf("query %q: callback with the flow cookie: %d %s", forged, w.Code, w.Body)
		}
	}

	// Another browser: the right state and even the right binding in the query, no cookie.
	flow, state, _ := startFlow(t, o, g, "/organizations")
	w := send(g, "GET", "/v1/singleSignOn/callback?state="+state+"&code=authcode&flow_binding="+flow.Value, "")
	if got := o.lastBinding(t); got != "" {
		t.Errorf("without the flow cookie org got binding %q", got)
	}
	if w.Code != http.StatusBadRequest || cookieIn(t, w, "__Host-orgplane_session") != nil {
		t.Errorf("callback without the flow cookie: %d %s %v", w.Code, w.Body, w.Header().Values("Set-Cookie"))
	}
	if !flowCleared(t, w, "__Host-orgplane_sso") {
		t.Errorf("callback without the flow cookie: Set-Cookie %v", w.Header().Values("Set-Cookie"))
	}
}

// Issue 18: a completed single sign-on sets the session cookie, drops the flow cookie and sends
// the browser on (303) to the path it started from, if that is a path on this site, else to "/".
// It is public like every sign-in: a credential the browser sends along changes nothing.
func TestSingleSignOnCallbackRedirectsToTheWebUI(t *testing.T) {
	o, g, _ := sessionGateway(t, nil)
	for _, tc := range []struct{ returnPath, location string }{
		{"/organizations?tab=mine", "/organizations?tab=mine"},
		{"/", "/"},
		{"", "/"},
		{"//evil.example", "/"},
		{"//evil.example/organizations", "/"},
		{"https://evil", "/"},
		{"evil.example", "/"},
		{`/\evil.example`, "/"},
		{"/\t/evil.example", "/"},
		{"/organizations\r\nSet-Cookie: x=y", "/"},
		{"/organizações?q=a b", "/organiza%C3%A7%C3%B5es?q=a%20b"}, // as org allows it; the header stays ASCII
		{"/organizations\u2028x", "/organizations%E2%80%A8x"},
	} {
		flow, state, _ := startFlow(t, o, g, tc.returnPath)
		w := send(g, "GET", "/v1/singleSignOn/callback?state="+state+"&code=authcode", "",
			"Cookie", cookieHeader(flow)+"; __Host-orgplane_session=ops_someone-else", "Authorization", "Bearer "+sessKey)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != tc.location {
			t.Errorf("return path %q: %d Location %q, want 303 to %q (%s)", tc.returnPath, w.Code, w.Header().Get("Location"), tc.location, w.Body)
			continue
		}
		call, _ := o.last("CompleteSingleSignOn")
		if call.id.Kind != identity.KindService || call.id.PrincipalID != "gateway" || len(call.md.Get("authorization")) > 0 {
			t.Errorf("CompleteSingleSignOn reached org as %+v", call.id)
		}
		session := cookieIn(t, w, "__Host-orgplane_session")
		if session == nil || session.Value != o.lastIssued() || !session.HttpOnly || !session.Secure || session.MaxAge != 12*3600 {
			t.Errorf("return path %q: session cookie %v", tc.returnPath, w.Header().Values("Set-Cookie"))
		}
		if !flowCleared(t, w, "__Host-orgplane_sso") {
			t.Errorf("return path %q: the flow cookie stays: %v", tc.returnPath, w.Header().Values("Set-Cookie"))
		}
		noTokenIn(t, o, "callback", w)
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("callback: Cache-Control %q", w.Header().Get("Cache-Control"))
		}
		if session != nil {
			if me := send(g, "GET", "/v1/me", "", "Cookie", cookieHeader(session)); me.Code != http.StatusOK {
				t.Errorf("the session the callback opened: GET /v1/me %d %s", me.Code, me.Body)
			}
		}
	}
}

// Issue 18: a failed callback answers the usual JSON error (the web UI shows it) and drops the
// flow cookie too, whether org refused or the gateway did before asking.
func TestSingleSignOnCallbackFailureIsAJSONErrorAndEndsTheFlow(t *testing.T) {
	o, g, _ := sessionGateway(t, func(c *gatewaysvc.Config) { c.InsecureCookies = true })
	flow, state, _ := startFlow(t, o, g, "/organizations")
	if flow.Name != "orgplane_sso" {
		t.Fatalf("flow cookie %s", flow.Name)
	}
	for _, tc := range []struct {
		name, query string
		code        codes.Code
		message     string
		reachesOrg  bool
	}{
		{"the provider refused", "?state=" + state + "&error=access_denied&error_description=The+user+said+no", codes.FailedPrecondition,
			"the identity provider refused the sign-in", true},
		{"a query the gateway refuses", "?state=a&state=b", codes.InvalidArgument, "", false},
	} {
		before := o.count()
		w := send(g, "GET", "/v1/singleSignOn/callback"+tc.query, "", "Cookie", cookieHeader(flow))
		var s struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || w.Code != http.StatusBadRequest || s.Code != int(tc.code) ||
			tc.message != "" && s.Message != tc.message || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s %s", tc.name, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		if w.Header().Get("Location") != "" || cookieIn(t, w, "orgplane_session") != nil {
			t.Errorf("%s: Location %q, Set-Cookie %v", tc.name, w.Header().Get("Location"), w.Header().Values("Set-Cookie"))
		}
		if !flowCleared(t, w, "orgplane_sso") {
			t.Errorf("%s: the flow cookie stays: %v", tc.name, w.Header().Values("Set-Cookie"))
		}
		if reached := o.count() != before; reached != tc.reachesOrg {
			t.Errorf("%s: reached org %v", tc.name, reached)
		}
	}
}

// A browser that navigated back from the provider is sent to the sign-in page with the reason,
// not shown a JSON body; the flow ends all the same, and no free text travels in the URL.
func TestSingleSignOnCallbackFailureSendsABrowserToSignIn(t *testing.T) {
	o, g, _ := sessionGateway(t, func(c *gatewaysvc.Config) { c.InsecureCookies = true })
	flow, state, _ := startFlow(t, o, g, "/organizations")
	for _, tc := range []struct{ name, query string }{
		{"the provider refused", "?state=" + state + "&error=access_denied&error_description=The+user+said+no"},
		{"a query the gateway refuses", "?state=a&state=b"},
	} {
		w := send(g, "GET", "/v1/singleSignOn/callback"+tc.query, "", "Cookie", cookieHeader(flow),
			"Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
		loc, err := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusSeeOther || err != nil || loc.Path != "/signin" || loc.Query().Get("ssoError") == "" {
			t.Errorf("%s: %d Location %q", tc.name, w.Code, w.Header().Get("Location"))
		}
		if strings.Contains(w.Header().Get("Location"), "said") || cookieIn(t, w, "orgplane_session") != nil {
			t.Errorf("%s: Location %q, Set-Cookie %v", tc.name, w.Header().Get("Location"), w.Header().Values("Set-Cookie"))
		}
		if !flowCleared(t, w, "orgplane_sso") {
			t.Errorf("%s: the flow cookie stays: %v", tc.name, w.Header().Values("Set-Cookie"))
		}
	}
	// Any other route's error stays JSON for a browser too.
	if w := send(g, "GET", "/v1/me", "", "Accept", "text/html"); w.Code != http.StatusUnauthorized || w.Header().Get("Location") != "" {
		t.Errorf("GET /v1/me from a browser without a session: %d Location %q", w.Code, w.Header().Get("Location"))
	}
}
