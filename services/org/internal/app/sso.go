package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Single sign-on through each account's OpenID Connect provider (authorization code flow with
// PKCE). Every call to a provider (discovery, key set, token endpoint) happens outside any
// database transaction, with a timeout: a slow provider holds no connection or lock. No state,
// binding, nonce, verifier, code, token or client secret is logged or put in an error.

const (
	// providerTimeout bounds each call to a provider (and the client's whole request).
	providerTimeout = 10 * time.Second
	// providerCacheTTL is how long a discovered provider (and the signing keys its key set has
	// fetched) is reused: long enough that sign-ins do not fetch the discovery document each
	// time, short enough that a provider's change is seen within minutes on every replica.
	providerCacheTTL = 5 * time.Minute
	// providerCacheSize bounds the cache: one entry per issuer in use.
	providerCacheSize = 256
	// maxProviderResponse bounds what is read of any answer from a provider.
	maxProviderResponse = 1 << 20
)

// relyingParty is Orgplane as an OpenID Connect client: the redirect URI it registers and the
// providers it has discovered, by issuer.
type relyingParty struct {
	redirectURI string
	client      *http.Client

	mu     sync.Mutex
	cached map[string]discovered
}

type discovered struct {
	provider *oidc.Provider
	at       time.Time
}

func newRelyingParty(webBase string) *relyingParty {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	client := &http.Client{
		Timeout:   providerTimeout,
		Transport: limitedTransport{transport},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if !domain.ProviderEndpointSecure(req.URL.String()) {
				return errors.New("redirected to an address that is not https")
			}
			return nil
		},
	}
	return &relyingParty{redirectURI: domain.RedirectURI(webBase), client: client, cached: map[string]discovered{}}
}

// limitedTransport cuts every answer at maxProviderResponse, so a provider cannot make the
// service read without end (the libraries read bodies whole).
type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxProviderResponse), resp.Body}
	return resp, nil
}

// errInsecureEndpoint and errMissingEndpoint refuse a discovery document the flow cannot use.
var (
	errInsecureEndpoint = errors.New("the discovery document names an endpoint that is not https")
	errMissingEndpoint  = errors.New("the discovery document lacks the authorization, token or key set endpoint")
)

// discover returns the provider at issuer, from the cache unless fresh is set or the entry is
// older than providerCacheTTL. The cache keeps the provider's key set, whose keys the library
// refetches only for a key id it has not seen. Its age is read from the real clock: it is about
// the provider's time, not the service's (which tests move).
func (rp *relyingParty) discover(ctx context.Context, issuer string, fresh bool) (*oidc.Provider, error) {
	rp.mu.Lock()
	d, ok := rp.cached[issuer]
	rp.mu.Unlock()
	if ok && !fresh && time.Since(d.at) < providerCacheTTL {
		return d.provider, nil
	}
	ctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	// The client travels in the context: the provider keeps it for its key set too.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, rp.client), issuer)
	if err != nil {
		return nil, err
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		return nil, err
	}
	ep := p.Endpoint()
	if ep.AuthURL == "" || ep.TokenURL == "" || doc.JWKSURI == "" {
		return nil, errMissingEndpoint
	}
	for _, u := range []string{ep.AuthURL, ep.TokenURL, doc.JWKSURI} {
		if !domain.ProviderEndpointSecure(u) {
			return nil, errInsecureEndpoint
		}
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.cached) >= providerCacheSize {
		rp.evictLocked()
	}
	rp.cached[issuer] = discovered{provider: p, at: time.Now()}
	return p, nil
}

// evictLocked drops the expired entries, or the oldest one when none has expired.
func (rp *relyingParty) evictLocked() {
	var oldest string
	for issuer, d := range rp.cached {
		if time.Since(d.at) >= providerCacheTTL {
			delete(rp.cached, issuer)
		} else if oldest == "" || d.at.Before(rp.cached[oldest].at) {
			oldest = issuer
		}
	}
	if len(rp.cached) >= providerCacheSize {
		delete(rp.cached, oldest)
	}
}

// whyUndiscoverable says in a few words why discovery failed, for the administrator setting the
// provider up; the library's own text (which may quote the answer's body) stays out of it.
func whyUndiscoverable(err error) string {
	var mismatch *oidc.IssuerMismatchError
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case errors.As(err, &mismatch):
		named := mismatch.Discovered
		if len(named) > 200 {
			named = named[:200] + "..."
		}
		return fmt.Sprintf("the document names the issuer %q; give exactly that", named)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Sprintf("no answer within %v", providerTimeout)
	case errors.Is(err, errInsecureEndpoint), errors.Is(err, errMissingEndpoint):
		return err.Error()
	case errors.As(err, &urlErr):
		return "the address could not be reached"
	}
	return "no discovery document was found at /.well-known/openid-configuration under this issuer"
}

