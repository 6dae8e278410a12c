package orgsvc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

const (
	webBase      = "https://orgplane.example"
	redirectURI  = webBase + "/v1/singleSignOn/callback"
	ssoClientID  = "orgplane"
	ssoSecret    = "idp-client-secret-do-not-leak-3f9a"
	idpPassword  = "a password typed at the identity provider"
	carolEmail   = "carol@contosomsp.example"
	erinEmail    = "erin@contosomsp.example"
	adaEmail     = "ada@contosomsp.example"
	bobIdPEmail  = "bob@contosomsp.example" // Orgplane has "Bob@...": matched by normalized email
	ssoReturnTo  = "/organizations?tab=mine"
	otherBrowser = "a binding from another browser"
)

// ssoOrg is the org service with credential keys and a web base URL, and a real OpenID Connect
// provider (oidcdev) where Ada, Bob, Carol (no Orgplane user) and Erin (email not verified) can
// sign in.
type ssoOrg struct {
	*signInOrg
	idp *oidcdev.Provider
	te  signInTenant
}

// startSSOOrg starts it; opts win over its own (a keyring of the test's).
func startSSOOrg(t *testing.T, opts ...orgsvc.Option) *ssoOrg {
	t.Helper()
	o := startSignInOrg(t, append([]orgsvc.Option{orgsvc.WithCredentialKeys(secrets.GenerateSpec("t")), orgsvc.WithWebBaseURL(webBase)}, opts...)...)
	idp, err := oidcdev.Start(context.Background(), oidcdev.Config{
		Clients: []oidcdev.Client{{ID: ssoClientID, Secret: ssoSecret, RedirectURIs: []string{redirectURI}}},
		Users: []oidcdev.User{
			{Email: adaEmail, Password: idpPassword, GivenName: "Ada", FamilyName: "Lovelace", EmailVerified: true},
			{Email: bobIdPEmail, Password: idpPassword, GivenName: "Bob", FamilyName: "Builder", EmailVerified: true},
			{Email: carolEmail, Password: idpPassword, GivenName: "Carol", FamilyName: "Cooper", EmailVerified: true},
			{Email: erinEmail, Password: idpPassword, GivenName: "Erin", FamilyName: "Eve", EmailVerified: false},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Close() })
	return &ssoOrg{signInOrg: o, idp: idp, te: o.newTenant("Contoso MSP")}
}

func (o *ssoOrg) setUpProvider(p *orgv1.SingleSignOnProvider) *orgv1.SingleSignOnProvider {
	o.t.Helper()
	got, err := o.sso.UpdateSingleSignOnProvider(as(operator), &orgv1.UpdateSingleSignOnProviderRequest{AccountId: o.te.account, Provider: p})
	if err != nil {
		o.t.Fatalf("set up the provider: %v", err)
	}
	return got
}

func (o *ssoOrg) provider() *orgv1.SingleSignOnProvider {
	return &orgv1.SingleSignOnProvider{Issuer: o.idp.Issuer, ClientId: ssoClientID, ClientSecret: ssoSecret}
}

// ssoAttempt is a started sign-in and what the provider's redirect brought back.
type ssoAttempt struct {
	start    *orgv1.StartSingleSignOnResponse
	callback url.Values
}

func (a ssoAttempt) request(binding string) *orgv1.CompleteSingleSignOnRequest {
	return &orgv1.CompleteSingleSignOnRequest{State: a.callback.Get("state"), Code: a.callback.Get("code"),
		Error: a.callback.Get("error"), FlowBinding: binding}
}

// signInAtIdP starts a sign-in and signs in at the provider as email, like a browser would, up
// to the provider's redirect back (not followed).
func (o *ssoOrg) signInAtIdP(req *orgv1.StartSingleSignOnRequest, email string) ssoAttempt {
	o.t.Helper()
	start, err := o.sso.StartSingleSignOn(fromGateway(clientAddress), req)
	if err != nil {
		o.t.Fatalf("start: %v", err)
	}
	back, err := o.idp.Authorize(context.Background(), start.GetAuthorizationUrl(), email, idpPassword)
	if err != nil {
		o.t.Fatalf("sign in at the provider as %s: %v", email, err)
	}
	if !strings.HasPrefix(back, redirectURI+"?") {
		o.t.Fatalf("the provider redirected to %s, want %s", back, redirectURI)
	}
	u, _ := url.Parse(back)
	return ssoAttempt{start: start, callback: u.Query()}
}

func (o *ssoOrg) complete(a ssoAttempt, binding string) (*orgv1.SignInResponse, error) {
	return o.sso.CompleteSingleSignOn(fromGateway(clientAddress), a.request(binding))
}

// wantRefusal checks a refusal's code and google.rpc.ErrorInfo reason.
func wantRefusal(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("%s: %v, want %v %s", what, err, code, reason)
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == reason {
			return
		}
	}
	t.Fatalf("%s: %v, want reason %s", what, err, reason)
}

