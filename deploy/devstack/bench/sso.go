package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
)

// Single sign-on (issue 18): the whole sign-in through the gateway and the stack's own OpenID
// Connect provider (start, the provider's login, the callback, the session cookie) beside the
// same provider's authorization code flow with PKCE done by a bare relying party in the bench:
// the provider's share, which every single sign-on pays whatever Orgplane does around it.

const (
	// ssoClients is the concurrency of both sides, one provider user each: the password row's 8,
	// so the two sign-in rates compare. The flow is CPU work on both ends of loopback (HTML, an
	// RSA signature, transactions) with short waits between; 8 keep 2 cores busy through those
	// waits, and more would only queue.
	ssoClients = signInUsers
	// ssoTarget is the share of the bare flow's rate Orgplane's sign-in must keep. Orgplane's
	// part (two gateway requests, five transactions, three of them committing writes) weighs
	// about three REST creates, twice the provider's flow (see docs/benchmarks.md).
	ssoTarget = 0.33
	// ssoProviderPassword is every bench user's password at the provider (not their Orgplane one:
	// the two never meet).
	ssoProviderPassword = "Bench-provider-sign-in-2718"
	// ssoBaselineClientID is the bare relying party's client at the provider. Its redirect URI
	// is never requested: oidcdev's Authorize stops at the redirect off the provider and returns
	// it, and .invalid names no host.
	ssoBaselineClientID    = "orgplane-bench-relying-party"
	ssoBaselineRedirectURI = "http://bench-relying-party.invalid/callback"
	// ssoFlowCookie is the gateway's single sign-on flow cookie on plain HTTP.
	ssoFlowCookie = "orgplane_sso"
	// ssoProviderTimeout bounds the bare relying party's calls, as org's providerTimeout does.
	ssoProviderTimeout = 10 * time.Second
)

// ssoProviderUsers are the people the stack's provider knows: the sign-in scenario's users, by
// the same emails, so each maps to an Orgplane user with an open account and a role.
func ssoProviderUsers() []oidcdev.User {
	users := make([]oidcdev.User, signInUsers)
	for i := range users {
		users[i] = oidcdev.User{Email: signInEmail(i), Password: ssoProviderPassword,
			GivenName: "Bench", FamilyName: fmt.Sprintf("Person %02d", i), EmailVerified: true}
	}
	return users
}

// ssoBaselineClient registers the bare relying party at the stack's provider, with a secret
// of this run's.
func ssoBaselineClient() oidcdev.Client {
	return oidcdev.Client{ID: ssoBaselineClientID, Secret: ssoSecret(), RedirectURIs: []string{ssoBaselineRedirectURI}}
}

// ssoSecret is a state, nonce or secret of 256 random bits, as org makes them.
func ssoSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// singleSignOnRows sets the stack's provider up as the account's, checks that a sign-in through
// it opens a single sign-on session of the right user for each of users, and measures the
// rate of whole sign-ins beside the bare relying party's.
func (e *env) singleSignOnRows(ctx context.Context, a account, users []signInUser) ([]Row, error) {
	if e.st.OIDC == nil {
		return nil, errors.New("the stack runs no OpenID Connect provider")
	}
	provider := fmt.Sprintf(`{"issuer":%q,"clientId":%q,"clientSecret":%q}`, e.st.OIDC.Issuer, e.st.OIDCClientID, e.st.OIDCClientSecret)
	if err := e.rest(ctx, "PUT", "/v1/accounts/"+a.id+"/singleSignOnProvider", a.key, provider, nil); err != nil {
		return nil, err
	}
	// The gateway answers the callback with a redirect; the bench reads it rather than follow.
	browser := &http.Client{Transport: e.http.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	// The measured sign-ins only check for the session cookie, so first make sure such a session
	// is the right person's and came from the provider.
	for _, u := range users {
		token, err := e.singleSignOn(ctx, browser, u.email)
		if err != nil {
			return nil, err
		}
		var me struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
			Session struct {
				Method string `json:"method"`
			} `json:"session"`
		}
		if err := e.call(ctx, "GET", "/v1/me", "", "Cookie", signInCookie+"="+token, func(_ *http.Response, b []byte) error {
			return json.Unmarshal(b, &me)
		}); err != nil {
			return nil, err
		}
		if me.User.ID != u.id || me.Session.Method != "SESSION_METHOD_SINGLE_SIGN_ON" {
			return nil, fmt.Errorf("single sign-on as %s opened a session of user %q, method %q; want %q, SESSION_METHOD_SINGLE_SIGN_ON",
				u.email, me.User.ID, me.Session.Method, u.id)
		}
	}
	rp, err := newBareRelyingParty(ctx, e.st.OIDC.Issuer, e.ssoClient)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if err := rp.signIn(ctx, e.st.OIDC, u.email); err != nil {
			return nil, err
		}
	}

	var mu sync.Mutex
	var sysErr, baseErr error
	keep := func(first *error, err error) error {
		if err != nil {
			mu.Lock()
			*first = cmp.Or(*first, err)
			mu.Unlock()
		}
		return err
	}
	sys, base := e.alternate(func(int) Result {
		return run(ctx, ssoClients, e.cfg.duration, 0, func(ctx context.Context, w, _ int) error {
			_, err := e.singleSignOn(ctx, browser, users[w%len(users)].email)
			return keep(&sysErr, err)
		})
	}, func(int) Result {
		return run(ctx, ssoClients, e.cfg.duration, 0, func(ctx context.Context, w, _ int) error {
			return keep(&baseErr, rp.signIn(ctx, e.st.OIDC, users[w%len(users)].email))
		})
	})
	var runErr error
	if sysErr != nil {
		runErr = fmt.Errorf("single sign-on: %d failed, the first: %w", sys.Errors, sysErr)
	}
	if baseErr != nil {
		runErr = errors.Join(runErr, fmt.Errorf("the bare relying party: %d failed, the first: %w", base.Errors, baseErr))
	}
	row := throughputRow(fmt.Sprintf("single sign-on rate: start, provider login, callback, %d users, %d clients", len(users), ssoClients),
		"POST /v1/singleSignOn:start, the provider's login page, GET the callback with the flow cookie -> 303 and a session cookie, every one a success",
		"the same provider's code flow with PKCE by a bare relying party in the bench (x/oauth2 + go-oidc: the same login, Exchange, ID token verified), same users and concurrency",
		sys, base, ssoTarget)
	return []Row{row}, runErr
}