// oauthConfig is the authorization code flow with the account's provider.
func (rp *relyingParty) oauthConfig(p *oidc.Provider, clientID, clientSecret string) *oauth2.Config {
	return &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: p.Endpoint(),
		RedirectURL: rp.redirectURI, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
}

// redeem exchanges the code (with the PKCE verifier) at the provider's token endpoint and
// verifies the ID token it returns: signature against the provider's keys, issuer, audience
// (clientID) and expiry. Expiry is checked against the real clock, the one the provider signs
// by. The nonce is the caller's to compare.
func (rp *relyingParty) redeem(ctx context.Context, p *oidc.Provider, clientID, clientSecret, code, verifier string) (domain.SSOClaims, error) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, rp.client), providerTimeout)
	defer cancel()
	tok, err := rp.oauthConfig(p, clientID, clientSecret).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return domain.SSOClaims{}, exchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return domain.SSOClaims{}, domain.ErrSSOTokenRejected.Wrap(errors.New("the token response has no id_token"))
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		return domain.SSOClaims{}, domain.ErrSSOTokenRejected.Wrap(err)
	}
	var c struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
		GivenName     string          `json:"given_name"`
		FamilyName    string          `json:"family_name"`
		Name          string          `json:"name"`
	}
	if err := idt.Claims(&c); err != nil {
		return domain.SSOClaims{}, domain.ErrSSOTokenRejected.Wrap(errors.New("the ID token's claims are malformed"))
	}
	return domain.SSOClaims{Email: c.Email, EmailVerified: verifiedClaim(c.EmailVerified), GivenName: c.GivenName,
		FamilyName: c.FamilyName, Name: c.Name, Nonce: idt.Nonce}, nil
}

// verifiedClaim reads email_verified, a boolean, which some providers send as the string
// "true"; anything else is not verified.
func verifiedClaim(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == "true"
}

// exchangeError classifies a failed code exchange. The token endpoint's body is never kept: a
// provider (or a forger) could echo the request, code and secret included, into it.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	var netErr net.Error
	switch {
	case errors.As(err, &re):
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return domain.ErrSSOCodeRefused.Wrap(fmt.Errorf("token endpoint answered %d %.64q", status, re.ErrorCode))
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return domain.ErrSSOProviderUnreachable.Wrap(errors.New("the token endpoint did not answer in time"))
	case errors.As(err, new(*url.Error)):
		return domain.ErrSSOProviderUnreachable.Wrap(errors.New("the token endpoint could not be reached"))
	}
	return domain.ErrSSOCodeRefused.Wrap(errors.New("the token endpoint's answer is not a token response"))
}

// WithSingleSignOn sets the web UI's address (the redirect URI registered at providers is
// webBase + domain.SSOCallbackPath) and starts the service's provider cache.
func (s *Service) WithSingleSignOn(webBase string) *Service {
	s.sso = newRelyingParty(webBase)
	return s
}

// errNoRelyingParty is a wiring fault: the service was built without WithSingleSignOn.
var errNoRelyingParty = errors.New("single sign-on: the service was built without WithSingleSignOn")

// ssoReady refuses single sign-on on a service that cannot keep its secrets.
func (s *Service) ssoReady() error {
	if s.sso == nil {
		return errNoRelyingParty
	}
	if s.secrets == nil {
		return domain.ErrNoSecrets
	}
	return nil
}

// clientSecretAAD and verifierAAD bind each sealed value to its row and field: copied to
// another account or flow, it does not open.
func clientSecretAAD(accountID string) []byte {
	return secrets.AAD("sso_providers", accountID, "client_secret")
}

func verifierAAD(accountID, flowID string) []byte {
	return secrets.AAD("sso_flows", accountID, flowID, "verifier")
}

// SingleSignOnProvider returns the account's provider, without its secret.
func (s *Service) SingleSignOnProvider(ctx context.Context, accountID string) (domain.SSOProvider, error) {
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaAccountSettings)); err != nil {
		return domain.SSOProvider{}, err
	}
	if s.sso == nil {
		return domain.SSOProvider{}, errNoRelyingParty
	}
	var out domain.SSOProvider
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		rec, err := tx.SSOProvider(ctx)
		out = rec.Provider
		return err
	})
	out.RedirectURI = s.sso.redirectURI
	return out, err
}