func (o *ssoOrg) updateRequirements(sso, twoStep bool) error {
	_, err := o.accounts.UpdateAccountSettings(as(operator), &orgv1.UpdateAccountSettingsRequest{AccountId: o.te.account,
		Settings:   &orgv1.AccountSettings{RequireSingleSignOn: sso, RequireTwoStepVerification: twoStep},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"require_single_sign_on", "require_two_step_verification"}}})
	return err
}

func (o *ssoOrg) roleID(name string) string {
	o.t.Helper()
	roles, err := o.access.ListRoles(as(operator), &orgv1.ListRolesRequest{AccountId: o.te.account})
	if err != nil {
		o.t.Fatal(err)
	}
	for _, r := range roles.GetRoles() {
		if r.GetName() == name {
			return r.GetId()
		}
	}
	o.t.Fatalf("no role %s", name)
	return ""
}

// TestSingleSignOnThroughARealProvider: an administrator sets the provider up; people sign in
// through it (by account or by email), get a session of method single sign-on that the gateway
// can use, return where they started, and keep it when the account then requires single sign-on
// and two-step verification. Nothing secret is kept in clear or logged.
func TestSingleSignOnThroughARealProvider(t *testing.T) {
	o := startSSOOrg(t)
	te := o.te
	o.onboard(te.account, te.ada, adaPassword) // a password too, so every sign-in table has rows

	got := o.setUpProvider(o.provider())
	if got.GetIssuer() != o.idp.Issuer || got.GetClientId() != ssoClientID || !got.GetHasClientSecret() || got.GetClientSecret() != "" ||
		got.GetRedirectUri() != redirectURI || got.GetCreateUsers() || !got.GetUpdateTime().AsTime().Equal(o.clock.Now()) {
		t.Fatalf("provider after set-up: %v", got)
	}
	// Changing it with no secret keeps the stored one: the provider below insists on it.
	got = o.setUpProvider(&orgv1.SingleSignOnProvider{Issuer: o.idp.Issuer, ClientId: ssoClientID})
	if !got.GetHasClientSecret() {
		t.Fatalf("an update without a secret dropped the stored one: %v", got)
	}
	read, err := o.sso.GetSingleSignOnProvider(as(operator), &orgv1.GetSingleSignOnProviderRequest{AccountId: te.account})
	if err != nil || read.GetClientSecret() != "" || !read.GetHasClientSecret() || read.GetRedirectUri() != redirectURI {
		t.Fatalf("get: %v %v", read, err)
	}

	// By account: the authorization URL is the code flow with PKCE (S256) and a nonce.
	ada := o.signInAtIdP(&orgv1.StartSingleSignOnRequest{AccountId: te.account, ReturnPath: ssoReturnTo}, adaEmail)
	auth, _ := url.Parse(ada.start.GetAuthorizationUrl())
	q := auth.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != ssoClientID || q.Get("redirect_uri") != redirectURI ||
		q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("nonce")) != 43 ||
		len(q.Get("state")) != 43 || q.Get("scope") != "openid email profile" || q.Has("code_verifier") || q.Has("client_secret") {
		t.Fatalf("authorization URL %s", auth)
	}
	binding := ada.start.GetFlowBinding()
	if len(binding) != 43 || binding == q.Get("state") || !ada.start.GetExpireTime().AsTime().Equal(o.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("start %v", ada.start)
	}
	resp, err := o.complete(ada, binding)
	if err != nil {
		t.Fatal(err)
	}
	cu := resp.GetCurrentUser()
	if !strings.HasPrefix(resp.GetSessionToken(), "ops_") || resp.GetReturnPath() != ssoReturnTo || cu.GetUser().GetId() != te.ada.GetId() ||
		cu.GetAccountId() != te.account || cu.GetSession().GetMethod() != orgv1.SessionMethod_SESSION_METHOD_SINGLE_SIGN_ON ||
		cu.GetSession().GetClientAddress() != clientAddress || !contains(cu.GetPermissions(), "users:write") {
		t.Fatalf("sign-in response %v", resp)
	}
	adaID, err := o.authenticate(resp.GetSessionToken())
	if err != nil || adaID.UserID != te.ada.GetId() || adaID.SessionID != cu.GetSession().GetId() {
		t.Fatalf("the session at the gateway: %+v %v", adaID, err)
	}

	// By email, as typed: the account is found, the email is the provider's login hint, and the
	// provider's lower-case email finds Orgplane's "Bob@...". No return path means "/".
	bob := o.signInAtIdP(&orgv1.StartSingleSignOnRequest{Email: strings.ToUpper(bobIdPEmail)}, bobIdPEmail)
	if hint := mustQuery(t, bob.start.GetAuthorizationUrl()).Get("login_hint"); hint != strings.ToUpper(bobIdPEmail) {
		t.Fatalf("login_hint %q", hint)
	}
	bobResp, err := o.complete(bob, bob.start.GetFlowBinding())
	if err != nil || bobResp.GetCurrentUser().GetUser().GetId() != te.bob.GetId() || bobResp.GetReturnPath() != "/" {
		t.Fatalf("Bob by email: %v %v", bobResp, err)
	}

	// Requiring single sign-on and two-step verification keeps these sessions: the provider did
	// the sign-in. Password sign-in is now refused.
	if err := o.updateRequirements(true, true); err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{resp.GetSessionToken(), bobResp.GetSessionToken()} {
		if _, err := o.authenticate(token); err != nil {
			t.Fatalf("an SSO session under both requirements: %v", err)
		}
	}
	_, err = o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword})
	wantCode(t, "password sign-in under require_single_sign_on", err, codes.FailedPrecondition)
	// ... and removing the provider is refused while it is required.
	_, err = o.sso.DeleteSingleSignOnProvider(as(operator), &orgv1.DeleteSingleSignOnProviderRequest{AccountId: te.account})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "require_single_sign_on") {
		t.Fatalf("delete while required: %v", err)
	}

	// Something of everything in the tables: a flow under way, a pending invitation.
	pending := o.signInAtIdP(&orgv1.StartSingleSignOnRequest{AccountId: te.account}, adaEmail)
	_, invite := o.invite(te.account, te.bob)
	for _, table := range []string{"sso_providers", "sso_flows", "sso_flow_states"} {
		var n int
		if err := o.db.QueryRow(context.Background(), `SELECT count(*) FROM org.`+table).Scan(&n); err != nil || n == 0 {
			t.Fatalf("%s: %d rows (%v)", table, n, err)
		}
	}
	var secretLen int
	if err := o.db.QueryRow(context.Background(), `SELECT length(client_secret_sealed) FROM org.sso_providers`).Scan(&secretLen); err != nil || secretLen <= len(ssoSecret) {
		t.Fatalf("sealed client secret: %d bytes (%v)", secretLen, err)
	}
	var secretsToHide []string
	for _, a := range []ssoAttempt{ada, bob, pending} {
		aq := mustQuery(t, a.start.GetAuthorizationUrl())
		secretsToHide = append(secretsToHide, a.start.GetFlowBinding(), aq.Get("state"), aq.Get("nonce"), a.callback.Get("code"))
	}
	o.requireNoSecrets(append(secretsToHide, ssoSecret, adaPassword, resp.GetSessionToken(), bobResp.GetSessionToken(), invite)...)
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// TestSingleSignOnCreatesUsersOnlyWhenAllowed: an email nobody has is refused, until the
// provider creates users; then the first sign-in creates the user with the default role (and
// publishes user.created), the next finds them. A deactivated user is refused like an unknown
// one, and so is an email the provider has not verified.
func TestSingleSignOnCreatesUsersOnlyWhenAllowed(t *testing.T) {
	o := startSSOOrg(t)
	te := o.te
	o.setUpProvider(o.provider())
	byAccount := &orgv1.StartSingleSignOnRequest{AccountId: te.account}

	carol := o.signInAtIdP(byAccount, carolEmail)
	_, err := o.complete(carol, carol.start.GetFlowBinding())
	wantRefusal(t, "an email no user has", err, codes.Unauthenticated, "SINGLE_SIGN_ON_NO_USER")
	unknownMsg := status.Convert(err).Message()

	engineer := o.roleID("Engineer")
	p := o.provider()
	p.CreateUsers, p.DefaultRoleId = true, engineer
	if got := o.setUpProvider(p); !got.GetCreateUsers() || got.GetDefaultRoleId() != engineer {
		t.Fatalf("provider %v", got)
	}
	carol = o.signInAtIdP(byAccount, carolEmail)
	resp, err := o.complete(carol, carol.start.GetFlowBinding())
	if err != nil {
		t.Fatal(err)
	}
	u := resp.GetCurrentUser().GetUser()
	if u.GetEmail() != carolEmail || u.GetFirstName() != "Carol" || u.GetLastName() != "Cooper" || u.GetRoleId() != engineer ||
		!u.GetAllOrganizations() || !u.GetActive() || resp.GetCurrentUser().GetHasPassword() {
		t.Fatalf("created user %v", u)
	}
	if _, err := o.authenticate(resp.GetSessionToken()); err != nil {
		t.Fatal(err)
	}
	created := func() []*orgv1.UserCreated {
		var out []*orgv1.UserCreated
		for _, ev := range outboxEvents(t, o.db, "user.created", func() *orgv1.UserCreated { return &orgv1.UserCreated{} }) {
			if ev.GetUser().GetEmail() == carolEmail {
				out = append(out, ev)
			}
		}
		return out
	}
	if evs := created(); len(evs) != 1 || evs[0].GetUser().GetId() != u.GetId() || evs[0].GetAccountId() != te.account || evs[0].GetAdministrator() {
		t.Fatalf("user.created for Carol: %v", evs)
	}
	again := o.signInAtIdP(byAccount, carolEmail)
	resp2, err := o.complete(again, again.start.GetFlowBinding())
	if err != nil || resp2.GetCurrentUser().GetUser().GetId() != u.GetId() || len(created()) != 1 {
		t.Fatalf("second sign-in: %v %v (%d user.created)", resp2, err, len(created()))
	}

	// Deactivated: refused, and in the same words as no user at all.
	if _, err := o.access.UpdateUser(as(operator), &orgv1.UpdateUserRequest{AccountId: te.account,
		User: &orgv1.User{Id: te.bob.GetId(), SetActive: new(false)}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"set_active"}}}); err != nil {
		t.Fatal(err)
	}
	bob := o.signInAtIdP(byAccount, bobIdPEmail)
	_, err = o.complete(bob, bob.start.GetFlowBinding())
	wantRefusal(t, "a deactivated user", err, codes.Unauthenticated, "SINGLE_SIGN_ON_NO_USER")
	if status.Convert(err).Message() != unknownMsg {
		t.Fatalf("deactivated %q, unknown %q", status.Convert(err).Message(), unknownMsg)
	}
	// Creating users does not recreate a deactivated one.
	users, err := o.access.ListUsers(as(operator), &orgv1.ListUsersRequest{AccountId: te.account})
	if err != nil || len(users.GetUsers()) != 3 {
		t.Fatalf("users %v %v", users, err)
	}

	// An email the provider has not verified is refused, even with user creation on.
	erin := o.signInAtIdP(byAccount, erinEmail)
	_, err = o.complete(erin, erin.start.GetFlowBinding())
	wantRefusal(t, "an unverified email", err, codes.Unauthenticated, "SINGLE_SIGN_ON_EMAIL_UNVERIFIED")
}

