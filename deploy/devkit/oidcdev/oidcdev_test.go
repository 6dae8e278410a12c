package oidcdev_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
)

const (
	clientID     = "orgplane-test"
	clientSecret = "client-secret-for-tests"
	redirectURI  = "http://127.0.0.1:9/v1/singleSignOn/callback"
	adaEmail     = "ada@contoso.example"
	adaPassword  = "correct horse battery staple"
)

// rp is a relying party as Orgplane is one: coreos/go-oidc for discovery and ID token
// verification, x/oauth2 for the code flow.
type rp struct {
	t        *testing.T
	op       *oidcdev.Provider
	provider *oidc.Provider
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func start(t *testing.T) *oidcdev.Provider {
	t.Helper()
	p, err := oidcdev.Start(t.Context(), oidcdev.Config{
		Clients: []oidcdev.Client{
			{ID: clientID, Secret: clientSecret, RedirectURIs: []string{redirectURI}},
			{ID: "other-app", Secret: "other-secret", RedirectURIs: []string{"http://127.0.0.1:9/other"}},
		},
		Users: []oidcdev.User{
			{Email: adaEmail, Password: adaPassword, GivenName: "Ada", FamilyName: "Admin", EmailVerified: true},
			{Email: "grace@contoso.example", Password: "another password", GivenName: "Grace", FamilyName: "Hopper"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	if !strings.HasPrefix(p.Issuer, "http://127.0.0.1:") {
		t.Fatalf("issuer %q, want http://127.0.0.1:port", p.Issuer)
	}
	return p
}

func newRP(t *testing.T, op *oidcdev.Provider, id, secret, redirect string) *rp {
	t.Helper()
	provider, err := oidc.NewProvider(t.Context(), op.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &rp{
		t: t, op: op, provider: provider,
		conf: oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: redirect,
			Scopes: []string{oidc.ScopeOpenID, "email", "profile"}},
		verifier: provider.Verifier(&oidc.Config{ClientID: id}),
	}
}

// flow is one sign-in as the relying party starts it.
type flow struct {
	state, nonce, verifier string
}

func newFlow() flow {
	return flow{state: random(), nonce: random(), verifier: oauth2.GenerateVerifier()}
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *rp) authURL(f flow) string {
	return r.conf.AuthCodeURL(f.state, oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce))
}

// signIn runs the browser part and returns the code the provider sent back to the redirect URI.
func (r *rp) signIn(f flow, email, password string) string {
	r.t.Helper()
	back, err := r.op.Authorize(r.t.Context(), r.authURL(f), email, password)
	if err != nil {
		r.t.Fatalf("authorize: %v", err)
	}
	u, err := url.Parse(back)
	if err != nil {
		r.t.Fatal(err)
	}
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != r.conf.RedirectURL {
		r.t.Fatalf("redirected to %s, want the client's redirect URI %s", back, r.conf.RedirectURL)
	}
	if q.Get("error") != "" || q.Get("code") == "" || q.Get("state") != f.state {
		r.t.Fatalf("redirect %s: want a code and state %s", back, f.state)
	}
	return q.Get("code")
}

func (r *rp) exchange(code, verifier string) (*oauth2.Token, error) {
	return r.conf.Exchange(r.t.Context(), code, oauth2.VerifierOption(verifier))
}

// wantOAuthError checks that a token request was refused with one of the given OAuth error codes.
func wantOAuthError(t *testing.T, err error, codes ...string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("token request: got %v, want a refusal with one of %v", err, codes)
	}
	for _, c := range codes {
		if re.ErrorCode == c {
			return
		}
	}
	t.Fatalf("token request refused with %q (%s), want one of %v", re.ErrorCode, re.ErrorDescription, codes)
}

func TestCodeFlowWithPKCEIssuesAVerifiableIDToken(t *testing.T) {
	t.Parallel()
	op := start(t)
	for name, style := range map[string]oauth2.AuthStyle{
		"client_secret_basic": oauth2.AuthStyleInHeader,
		"client_secret_post":  oauth2.AuthStyleInParams,
	} {
		t.Run(name, func(t *testing.T) {
			r := newRP(t, op, clientID, clientSecret, redirectURI)
			r.conf.Endpoint.AuthStyle = style
			f := newFlow()
			tok, err := r.exchange(r.signIn(f, adaEmail, adaPassword), f.verifier)
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := r.verifier.Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			if idt.Nonce != f.nonce {
				t.Errorf("nonce %q, want %q", idt.Nonce, f.nonce)
			}
			if idt.Issuer != op.Issuer || len(idt.Audience) != 1 || idt.Audience[0] != clientID {
				t.Errorf("iss %q aud %v, want %q and [%s]", idt.Issuer, idt.Audience, op.Issuer, clientID)
			}
			var claims struct {
				Email         string `json:"email"`
				EmailVerified bool   `json:"email_verified"`
				GivenName     string `json:"given_name"`
				FamilyName    string `json:"family_name"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if idt.Subject == "" || claims.Email != adaEmail || !claims.EmailVerified || claims.GivenName != "Ada" || claims.FamilyName != "Admin" {
				t.Errorf("claims sub=%q %+v, want Ada's, email verified", idt.Subject, claims)
			}
			// The access token is good at the userinfo endpoint, for the same person.
			info, err := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if info.Subject != idt.Subject || info.Email != adaEmail {
				t.Errorf("userinfo sub=%q email=%q, want %q %q", info.Subject, info.Email, idt.Subject, adaEmail)
			}
		})
	}
}

// The subject depends on the email alone, so it is the same on another provider (a restart).
func TestSubjectIsStableAcrossRestarts(t *testing.T) {
	t.Parallel()
	sub := func() string {
		op := start(t)
		r := newRP(t, op, clientID, clientSecret, redirectURI)
		f := newFlow()
		tok, err := r.exchange(r.signIn(f, "ADA@contoso.example", adaPassword), f.verifier)
		if err != nil {
			t.Fatal(err)
		}
		idt, err := r.verifier.Verify(t.Context(), tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		return idt.Subject
	}
	if a, b := sub(), sub(); a != b || a == "" {
		t.Errorf("subjects %q and %q, want one stable subject", a, b)
	}
}

func TestWrongVerifierIsRefusedAndBurnsTheCode(t *testing.T) {
	t.Parallel()
	r := newRP(t, start(t), clientID, clientSecret, redirectURI)
	f := newFlow()
	code := r.signIn(f, adaEmail, adaPassword)
	_, err := r.exchange(code, oauth2.GenerateVerifier())
	wantOAuthError(t, err, "invalid_grant")
	// The code does not survive a failed attempt: the right verifier is too late now.
	_, err = r.exchange(code, f.verifier)
	wantOAuthError(t, err, "invalid_grant")

	// Without any verifier the token endpoint refuses as well.
	f = newFlow()
	_, err = r.conf.Exchange(t.Context(), r.signIn(f, adaEmail, adaPassword))
	wantOAuthError(t, err, "invalid_request", "invalid_grant")
}

func TestAuthorizationWithoutPKCEIsRefused(t *testing.T) {
	t.Parallel()
	op := start(t)
	r := newRP(t, op, clientID, clientSecret, redirectURI)
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"no challenge":    nil,
		"plain challenge": {oauth2.SetAuthURLParam("code_challenge", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq"), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
	} {
		back, err := op.Authorize(t.Context(), r.conf.AuthCodeURL("st", opts...), adaEmail, adaPassword)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		u, _ := url.Parse(back)
		if q := u.Query(); q.Get("error") != "invalid_request" || q.Get("code") != "" || q.Get("state") != "st" {
			t.Errorf("%s: redirected to %s, want error=invalid_request with the state and no code", name, back)
		}
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	t.Parallel()
	r := newRP(t, start(t), clientID, clientSecret, redirectURI)
	f := newFlow()
	code := r.signIn(f, adaEmail, adaPassword)
	if _, err := r.exchange(code, f.verifier); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err := r.exchange(code, f.verifier)
	wantOAuthError(t, err, "invalid_grant")
}

func TestWrongPasswordIsRefusedWithoutRedirect(t *testing.T) {
	t.Parallel()
	op := start(t)
	r := newRP(t, op, clientID, clientSecret, redirectURI)
	for _, c := range []struct{ email, password string }{
		{adaEmail, "not the password"},
		{adaEmail, ""},
		{"nobody@contoso.example", adaPassword},
		{"grace@contoso.example", adaPassword}, // another person's password
	} {
		back, err := op.Authorize(t.Context(), r.authURL(newFlow()), c.email, c.password)
		if !errors.Is(err, oidcdev.ErrSignInFailed) || back != "" {
			t.Errorf("%s / %q: got %q, %v; want ErrSignInFailed and no redirect", c.email, c.password, back, err)
		}
	}

	// As a browser sees it: the form again with the error, status 200, no Location.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(r.authURL(newFlow()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	login, err := resp.Location()
	if err != nil {
		t.Fatalf("the authorization endpoint did not send to the sign-in page: %v", err)
	}
	page := get(t, hc, login.String())
	for _, want := range []string{`<label for="email">Email</label>`, `<label for="password">Password</label>`, `type="password"`} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %s:\n%s", want, page)
		}
	}
	resp, err = hc.PostForm(op.Issuer+"/login", url.Values{
		"id": {login.Query().Get("authRequestID")}, "email": {adaEmail}, "password": {"hunter2-not-it"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" || !strings.Contains(string(body), `role="alert"`) ||
		!strings.Contains(string(body), "Wrong email or password.") || strings.Contains(string(body), "hunter2-not-it") {
		t.Errorf("wrong password: %d, Location %q, page:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func get(t *testing.T, hc *http.Client, u string) string {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

func TestWrongClientCredentialsAreRefused(t *testing.T) {
	t.Parallel()
	op := start(t)
	r := newRP(t, op, clientID, clientSecret, redirectURI)
	for name, style := range map[string]oauth2.AuthStyle{"basic": oauth2.AuthStyleInHeader, "post": oauth2.AuthStyleInParams} {
		f := newFlow()
		code := r.signIn(f, adaEmail, adaPassword)
		wrong := r.conf
		wrong.ClientSecret, wrong.Endpoint.AuthStyle = "not-the-secret", style
		_, err := wrong.Exchange(t.Context(), code, oauth2.VerifierOption(f.verifier))
		wantOAuthError(t, err, "invalid_client", "unauthorized_client")
		if t.Failed() {
			t.Fatalf("client auth %s", name)
		}
	}

	// Another registered client, with its own right secret, cannot redeem this client's code.
	f := newFlow()
	code := r.signIn(f, adaEmail, adaPassword)
	other := r.conf
	other.ClientID, other.ClientSecret = "other-app", "other-secret"
	_, err := other.Exchange(t.Context(), code, oauth2.VerifierOption(f.verifier))
	wantOAuthError(t, err, "invalid_grant")
}

func TestUnknownRedirectURIIsNotFollowed(t *testing.T) {
	t.Parallel()
	op := start(t)
	r := newRP(t, op, clientID, clientSecret, "http://127.0.0.1:9/elsewhere")
	back, err := op.Authorize(t.Context(), r.authURL(newFlow()), adaEmail, adaPassword)
	if err == nil || back != "" {
		t.Errorf("unregistered redirect URI: got %q, %v; want an error page and no redirect", back, err)
	}
}

func TestEndingTheContextStopsTheProvider(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	p, err := oidcdev.Start(ctx, oidcdev.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	discovery := p.Issuer + "/.well-known/openid-configuration"
	if resp, err := http.Get(discovery); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	cancel()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(discovery)
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("the provider still answers after its context ended")
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]oidcdev.Config{
		"client without secret":    {Clients: []oidcdev.Client{{ID: "a", RedirectURIs: []string{"http://x/cb"}}}},
		"relative redirect URI":    {Clients: []oidcdev.Client{{ID: "a", Secret: "s", RedirectURIs: []string{"/cb"}}}},
		"duplicate client":         {Clients: []oidcdev.Client{{ID: "a", Secret: "s", RedirectURIs: []string{"http://x/cb"}}, {ID: "a", Secret: "t", RedirectURIs: []string{"http://x/cb"}}}},
		"user without password":    {Users: []oidcdev.User{{Email: "a@b.example"}}},
		"duplicate email any case": {Users: []oidcdev.User{{Email: "a@b.example", Password: "x"}, {Email: "A@b.example", Password: "y"}}},
	} {
		if p, err := oidcdev.Start(t.Context(), cfg); err == nil {
			p.Close()
			t.Errorf("%s: started", name)
		}
	}
}

// A finished sign-in yields one code: calling the provider's callback again (a reload, or someone
// who saw the URL) gets no second one.
func TestASignInYieldsOneCode(t *testing.T) {
	t.Parallel()
	op := start(t)
	r := newRP(t, op, clientID, clientSecret, redirectURI)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := func(resp *http.Response, err error) *url.URL {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("%s %s: %d without a redirect", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode)
		}
		return loc
	}
	login := next(hc.Get(r.authURL(newFlow())))
	callback := next(hc.PostForm(op.Issuer+"/login", url.Values{
		"id": {login.Query().Get("authRequestID")}, "email": {adaEmail}, "password": {adaPassword}}))
	if !strings.HasPrefix(callback.String(), op.Issuer) {
		t.Fatalf("signed in: sent to %s, want the provider's callback", callback)
	}
	if first := next(hc.Get(callback.String())); first.Query().Get("code") == "" {
		t.Fatalf("first callback: %s, want a code", first)
	}
	resp, err := hc.Get(callback.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc != nil && loc.Query().Get("code") != "" {
		t.Errorf("second callback gave another code: %s", loc)
	}
}