// singleSignOn signs in as email the way a browser does: start at the gateway (which sets the
// flow cookie), sign in at the provider, return to the gateway's callback with the flow cookie.
// It returns the session cookie's value.
func (e *env) singleSignOn(ctx context.Context, browser *http.Client, email string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": email})
	resp, b, err := send(ctx, browser, "POST", e.st.GatewayURL+"/v1/singleSignOn:start", string(body), "")
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("start single sign-on as %s: %d %s", email, resp.StatusCode, b)
	}
	var started struct {
		AuthorizationURL string `json:"authorizationUrl"`
	}
	if err := json.Unmarshal(b, &started); err != nil {
		return "", fmt.Errorf("start single sign-on as %s: %w", email, err)
	}
	binding := cookieOf(resp, ssoFlowCookie)
	if binding == "" {
		return "", fmt.Errorf("start single sign-on as %s: no %s cookie", email, ssoFlowCookie)
	}
	back, err := e.st.OIDC.Authorize(ctx, started.AuthorizationURL, email, ssoProviderPassword)
	if err != nil {
		return "", fmt.Errorf("the provider's login as %s: %w", email, err)
	}
	callback := e.st.GatewayURL + stack.SingleSignOnCallbackPath
	if rest, ok := strings.CutPrefix(back, callback); !ok || !strings.HasPrefix(rest, "?") {
		return "", fmt.Errorf("the provider sent %s somewhere else than the gateway's callback", email)
	}
	resp, b, err = send(ctx, browser, "GET", back, "", ssoFlowCookie+"="+binding)
	if err != nil {
		return "", err
	}
	token := cookieOf(resp, signInCookie)
	if resp.StatusCode != http.StatusSeeOther || token == "" {
		return "", fmt.Errorf("the callback for %s: %d %s (a session cookie: %t)", email, resp.StatusCode, b, token != "")
	}
	return token, nil
}

// send makes one request with client, and cookie as its Cookie header when set.
func send(ctx context.Context, client *http.Client, method, target, body, cookie string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func cookieOf(resp *http.Response, name string) string {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// bareRelyingParty is the least an OpenID Connect client does per sign-in: an authorization URL
// with state, nonce and a PKCE challenge; the code exchanged with the verifier; the ID token
// verified (signature, issuer, audience, expiry), its nonce and verified email checked. Like
// org's, it discovers the provider once and keeps its keys, and calls it through a clone of
// the default transport.
type bareRelyingParty struct {
	client   *http.Client
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newBareRelyingParty(ctx context.Context, issuer string, c oidcdev.Client) (*bareRelyingParty, error) {
	client := &http.Client{Timeout: ssoProviderTimeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		return nil, fmt.Errorf("discover the provider: %w", err)
	}
	return &bareRelyingParty{
		client: client,
		config: oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Endpoint: p.Endpoint(), RedirectURL: c.RedirectURIs[0],
			Scopes: []string{oidc.ScopeOpenID, "email", "profile"}},
		verifier: p.Verifier(&oidc.Config{ClientID: c.ID}),
	}, nil
}

// signIn signs email in at p through the whole flow.
func (rp *bareRelyingParty) signIn(ctx context.Context, p *oidcdev.Provider, email string) error {
	state, nonce, verifier := ssoSecret(), ssoSecret(), oauth2.GenerateVerifier()
	auth := rp.config.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("login_hint", email))
	back, err := p.Authorize(ctx, auth, email, ssoProviderPassword)
	if err != nil {
		return fmt.Errorf("the provider's login as %s: %w", email, err)
	}
	u, err := url.Parse(back)
	if err != nil || !strings.HasPrefix(back, ssoBaselineRedirectURI+"?") {
		return fmt.Errorf("the provider sent %s somewhere else than the redirect URI", email)
	}
	q := u.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		return fmt.Errorf("the provider's redirect for %s: no code for this state (error %q)", email, q.Get("error"))
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, rp.client), ssoProviderTimeout)
	defer cancel()
	tok, err := rp.config.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// Its body could echo the request; the code is a secret.
			return fmt.Errorf("the token endpoint refused the code for %s: %s", email, re.ErrorCode)
		}
		return fmt.Errorf("the token endpoint for %s: %w", email, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return fmt.Errorf("the ID token for %s: %w", email, err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return err
	}
	if idt.Nonce != nonce || !strings.EqualFold(claims.Email, email) || !claims.EmailVerified {
		return fmt.Errorf("the ID token for %s: nonce, email %q or email_verified %t is wrong", email, claims.Email, claims.EmailVerified)
	}
	return nil
}