// TestSingleSignOnFlowsAreSingleUseBoundAndShortLived: a state works once, in the browser that
// started it, within ten minutes of the service's clock; a refusal at the provider ends it too.
func TestSingleSignOnFlowsAreSingleUseBoundAndShortLived(t *testing.T) {
	o := startSSOOrg(t)
	te := o.te
	o.setUpProvider(o.provider())
	byAccount := &orgv1.StartSingleSignOnRequest{AccountId: te.account}

	// Replay of a successful callback.
	a := o.signInAtIdP(byAccount, adaEmail)
	if _, err := o.complete(a, a.start.GetFlowBinding()); err != nil {
		t.Fatal(err)
	}
	_, err := o.complete(a, a.start.GetFlowBinding())
	wantRefusal(t, "a used state", err, codes.Unauthenticated, "SINGLE_SIGN_ON_FLOW_INVALID")

	// Another browser: refused, and the flow is used up by the attempt.
	b := o.signInAtIdP(byAccount, adaEmail)
	_, err = o.complete(b, otherBrowser)
	wantRefusal(t, "another browser's binding", err, codes.Unauthenticated, "SINGLE_SIGN_ON_OTHER_BROWSER")
	_, err = o.complete(b, "")
	wantRefusal(t, "no binding", err, codes.Unauthenticated, "SINGLE_SIGN_ON_FLOW_INVALID")
	_, err = o.complete(b, b.start.GetFlowBinding())
	wantRefusal(t, "the right browser after a wrong one", err, codes.Unauthenticated, "SINGLE_SIGN_ON_FLOW_INVALID")

	// Expired by the service's clock.
	c := o.signInAtIdP(byAccount, adaEmail)
	o.clock.advance(10*time.Minute + time.Second)
	_, err = o.complete(c, c.start.GetFlowBinding())
	wantRefusal(t, "an expired flow", err, codes.Unauthenticated, "SINGLE_SIGN_ON_FLOW_INVALID")

	// The provider's refusal: a short safe message, never its free text; the flow is done.
	d := o.signInAtIdP(byAccount, adaEmail)
	refused := d.request(d.start.GetFlowBinding())
	refused.Code, refused.Error, refused.ErrorDescription = "", "access_denied", "<b>the admin said no</b>"
	_, err = o.sso.CompleteSingleSignOn(fromGateway(clientAddress), refused)
	wantRefusal(t, "the provider refused", err, codes.Unauthenticated, "SINGLE_SIGN_ON_REFUSED")
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "access_denied") || strings.Contains(msg, "admin said") {
		t.Fatalf("refusal message %q", msg)
	}
	_, err = o.complete(d, d.start.GetFlowBinding())
	wantRefusal(t, "after the provider refused", err, codes.Unauthenticated, "SINGLE_SIGN_ON_FLOW_INVALID")

	// A callback without its parameters names the missing one.
	e := o.signInAtIdP(byAccount, adaEmail)
	noState := e.request(e.start.GetFlowBinding())
	noState.State = ""
	_, err = o.sso.CompleteSingleSignOn(fromGateway(clientAddress), noState)
	wantInvalidField(t, "no state", err, "state", "required")
	noCode := e.request(e.start.GetFlowBinding())
	noCode.Code = ""
	_, err = o.sso.CompleteSingleSignOn(fromGateway(clientAddress), noCode)
	wantInvalidField(t, "no code", err, "code", "required")
	if _, err := o.complete(e, e.start.GetFlowBinding()); err != nil {
		t.Fatalf("the flow after malformed callbacks: %v", err)
	}
}

