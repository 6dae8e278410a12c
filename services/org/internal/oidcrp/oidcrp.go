// Package oidcrp is Orgplane as an OpenID Connect relying party: everything that speaks HTTP to
// an account's identity provider (discovery and its cache, the authorization URL, the code
// exchange and the ID token's verification). The single sign-on use cases (app) decide what to
// do with what it returns; it keeps no account's data.
//
// Every call to a provider is bounded in time and in size, so a slow or hostile provider holds no
// connection or lock and cannot make the service read without end. No state, nonce, verifier,
// code, token or client secret is put in an error, and neither is a provider's answer: a
// provider (or a forger) could echo the request, code and secret included, into it.
package oidcrp

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
	"golang.org/x/oauth2"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

const (
	// timeout bounds each call to a provider (and the client's whole request).
	timeout = 10 * time.Second
	// cacheTTL is how long a discovered provider (and the signing keys its key set has fetched)
	// is reused: long enough that sign-ins do not fetch the discovery document each time, short
	// enough that a provider's change is seen within minutes on every replica.
	cacheTTL = 5 * time.Minute
	// cacheSize bounds the cache: one entry per issuer in use.
	cacheSize = 256
	// maxResponse bounds what is read of any answer from a provider.
	maxResponse = 1 << 20
)

// RelyingParty is the OpenID Connect client: the redirect URI registered at providers and the
// providers it has discovered, by issuer. It is safe for concurrent use.
type RelyingParty struct {
	redirectURI string
	client      *http.Client

	mu     sync.Mutex
	cached map[string]discovered
}

type discovered struct {
	provider *oidc.Provider
	at       time.Time
}

// New returns a relying party whose redirect URI (the one providers send the browser back to)
// is redirectURI.
func New(redirectURI string) *RelyingParty {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	client := &http.Client{
		Timeout:   timeout,
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
	return &RelyingParty{redirectURI: redirectURI, client: client, cached: map[string]discovered{}}
}

// RedirectURI is the address providers send the browser back to, for administrators to
// register.
func (rp *RelyingParty) RedirectURI() string { return rp.redirectURI }

// limitedTransport cuts every answer at maxResponse (the libraries read bodies whole).
type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxResponse), resp.Body}
	return resp, nil
}

// errInsecureEndpoint and errMissingEndpoint refuse a discovery document the flow cannot use.
var (
	errInsecureEndpoint = errors.New("the discovery document names an endpoint that is not https")
	errMissingEndpoint  = errors.New("the discovery document lacks the authorization, token or key set endpoint")
)

// DiscoveryError is a provider whose discovery failed. Its message says in a few words why, for
// the administrator setting the provider up; the library's own error (which may quote the
// answer's body) is not kept.
type DiscoveryError struct{ reason string }

func (e *DiscoveryError) Error() string { return e.reason }

// Provider is a discovered provider, ready for a sign-in.
type Provider struct {
	rp *RelyingParty
	p  *oidc.Provider
}

// Discover returns the provider at issuer, from the cache unless fresh is set or the entry is
// older than cacheTTL; a failure is a *DiscoveryError. The cache keeps the provider's key set,
// whose keys the library refetches only for a key id it has not seen. Its age is read from the
// real clock: it is about the provider's time, not the service's (which tests move).
func (rp *RelyingParty) Discover(ctx context.Context, issuer string, fresh bool) (*Provider, error) {
	p, err := rp.discover(ctx, issuer, fresh)
	if err != nil {
		return nil, &DiscoveryError{reason: whyUndiscoverable(err)}
	}
	return &Provider{rp: rp, p: p}, nil
}

func (rp *RelyingParty) discover(ctx context.Context, issuer string, fresh bool) (*oidc.Provider, error) {
	rp.mu.Lock()
	d, ok := rp.cached[issuer]
	rp.mu.Unlock()
	if ok && !fresh && time.Since(d.at) < cacheTTL {
		return d.provider, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
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
	if len(rp.cached) >= cacheSize {
		rp.evictLocked()
	}
	rp.cached[issuer] = discovered{provider: p, at: time.Now()}
	return p, nil
}

// evictLocked drops the expired entries, or the oldest one when none has expired.
func (rp *RelyingParty) evictLocked() {
	var oldest string
	for issuer, d := range rp.cached {
		if time.Since(d.at) >= cacheTTL {
			delete(rp.cached, issuer)
		} else if oldest == "" || d.at.Before(rp.cached[oldest].at) {
			oldest = issuer
		}
	}
	if len(rp.cached) >= cacheSize {
		delete(rp.cached, oldest)
	}
}

// whyUndiscoverable says in a few words why discovery failed.
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
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.Is(err, errInsecureEndpoint), errors.Is(err, errMissingEndpoint):
		return err.Error()
	case errors.As(err, &urlErr):
		return "the address could not be reached"
	}
	return "no discovery document was found at /.well-known/openid-configuration under this issuer"
}

// NewVerifier returns a fresh PKCE code verifier (RFC 7636), for one sign-in.
func NewVerifier() string { return oauth2.GenerateVerifier() }

// oauthConfig is the authorization code flow with the provider.
func (p *Provider) oauthConfig(clientID, clientSecret string) *oauth2.Config {
	return &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: p.p.Endpoint(),
		RedirectURL: p.rp.redirectURI, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
}

// Authorization is a sign-in about to be sent to the provider.
type Authorization struct {
	ClientID string
	// State comes back in the redirect and finds the flow; Nonce comes back in the ID token.
	State, Nonce string
	// Verifier is the flow's PKCE verifier: only its S256 challenge is in the URL.
	Verifier string
	// LoginHint, when set, is the email the person typed, for the provider's sign-in page.
	LoginHint string
}

// AuthorizationURL is where to send the browser: the authorization code flow with PKCE (S256)
// and a nonce. The client secret plays no part in it.
func (p *Provider) AuthorizationURL(a Authorization) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.Verifier), oidc.Nonce(a.Nonce)}
	if a.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", a.LoginHint))
	}
	return p.oauthConfig(a.ClientID, "").AuthCodeURL(a.State, opts...)
}

// Redemption is a code from the provider's redirect with what redeeming it takes.
type Redemption struct {
	ClientID, ClientSecret string
	Code, Verifier         string
}

// Redeem exchanges the code (with the PKCE verifier) at the provider's token endpoint and
// verifies the ID token it returns: signature against the provider's keys, issuer, audience
// (the client id) and expiry. Expiry is checked against the real clock, the one the provider
// signs by. The nonce is the caller's to compare (domain.SSOClaims.Check). Refusals are
// domain.ErrSSOCodeRefused, ErrSSOTokenRejected or ErrSSOProviderUnreachable.
func (p *Provider) Redeem(ctx context.Context, r Redemption) (domain.SSOClaims, error) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.rp.client), timeout)
	defer cancel()
	tok, err := p.oauthConfig(r.ClientID, r.ClientSecret).Exchange(ctx, r.Code, oauth2.VerifierOption(r.Verifier))
	if err != nil {
		return domain.SSOClaims{}, exchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return domain.SSOClaims{}, domain.ErrSSOTokenRejected.Wrap(errors.New("the token response has no id_token"))
	}
	idt, err := p.p.Verifier(&oidc.Config{ClientID: r.ClientID}).Verify(ctx, raw)
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

// exchangeError classifies a failed code exchange. The token endpoint's body is never kept.
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