// UpdateSingleSignOnProvider sets up or changes the account's provider. The issuer must serve a
// usable discovery document (fetched fresh, outside the transaction). The default role of users
// created on first sign-in may grant no more than the caller holds, checked in the transaction
// that saves it, with the role held still until it commits.
func (s *Service) UpdateSingleSignOnProvider(ctx context.Context, accountID string, c domain.SSOProviderChange) (domain.SSOProvider, error) {
	id, err := s.writer(ctx, accountID, domain.Write(domain.AreaAccountSettings))
	if err != nil {
		return domain.SSOProvider{}, err
	}
	if err := s.ssoReady(); err != nil {
		return domain.SSOProvider{}, err
	}
	if err := c.Check(); err != nil {
		return domain.SSOProvider{}, err
	}
	if _, err := s.sso.discover(ctx, c.Issuer, true); err != nil {
		return domain.SSOProvider{}, domain.ErrIssuerUnusable(whyUndiscoverable(err))
	}
	var sealed []byte
	if c.ClientSecret != "" {
		if sealed, err = s.secrets.Seal([]byte(c.ClientSecret), clientSecretAAD(accountID)); err != nil {
			return domain.SSOProvider{}, err
		}
	}
	var out domain.SSOProvider
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if c.DefaultRoleID != "" {
			role, err := roleToGrant(ctx, tx, c.DefaultRoleID, "provider.default_role_id")
			if err != nil {
				return err
			}
			if err := grantOf(id).Covers(domain.SSOUserGrant(role.Levels)); err != nil {
				return err
			}
		}
		if err := tx.SaveSSOProvider(ctx, accountID, c, sealed, s.now()); err != nil {
			return err
		}
		rec, err := tx.SSOProvider(ctx)
		out = rec.Provider
		return err
	})
	out.RedirectURI = s.sso.redirectURI
	return out, err
}

// DeleteSingleSignOnProvider removes the account's provider, unless the account requires
// single sign-on.
func (s *Service) DeleteSingleSignOnProvider(ctx context.Context, accountID string) error {
	if _, err := s.writer(ctx, accountID, domain.Write(domain.AreaAccountSettings)); err != nil {
		return err
	}
	return s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		required, err := tx.LockSingleSignOnRequirement(ctx)
		if err != nil {
			return err
		}
		if required {
			return domain.ErrSSORequired
		}
		ok, err := tx.DeleteSSOProvider(ctx)
		if err == nil && !ok {
			err = domain.ErrSSOProviderNotFound
		}
		return err
	})
}

// checkSingleSignOnRequirement refuses to start requiring single sign-on (next) of an account
// with no provider. The caller holds LockSingleSignOnRequirement, so the provider cannot go
// between this check and the commit.
func checkSingleSignOnRequirement(ctx context.Context, tx *store.Tx, cur, next domain.Settings) error {
	if !next.RequireSingleSignOn || cur.RequireSingleSignOn {
		return nil
	}
	ok, err := tx.HasSSOProvider(ctx)
	if err == nil && !ok {
		err = domain.ErrSSORequirementWithoutProvider
	}
	return err
}

// ssoAccountByEmail finds the one account with a provider where a user has email.
//
// What it reveals: to anyone who asks, whether an email is a user's in some account with single
// sign-on (a start URL, or the same "not set up" as an account without it), and that account's
// provider. That is the "home realm discovery" every single sign-on login page does, and it is
// acceptable here: the provider and client id are public to anyone shown the provider's login
// page, no session or data comes of it, and a password sign-in already must not, and does not,
// tell known emails from unknown ones (that is where guessing pays). An email in several such
// accounts is ambiguous and gets the same answer: the person names the account instead.
func (s *Service) ssoAccountByEmail(ctx context.Context, email string) (string, error) {
	users, err := s.store.UsersByEmail(ctx, domain.EmailDigest(email), "")
	if err != nil {
		return "", err
	}
	if len(users) > store.MaxEmailCandidates() {
		return "", domain.ErrSSONotSetUp
	}
	var found string
	for _, u := range users {
		if u.AccountID == found {
			continue
		}
		var has bool
		err := s.store.InTenant(ctx, u.AccountID, func(tx *store.Tx) error {
			var err error
			has, err = tx.HasSSOProvider(ctx)
			return err
		})
		if err != nil {
			return "", err
		}
		if !has {
			continue
		}
		if found != "" {
			return "", domain.ErrSSONotSetUp
		}
		found = u.AccountID
	}
	if found == "" {
		return "", domain.ErrSSONotSetUp
	}
	return found, nil
}

