package stack_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Issue 18, single sign-on, through the gateway and the real services with the stack's real
// OpenID Connect provider: an administrator sets the provider up (its client secret is never
// shown again nor kept in clear), turns "require single sign-on" on, and from then password
// sign-in is refused (and password sessions end) but for an administrator's audited break-glass;
// a person signs in at the provider and lands back signed in; the callback works once and only in
// the browser that started it; a newcomer is created on first sign-in with the default role.
// Hostile tokens (another client's, a bad signature, a wrong nonce) are refused in org's own tests
// against a rogue provider (services/org/orgsvc/sso_test.go).

// ssoBrowser is a browser that does not follow the gateway's redirect after the callback, so
// the test can read where it leads.
func ssoBrowser(s *suite) *browser {
	b := newBrowser(s)
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return b
}

// startSSO starts a sign-in in b and returns the provider's authorization URL.
func (b *browser) startSSO(body string) string {
	b.s.t.Helper()
	r := b.do("POST", "/v1/singleSignOn:start", body, false)
	if r.code != http.StatusOK {
		b.s.t.Fatalf("start single sign-on: %d %s", r.code, r.body)
	}
	m := r.json(b.s.t)
	if m["flowBinding"] != "" {
		b.s.t.Errorf("the flow binding reached the body: %s", r.body)
	}
	return m["authorizationUrl"].(string)
}

// callback sends the provider's redirect back to the gateway from b; a 303 keeps the new
// session's CSRF token from GET /v1/me, as the web UI would.
func (b *browser) callback(back string) response {
	b.s.t.Helper()
	path := strings.TrimPrefix(back, b.s.st.GatewayURL)
	if path == back {
		b.s.t.Fatalf("the provider sent the browser to %s, not to the gateway", back)
	}
	r := b.do("GET", path, "", false)
	if r.code == http.StatusSeeOther {
		if me := b.do("GET", "/v1/me", "", false); me.code == http.StatusOK {
			b.csrf, _ = me.json(b.s.t)["csrfToken"].(string)
		}
	}
	return r
}