// TestSingleSignOnSetUpIsCheckedAndGuarded: the provider's fields are checked (naming them), its
// issuer must answer, only settings writers may change it and only with a default role they could
// grant themselves; the requirement and the provider guard each other.
func TestSingleSignOnSetUpIsCheckedAndGuarded(t *testing.T) {
	o := startSSOOrg(t)
	te := o.te
	update := func(who identity.Identity, p *orgv1.SingleSignOnProvider) error {
		_, err := o.sso.UpdateSingleSignOnProvider(as(who), &orgv1.UpdateSingleSignOnProviderRequest{AccountId: te.account, Provider: p})
		return err
	}

	_, err := o.sso.GetSingleSignOnProvider(as(operator), &orgv1.GetSingleSignOnProviderRequest{AccountId: te.account})
	wantCode(t, "get before set-up", err, codes.NotFound)
	_, err = o.sso.StartSingleSignOn(fromGateway(clientAddress), &orgv1.StartSingleSignOnRequest{AccountId: te.account})
	wantRefusal(t, "start without a provider", err, codes.FailedPrecondition, "SINGLE_SIGN_ON_NOT_SET_UP")
	notSetUp := status.Convert(err).Message()
	for what, req := range map[string]*orgv1.StartSingleSignOnRequest{
		"an unknown account":             {AccountId: "00000000-0000-4000-8000-000000000000"},
		"a known email without provider": {Email: te.ada.GetEmail()},
		"an unknown email":               {Email: "nobody@nowhere.example"},
	} {
		_, err := o.sso.StartSingleSignOn(fromGateway(clientAddress), req)
		if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != notSetUp {
			t.Fatalf("start for %s: %v, want the same as an account without a provider", what, err)
		}
	}
	err = o.updateRequirements(true, false)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "require_single_sign_on") {
		t.Fatalf("requiring SSO without a provider: %v", err)
	}

	// Each field's error names it, as the REST client spells it (the body is the provider).
	p := o.provider()
	for field, c := range map[string]struct {
		p    *orgv1.SingleSignOnProvider
		says string
	}{
		"issuer":        {&orgv1.SingleSignOnProvider{Issuer: "http://idp.example.com", ClientId: ssoClientID}, "https"},
		"defaultRoleId": {&orgv1.SingleSignOnProvider{Issuer: p.Issuer, ClientId: ssoClientID, CreateUsers: true}, "required"},
	} {
		wantInvalidField(t, field, update(operator, c.p), field, c.says)
	}
	wantInvalidField(t, "an issuer that does not answer", update(operator, &orgv1.SingleSignOnProvider{Issuer: "http://127.0.0.1:1", ClientId: ssoClientID}),
		"issuer", "could not be reached")
	wantInvalidField(t, "an issuer that is not the provider's", update(operator, &orgv1.SingleSignOnProvider{Issuer: o.idp.Issuer + "/", ClientId: ssoClientID}),
		"issuer", "names the issuer \""+o.idp.Issuer+"\"")
	err = update(operator, &orgv1.SingleSignOnProvider{Issuer: p.Issuer, ClientId: ssoClientID, CreateUsers: true, DefaultRoleId: "00000000-0000-4000-8000-000000000000"})
	wantInvalidField(t, "a role of no account", err, "defaultRoleId", "not a role of this account")
	err = update(operator, &orgv1.SingleSignOnProvider{Issuer: p.Issuer})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "clientId") {
		t.Fatalf("no client id: %v", err)
	}

	// Only settings writers, and only with a default role they could grant.
	reader := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: te.account, Permissions: []string{"account_settings:read"}}
	wantCode(t, "a settings reader", update(reader, p), codes.PermissionDenied)
	settingsOnly := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: te.account,
		Permissions: []string{"account_settings:read", "account_settings:write"}}
	if err := update(settingsOnly, p); err != nil {
		t.Fatalf("a settings writer without user creation: %v", err)
	}
	withAdmins := o.provider()
	withAdmins.CreateUsers, withAdmins.DefaultRoleId = true, o.roleID("IT Provider Admin")
	err = update(settingsOnly, withAdmins)
	wantRefusal(t, "a default role above the caller", err, codes.PermissionDenied, "GRANT_EXCEEDS_CALLER")
	if got, _ := o.sso.GetSingleSignOnProvider(as(operator), &orgv1.GetSingleSignOnProviderRequest{AccountId: te.account}); got.GetCreateUsers() {
		t.Fatalf("the refused change was saved: %v", got)
	}
	if err := update(operator, withAdmins); err != nil {
		t.Fatal(err)
	}
	// Someone who could not have set that role up cannot rework the provider either.
	wantRefusal(t, "changing a provider that grants more than the caller", update(settingsOnly, withAdmins),
		codes.PermissionDenied, "GRANT_EXCEEDS_CALLER")

	// The requirement and the provider guard each other.
	if err := o.updateRequirements(true, false); err != nil {
		t.Fatalf("requiring SSO with a provider: %v", err)
	}
	_, err = o.sso.DeleteSingleSignOnProvider(as(operator), &orgv1.DeleteSingleSignOnProviderRequest{AccountId: te.account})
	wantRefusal(t, "delete while required", err, codes.FailedPrecondition, "SINGLE_SIGN_ON_PROVIDER_IN_USE")
	if err := o.updateRequirements(false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := o.sso.DeleteSingleSignOnProvider(as(operator), &orgv1.DeleteSingleSignOnProviderRequest{AccountId: te.account}); err != nil {
		t.Fatal(err)
	}
	_, err = o.sso.GetSingleSignOnProvider(as(operator), &orgv1.GetSingleSignOnProviderRequest{AccountId: te.account})
	wantCode(t, "get after delete", err, codes.NotFound)
	_, err = o.sso.DeleteSingleSignOnProvider(as(operator), &orgv1.DeleteSingleSignOnProviderRequest{AccountId: te.account})
	wantCode(t, "delete again", err, codes.NotFound)
}