// StartSingleSignOn starts a sign-in through the provider of accountID (or of the one account
// email leads to): a fresh state, browser binding, nonce and PKCE verifier, kept only as
// digests (the verifier sealed) for domain.SSOFlowTTL, and the provider's authorization URL.
func (s *Service) StartSingleSignOn(ctx context.Context, accountID, email, returnPath string, c domain.Client) (domain.SSOStart, error) {
	if err := s.ssoReady(); err != nil {
		return domain.SSOStart{}, err
	}
	returnPath, err := domain.CheckReturnPath(returnPath)
	if err != nil {
		return domain.SSOStart{}, err
	}
	if accountID == "" {
		if accountID, err = s.ssoAccountByEmail(ctx, email); err != nil {
			return domain.SSOStart{}, err
		}
	}
	var rec store.SSOProviderRecord
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		rec, err = tx.SSOProvider(ctx)
		return err
	})
	if errors.Is(err, domain.ErrSSOProviderNotFound) {
		// The same as for an account that does not exist: no account is confirmed here.
		return domain.SSOStart{}, domain.ErrSSONotSetUp
	}
	if err != nil {
		return domain.SSOStart{}, err
	}
	p, err := s.sso.discover(ctx, rec.Provider.Issuer, false)
	if err != nil {
		return domain.SSOStart{}, domain.ErrSSOProviderUnreachable.Wrap(errors.New(whyUndiscoverable(err)))
	}
	state, binding, nonce, verifier := domain.NewSSOSecret(), domain.NewSSOSecret(), domain.NewSSOSecret(), oauth2.GenerateVerifier()
	flowID := uuid.NewString()
	sealed, err := s.secrets.Seal([]byte(verifier), verifierAAD(accountID, flowID))
	if err != nil {
		return domain.SSOStart{}, err
	}
	now := s.now()
	flow := domain.NewSSOFlow(flowID, accountID, binding, nonce, sealed, returnPath, now, c)
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if err := tx.DeleteEndedSSOFlows(ctx, now); err != nil {
			return err
		}
		return tx.InsertSSOFlow(ctx, flow, domain.SSODigest(state))
	})
	if err != nil {
		return domain.SSOStart{}, err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}
	if email != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", email))
	}
	// The secret plays no part in the authorization URL.
	authURL := s.sso.oauthConfig(p, rec.Provider.ClientID, "").AuthCodeURL(state, opts...)
	return domain.SSOStart{AuthorizationURL: authURL, Binding: binding, Expires: flow.Expires}, nil
}

// redeemFlow finds the flow state names and uses it up, whatever comes next, in a transaction
// of its own that commits before the answer: a state works once, even when the attempt fails.
// It returns the flow and the account's provider when the callback may go on (binding is the
// flow cookie's value), else the refusal.
func (s *Service) redeemFlow(ctx context.Context, state, binding string, now time.Time) (domain.SSOFlow, store.SSOProviderRecord, error) {
	accountID, flowID, ok, err := s.store.SSOFlowByState(ctx, domain.SSODigest(state))
	if err != nil {
		return domain.SSOFlow{}, store.SSOProviderRecord{}, err
	}
	if !ok {
		return domain.SSOFlow{}, store.SSOProviderRecord{}, domain.ErrSSOFlowInvalid
	}
	var flow domain.SSOFlow
	var rec store.SSOProviderRecord
	var verdict error
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		flow, rec, verdict = domain.SSOFlow{}, store.SSOProviderRecord{}, nil
		f, ok, err := tx.SSOFlowForUpdate(ctx, flowID)
		if err != nil {
			return err
		}
		if !ok {
			verdict = domain.ErrSSOFlowInvalid
			return nil
		}
		if err := tx.UseSSOFlow(ctx, f.ID, now); err != nil {
			return err
		}
		if verdict = f.Redeem(binding, now); verdict != nil {
			return nil
		}
		flow = f
		rec, err = tx.SSOProvider(ctx)
		if errors.Is(err, domain.ErrSSOProviderNotFound) {
			verdict, err = domain.ErrSSOFlowInvalid, nil
		}
		return err
	})
	if err == nil {
		err = verdict
	}
	return flow, rec, err
}