func TestSingleSignOnEndToEnd(t *testing.T) {
	const adminEmail, idpPassword = "ada@example.com", "Provider-password-for-Ada"
	const newcomer, newcomerPassword = "linus@example.com", "Provider-password-for-Linus"
	w, logs := startSignInWorld(t, func(o *stack.Options) {
		o.OIDCUsers = []oidcdev.User{
			{Email: adminEmail, Password: idpPassword, GivenName: "Ada", FamilyName: "Admin", EmailVerified: true},
			{Email: newcomer, Password: newcomerPassword, GivenName: "Linus", FamilyName: "Torvalds", EmailVerified: true},
		}
	})
	st := w.st
	if st.OIDC == nil {
		t.Fatal("the stack runs no OIDC provider")
	}
	a := w.newMSP("Northwind MSP")
	acct := "/v1/accounts/" + a.id
	secrets := []string{st.OIDCClientSecret, idpPassword, newcomerPassword}

	// Before SSO: the administrator and a colleague have passwords, the colleague is signed in.
	const adminPassword = "Break-glass-only-2026"
	w.giveSignIn(a, a.adminID, adminEmail, adminPassword, 1)
	readers := w.must(200, "POST", acct+"/roles", a.adminKey,
		roleBody(t, "SSO readers", orgv1.PermissionLevel_PERMISSION_LEVEL_READ_ONLY, "organizations"))["id"].(string)
	const colleague, colleaguePassword = "grace@example.com", "Password-before-SSO-1"
	grace := w.must(200, "POST", acct+"/users", a.adminKey, fmt.Sprintf(
		`{"firstName":"Grace","lastName":"Hopper","email":%q,"roleId":%q,"allOrganizations":true}`, colleague, readers))["id"].(string)
	w.giveSignIn(a, grace, colleague, colleaguePassword, 1)
	secrets = append(secrets, adminPassword, colleaguePassword)
	before := newBrowser(w.suite)
	before.mustSignIn(colleague, colleaguePassword)
	secrets = append(secrets, before.token(), before.csrf)

	// "Require single sign-on" needs a provider first.
	if r := w.do("PATCH", acct+"/settings?updateMask=requireSingleSignOn", a.adminKey, `{"requireSingleSignOn":true}`); r.code != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "require_single_sign_on") {
		t.Errorf("requiring SSO without a provider: %d %s, want 400 naming the setting", r.code, r.body)
	}
	provider := fmt.Sprintf(`{"issuer":%q,"clientId":%q,"clientSecret":%q}`, st.OIDC.Issuer, st.OIDCClientID, st.OIDCClientSecret)
	r := w.do("PUT", acct+"/singleSignOnProvider", a.adminKey, provider)
	if r.code != http.StatusOK {
		t.Fatalf("set the provider up: %d %s", r.code, r.body)
	}
	p := r.json(t)
	if p["hasClientSecret"] != true || p["redirectUri"] != st.GatewayURL+stack.SingleSignOnCallbackPath || strings.Contains(string(r.body), st.OIDCClientSecret) {
		t.Errorf("the provider as set up: %s", r.body)
	}
	if r := w.do("GET", acct+"/singleSignOnProvider", a.adminKey, ""); r.code != http.StatusOK || strings.Contains(string(r.body), st.OIDCClientSecret) {
		t.Errorf("GET the provider: %d %s", r.code, r.body)
	}
	if r := w.do("PUT", acct+"/singleSignOnProvider", a.adminKey, `{"issuer":"ftp://idp.example","clientId":"x"}`); r.code != http.StatusBadRequest ||
		!slices.Contains(fieldViolations(r), "issuer") {
		t.Errorf("a provider with a bad issuer: %d %s, want 400 naming issuer", r.code, r.body)
	}
	w.must(200, "PATCH", acct+"/settings?updateMask=requireSingleSignOn", a.adminKey, `{"requireSingleSignOn":true}`)

	// Password sign-in is refused, and the password session opened before ends.
	if r := before.do("GET", "/v1/me", "", false); r.code != http.StatusUnauthorized {
		t.Errorf("a password session once SSO is required: %d %s, want 401", r.code, r.body)
	}
	passwordSignIn := func(email, password string, breakGlass bool) response {
		body, _ := json.Marshal(map[string]any{"email": email, "password": password, "breakGlass": breakGlass})
		return newBrowser(w.suite).do("POST", "/v1/signIn", string(body), false)
	}
	refused := passwordSignIn(colleague, colleaguePassword, false)
	if refused.code != http.StatusBadRequest || !strings.Contains(string(refused.body), "SINGLE_SIGN_ON_REQUIRED") {
		t.Errorf("password sign-in with SSO required: %d %s, want 400 SINGLE_SIGN_ON_REQUIRED", refused.code, refused.body)
	}
	if r := passwordSignIn(colleague, colleaguePassword, true); r.code != refused.code || !strings.Contains(string(r.body), "SINGLE_SIGN_ON_REQUIRED") {
		t.Errorf("break-glass by a non-administrator: %d %s, want the same refusal", r.code, r.body)
	}
	if r := passwordSignIn(adminEmail, adminPassword, false); r.code != http.StatusBadRequest {
		t.Errorf("an administrator's password sign-in without break-glass: %d %s, want 400", r.code, r.body)
	}
	// The administrator's break-glass works, says so, and is published for the audit.
	glass := newBrowser(w.suite)
	body, _ := json.Marshal(map[string]any{"email": adminEmail, "password": adminPassword, "breakGlass": true})
	if r := glass.do("POST", "/v1/signIn", string(body), false); r.code != http.StatusOK || glass.token() == "" {
		t.Fatalf("break-glass sign-in: %d %s", r.code, r.body)
	}
	secrets = append(secrets, glass.token())
	if m := glass.do("GET", "/v1/me", "", false).json(t); m["session"].(map[string]any)["method"] != "SESSION_METHOD_BREAK_GLASS" {
		t.Errorf("the break-glass session: %v", m["session"])
	}
	w.waitEvent(t, ".user.break_glass_signed_in", a.adminID)

	// Sign in through the provider: back at the gateway, a session and a redirect to where the
	// person was going.
	b := ssoBrowser(w.suite)
	auth := b.startSSO(fmt.Sprintf(`{"email":%q,"returnPath":"/organizations"}`, adminEmail))
	back, err := st.OIDC.Authorize(t.Context(), auth, adminEmail, idpPassword)
	if err != nil {
		t.Fatal(err)
	}
	if r := ssoBrowser(w.suite).callback(back); r.code != http.StatusUnauthorized {
		t.Errorf("the callback in a browser that did not start the sign-in: %d %s, want 401", r.code, r.body)
	}
	// That attempt used the flow up: the right browser cannot finish it either, so a stolen
	// callback is worth nothing to anybody.
	if r := b.callback(back); r.code != http.StatusUnauthorized {
		t.Errorf("the callback after another browser tried it: %d %s, want 401", r.code, r.body)
	}
	auth = b.startSSO(fmt.Sprintf(`{"email":%q,"returnPath":"/organizations"}`, adminEmail))
	back, err = st.OIDC.Authorize(t.Context(), auth, adminEmail, idpPassword)
	if err != nil {
		t.Fatal(err)
	}
	r = b.callback(back)
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/organizations" || b.token() == "" {
		t.Fatalf("the callback: %d %s (Location %q)", r.code, r.body, r.header.Get("Location"))
	}
	secrets = append(secrets, b.token(), b.csrf)
	me := b.do("GET", "/v1/me", "", false).json(t)
	if me["user"].(map[string]any)["id"] != a.adminID || me["session"].(map[string]any)["method"] != "SESSION_METHOD_SINGLE_SIGN_ON" {
		t.Errorf("signed in through the provider: %v", me)
	}
	if r := b.do("POST", acct+"/organizations", `{"name":"Made after SSO"}`, true); r.code != http.StatusOK {
		t.Errorf("a change with the SSO session: %d %s", r.code, r.body)
	}
	if r := b.callback(back); r.code != http.StatusUnauthorized {
		t.Errorf("the same callback again: %d %s, want 401", r.code, r.body)
	}

	// A newcomer the account does not know: refused, until the provider may create users.
	n := ssoBrowser(w.suite)
	back, err = st.OIDC.Authorize(t.Context(), n.startSSO(fmt.Sprintf(`{"accountId":%q}`, a.id)), newcomer, newcomerPassword)
	if err != nil {
		t.Fatal(err)
	}
	if r := n.callback(back); r.code != http.StatusUnauthorized {
		t.Errorf("an unknown person without user creation: %d %s, want 401", r.code, r.body)
	}
	w.must(200, "PUT", acct+"/singleSignOnProvider", a.adminKey, fmt.Sprintf(
		`{"issuer":%q,"clientId":%q,"createUsers":true,"defaultRoleId":%q}`, st.OIDC.Issuer, st.OIDCClientID, readers))
	back, err = st.OIDC.Authorize(t.Context(), n.startSSO(fmt.Sprintf(`{"accountId":%q}`, a.id)), newcomer, newcomerPassword)
	if err != nil {
		t.Fatal(err)
	}
	if r := n.callback(back); r.code != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("a newcomer's first sign-in (the stored client secret kept): %d %s", r.code, r.body)
	}
	secrets = append(secrets, n.token(), n.csrf)
	nm := n.do("GET", "/v1/me", "", false).json(t)
	if u := nm["user"].(map[string]any); u["email"] != newcomer || u["roleId"] != readers || u["firstName"] != "Linus" {
		t.Errorf("the user made on first sign-in: %v", u)
	}

	// The provider cannot go while SSO is required.
	if r := w.do("DELETE", acct+"/singleSignOnProvider", a.adminKey, ""); r.code != http.StatusBadRequest {
		t.Errorf("deleting the provider while SSO is required: %d %s, want 400", r.code, r.body)
	}

	w.settle(a)
	scanDatabase(t, w.suite, secrets, []string{b.token(), n.token()})
	all := logs.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the logs hold a secret %q", s)
		}
	}
	scanEvents(t, w, secrets, ".user.break_glass_signed_in", ".user.created")
}

// waitEvent waits for an event whose subject ends with suffix and whose payload mentions id.
func (w *world) waitEvent(t *testing.T, suffix, id string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		w.mu.Lock()
		found := slices.ContainsFunc(w.events, func(m *nats.Msg) bool {
			return strings.HasSuffix(m.Subject, suffix) && strings.Contains(string(m.Data), id)
		})
		w.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event about %s within 15 s", suffix, id)
		}
	}
}