// TestSingleSignOnNeedsCredentialKeys: without ORGPLANE_CREDENTIAL_KEYS nothing secret could be
// kept encrypted, so single sign-on is refused, saying why.
func TestSingleSignOnNeedsCredentialKeys(t *testing.T) {
	o := startSignInOrg(t, orgsvc.WithWebBaseURL(webBase))
	te := o.newTenant("Contoso MSP")
	_, err := o.sso.UpdateSingleSignOnProvider(as(operator), &orgv1.UpdateSingleSignOnProviderRequest{AccountId: te.account,
		Provider: &orgv1.SingleSignOnProvider{Issuer: "https://idp.example.com", ClientId: ssoClientID, ClientSecret: ssoSecret}})
	wantRefusal(t, "set-up without keys", err, codes.FailedPrecondition, "CREDENTIAL_KEYS_NOT_SET")
}

// rogueIdP is a provider that answers whatever ID token the test mints: discovery, a key set
// holding one key, a token endpoint that checks the client, the code and the PKCE verifier.
type rogueIdP struct {
	t   *testing.T
	srv *httptest.Server
	key *rsa.PrivateKey

	mu       sync.Mutex
	idToken  string
	verifier string
}

const rogueCode = "rogue-code"

func startRogueIdP(t *testing.T) *rogueIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r := &rogueIdP{t: t, key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		iss := r.srv.URL
		writeJSON(w, http.StatusOK, map[string]any{"issuer": iss, "authorization_endpoint": iss + "/authorize",
			"token_endpoint": iss + "/token", "jwks_uri": iss + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, req *http.Request) {
		id, secret, _ := req.BasicAuth()
		if err := req.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
			return
		}
		if id == "" {
			id, secret = req.PostForm.Get("client_id"), req.PostForm.Get("client_secret")
		}
		if id != ssoClientID || secret != ssoSecret || req.PostForm.Get("code") != rogueCode ||
			req.PostForm.Get("grant_type") != "authorization_code" || req.PostForm.Get("redirect_uri") != redirectURI {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		r.mu.Lock()
		r.verifier = req.PostForm.Get("code_verifier")
		tok := r.idToken
		r.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": tok})
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// sign makes an RS256 JWT of claims under key with key id kid.
func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestSingleSignOnRefusesForgedIDTokens: against a provider that hands out whatever token it is
// told to, only a token signed by the provider's key, for this client, from this issuer, not
// expired, carrying the flow's nonce and a verified email signs anyone in. The control case
// shows the same path succeeds with a proper token, and that the code went with the PKCE
// verifier of the challenge.
func TestSingleSignOnRefusesForgedIDTokens(t *testing.T) {
	o := startSSOOrg(t)
	te := o.te
	rogue := startRogueIdP(t)
	o.setUpProvider(&orgv1.SingleSignOnProvider{Issuer: rogue.srv.URL, ClientId: ssoClientID, ClientSecret: ssoSecret})
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(nonce string) map[string]any {
		now := time.Now()
		return map[string]any{"iss": rogue.srv.URL, "sub": "ada", "aud": ssoClientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"nonce": nonce, "email": adaEmail, "email_verified": true}
	}
	for _, c := range []struct {
		name   string
		token  func(nonce string) string
		reason string // "" for success
	}{
		{"a proper token", func(n string) string { return sign(t, rogue.key, "k1", claims(n)) }, ""},
		{"another client's token", func(n string) string {
			cl := claims(n)
			cl["aud"] = "another-client"
			return sign(t, rogue.key, "k1", cl)
		}, "SINGLE_SIGN_ON_TOKEN_REJECTED"},
		{"a key not in the key set", func(n string) string { return sign(t, otherKey, "k1", claims(n)) }, "SINGLE_SIGN_ON_TOKEN_REJECTED"},
		{"an unknown key id", func(n string) string { return sign(t, otherKey, "k2", claims(n)) }, "SINGLE_SIGN_ON_TOKEN_REJECTED"},
		{"another sign-in's nonce", func(string) string { return sign(t, rogue.key, "k1", claims("another-nonce")) }, "SINGLE_SIGN_ON_TOKEN_REJECTED"},
		{"another issuer", func(n string) string {
			cl := claims(n)
			cl["iss"] = "https://idp.example.com"
			return sign(t, rogue.key, "k1", cl)
		}, "SINGLE_SIGN_ON_TOKEN_REJECTED"},
		{"an expired token", func(n string) string {
			cl := claims(n)
			cl["iat"], cl["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-30*time.Minute).Unix()
			return sign(t, rogue.key, "k1", cl)
		}, "SINGLE_SIGN_ON_TOKEN_REJECTED"},
		{"an unverified email", func(n string) string {
			cl := claims(n)
			cl["email_verified"] = false
			return sign(t, rogue.key, "k1", cl)
		}, "SINGLE_SIGN_ON_EMAIL_UNVERIFIED"},
		{"no email", func(n string) string {
			cl := claims(n)
			delete(cl, "email")
			return sign(t, rogue.key, "k1", cl)
		}, "SINGLE_SIGN_ON_NO_EMAIL"},
	} {
		start, err := o.sso.StartSingleSignOn(fromGateway(clientAddress), &orgv1.StartSingleSignOnRequest{AccountId: te.account})
		if err != nil {
			t.Fatal(err)
		}
		q := mustQuery(t, start.GetAuthorizationUrl())
		if !strings.HasPrefix(start.GetAuthorizationUrl(), rogue.srv.URL+"/authorize?") {
			t.Fatalf("authorization URL %s", start.GetAuthorizationUrl())
		}
		rogue.mu.Lock()
		rogue.idToken, rogue.verifier = c.token(q.Get("nonce")), ""
		rogue.mu.Unlock()
		resp, err := o.sso.CompleteSingleSignOn(fromGateway(clientAddress), &orgv1.CompleteSingleSignOnRequest{State: q.Get("state"),
			Code: rogueCode, FlowBinding: start.GetFlowBinding()})
		if c.reason != "" {
			wantRefusal(t, c.name, err, codes.Unauthenticated, c.reason)
			continue
		}
		if err != nil || resp.GetCurrentUser().GetUser().GetId() != te.ada.GetId() {
			t.Fatalf("%s: %v %v", c.name, resp, err)
		}
		rogue.mu.Lock()
		verifier := rogue.verifier
		rogue.mu.Unlock()
		sum := sha256.Sum256([]byte(verifier))
		if verifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
			t.Fatalf("the code went with verifier %q, not the one of challenge %q", verifier, q.Get("code_challenge"))
		}
	}
}