// CompleteSingleSignOn finishes a sign-in at the provider's redirect: the flow (found by state,
// used up by this attempt, bound to this browser), the code redeemed with the PKCE verifier, the
// ID token verified (signature, issuer, audience, expiry, nonce) with a verified email, the
// account's active user with that email (or a new one when the provider creates users), and a
// session of method single sign-on that counts as two-step: the provider did the sign-in, with
// whatever factors it requires.
func (s *Service) CompleteSingleSignOn(ctx context.Context, in domain.SSOCallback, c domain.Client) (domain.SSOSignIn, error) {
	if err := s.ssoReady(); err != nil {
		return domain.SSOSignIn{}, err
	}
	now := s.now()
	if in.Error != "" {
		// The provider refused; the flow it names is done with too.
		if in.State != "" {
			if _, _, err := s.redeemFlow(ctx, in.State, in.Binding, now); err != nil && apperr.KindOf(err) == apperr.KindInternal {
				return domain.SSOSignIn{}, err
			}
		}
		return domain.SSOSignIn{}, domain.ProviderRefusal(in.Error)
	}
	if in.State == "" {
		return domain.SSOSignIn{}, apperr.Invalid("state", "is required: the provider's redirect carries it")
	}
	if in.Code == "" {
		return domain.SSOSignIn{}, apperr.Invalid("code", "is required: the provider's redirect carries it")
	}
	flow, rec, err := s.redeemFlow(ctx, in.State, in.Binding, now)
	if err != nil {
		return domain.SSOSignIn{}, err
	}
	accountID := flow.AccountID
	verifier, err := s.secrets.Open(flow.VerifierSealed, verifierAAD(accountID, flow.ID))
	if err != nil {
		return domain.SSOSignIn{}, fmt.Errorf("open the flow's verifier: %w", err)
	}
	var clientSecret []byte
	if len(rec.SecretSealed) > 0 {
		if clientSecret, err = s.secrets.Open(rec.SecretSealed, clientSecretAAD(accountID)); err != nil {
			return domain.SSOSignIn{}, fmt.Errorf("open the provider's client secret: %w", err)
		}
	}
	p, err := s.sso.discover(ctx, rec.Provider.Issuer, false)
	if err != nil {
		return domain.SSOSignIn{}, domain.ErrSSOProviderUnreachable.Wrap(errors.New(whyUndiscoverable(err)))
	}
	claims, err := s.sso.redeem(ctx, p, rec.Provider.ClientID, string(clientSecret), in.Code, string(verifier))
	if err != nil {
		return domain.SSOSignIn{}, err
	}
	if err := claims.Check(flow.NonceDigest); err != nil {
		return domain.SSOSignIn{}, err
	}
	// Creating a user is a change: an account made read-only by its subscription makes none.
	var refuseCreation error
	if rec.Provider.CreateUsers {
		writable, err := s.store.AccountWritable(ctx, accountID)
		if err != nil {
			return domain.SSOSignIn{}, err
		}
		if !writable {
			refuseCreation = domain.ErrSubscriptionInactive
		}
	}
	var out domain.SSOSignIn
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		u, err := s.ssoUser(ctx, tx, accountID, claims, refuseCreation)
		if err != nil {
			return err
		}
		req, err := tx.SignInRequirements(ctx)
		if err != nil {
			return err
		}
		cu, token, err := s.openSession(ctx, tx, accountID, u, req, domain.MethodSingleSignOn, true, c, now)
		out = domain.SSOSignIn{User: cu, SessionToken: token, ReturnPath: flow.ReturnPath}
		return err
	})
	if err != nil {
		return domain.SSOSignIn{}, err
	}
	return out, nil
}

// ssoUser is the account's active user with the verified email of claims, or, when there is
// none and the provider (as it is now) creates users, a new one with its default role, made
// like any other (user.created is published); refuseCreation, when set, is why none may be.
func (s *Service) ssoUser(ctx context.Context, tx *store.Tx, accountID string, claims domain.SSOClaims, refuseCreation error) (domain.User, error) {
	u, ok, err := tx.UserByEmail(ctx, accountID, domain.EmailDigest(claims.Email))
	if err != nil {
		return domain.User{}, err
	}
	if ok {
		if !u.Active {
			return domain.User{}, domain.ErrSSOUnknownUser
		}
		return u, nil
	}
	rec, err := tx.SSOProvider(ctx)
	if err != nil {
		return domain.User{}, err
	}
	if !rec.Provider.CreateUsers {
		return domain.User{}, domain.ErrSSOUnknownUser
	}
	if refuseCreation != nil {
		return domain.User{}, refuseCreation
	}
	if rec.Provider.DefaultRoleID == "" {
		return domain.User{}, domain.ErrSSODefaultRoleGone
	}
	role, err := tx.RoleToGrant(ctx, rec.Provider.DefaultRoleID)
	if errors.Is(err, domain.ErrRoleNotFound) {
		return domain.User{}, domain.ErrSSODefaultRoleGone
	}
	if err != nil {
		return domain.User{}, err
	}
	return s.insertUser(ctx, tx, accountID, claims.NewSSOUser(role.ID), "user")
}
