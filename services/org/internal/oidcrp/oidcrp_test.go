package oidcrp_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/oidcrp"
)

const (
	redirectURI  = "https://orgplane.example/v1/singleSignOn/callback"
	clientID     = "orgplane"
	clientSecret = "client-secret-never-in-an-error-7c1e"
	theCode      = "code-never-in-an-error-0b4d"
	theVerifier  = "verifier-never-in-an-error-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

// fakeIdP is a provider on loopback HTTP (which the relying party admits, as it does for local
// development) whose discovery document, key set and token endpoint each test shapes.
type fakeIdP struct {
	t   *testing.T
	srv *httptest.Server
	key *rsa.PrivateKey

	discoveries atomic.Int32

	mu sync.Mutex
	// doc rewrites the discovery document before it is served (nil: served as is).
	doc func(map[string]any)
	// token answers the token endpoint (nil: the ID token of claims, for the right client,
	// code and verifier).
	token  func(w http.ResponseWriter, r *http.Request)
	claims map[string]any
}

func startFakeIdP(t *testing.T) *fakeIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIdP{t: t, key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		f.discoveries.Add(1)
		iss := f.srv.URL
		doc := map[string]any{"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}}
		f.mu.Lock()
		shape := f.doc
		f.mu.Unlock()
		if shape != nil {
			shape(doc)
		}
		writeJSON(w, http.StatusOK, doc)
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		answer, claims := f.token, f.claims
		f.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		id, secret, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil || id != clientID || secret != clientSecret || r.PostForm.Get("code") != theCode ||
			r.PostForm.Get("code_verifier") != theVerifier || r.PostForm.Get("redirect_uri") != redirectURI {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60,
			"id_token": f.sign(claims)})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIdP) set(doc func(map[string]any), token func(http.ResponseWriter, *http.Request), claims map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.doc, f.token, f.claims = doc, token, claims
}

// claims are an ID token's claims for this client from this issuer, valid now.
func (f *fakeIdP) claimsNow() map[string]any {
	now := time.Now()
	return map[string]any{"iss": f.srv.URL, "sub": "ada", "aud": clientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": "the-nonce", "email": "ada@contoso.example", "email_verified": true, "given_name": "Ada", "family_name": "Lovelace",
		"name": "Ada Lovelace"}
}

func (f *fakeIdP) sign(claims map[string]any) string {
	f.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: f.key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		f.t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		f.t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// closedAddress is a loopback address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestDiscoverSaysWhyAnIssuerIsUnusable: each way a discovery document can be unusable gets a
// reason an administrator can act on, and no answer is read past the size bound.
func TestDiscoverSaysWhyAnIssuerIsUnusable(t *testing.T) {
	t.Parallel()
	f := startFakeIdP(t)
	for _, c := range []struct {
		name   string
		issuer func() string
		doc    func(map[string]any)
		says   string
	}{
		{"another issuer named", nil, func(d map[string]any) { d["issuer"] = "https://idp.example/tenant" },
			`the document names the issuer "https://idp.example/tenant"; give exactly that`},
		{"a token endpoint not on https", nil, func(d map[string]any) { d["token_endpoint"] = "http://idp.example/token" },
			"the discovery document names an endpoint that is not https"},
		{"no key set", nil, func(d map[string]any) { delete(d, "jwks_uri") },
			"the discovery document lacks the authorization, token or key set endpoint"},
		{"no document", func() string { return f.srv.URL + "/nothing-here" }, nil,
			"no discovery document was found at /.well-known/openid-configuration under this issuer"},
		// Valid JSON, but past the bound: cut, it no longer parses.
		{"a document larger than a mebibyte", nil, func(d map[string]any) { d["padding"] = strings.Repeat("x", 1<<20) },
			"no discovery document was found at /.well-known/openid-configuration under this issuer"},
		{"nothing listening", func() string { return "http://" + closedAddress(t) }, nil, "the address could not be reached"},
	} {
		f.set(c.doc, nil, nil)
		issuer := f.srv.URL
		if c.issuer != nil {
			issuer = c.issuer()
		}
		_, err := oidcrp.New(redirectURI).Discover(context.Background(), issuer, true)
		var de *oidcrp.DiscoveryError
		if !errors.As(err, &de) || err.Error() != c.says {
			t.Errorf("%s: %v, want %q", c.name, err, c.says)
		}
	}
	// The control: the same provider, as it should be, is usable.
	f.set(nil, nil, nil)
	if _, err := oidcrp.New(redirectURI).Discover(context.Background(), f.srv.URL, true); err != nil {
		t.Fatalf("a usable provider: %v", err)
	}
}

// TestDiscoverReusesTheProviderUntilAskedFresh: sign-ins do not fetch the discovery document
// each time; setting the provider up (fresh) always does.
func TestDiscoverReusesTheProviderUntilAskedFresh(t *testing.T) {
	t.Parallel()
	f := startFakeIdP(t)
	rp := oidcrp.New(redirectURI)
	ctx := context.Background()
	for range 3 {
		if _, err := rp.Discover(ctx, f.srv.URL, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.discoveries.Load(); n != 1 {
		t.Fatalf("%d discoveries for three sign-ins, want 1", n)
	}
	if _, err := rp.Discover(ctx, f.srv.URL, true); err != nil {
		t.Fatal(err)
	}
	if n := f.discoveries.Load(); n != 2 {
		t.Fatalf("%d discoveries after a fresh one, want 2", n)
	}
	// A failed discovery is not cached: the provider, once fixed, is used.
	f.set(func(d map[string]any) { delete(d, "token_endpoint") }, nil, nil)
	if _, err := rp.Discover(ctx, f.srv.URL, true); err == nil {
		t.Fatal("a document without a token endpoint was accepted")
	}
	f.set(nil, nil, nil)
	if _, err := rp.Discover(ctx, f.srv.URL, true); err != nil {
		t.Fatal(err)
	}
}

// TestAuthorizationURLIsTheCodeFlowWithPKCE: the URL carries the S256 challenge of the verifier,
// never the verifier or a secret.
func TestAuthorizationURLIsTheCodeFlowWithPKCE(t *testing.T) {
	t.Parallel()
	f := startFakeIdP(t)
	rp := oidcrp.New(redirectURI)
	if rp.RedirectURI() != redirectURI {
		t.Fatalf("redirect URI %q", rp.RedirectURI())
	}
	p, err := rp.Discover(context.Background(), f.srv.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	verifier := oidcrp.NewVerifier()
	if len(verifier) != 43 || verifier == oidcrp.NewVerifier() {
		t.Fatalf("verifier %q is not a fresh 256-bit value", verifier)
	}
	raw := p.AuthorizationURL(oidcrp.Authorization{ClientID: clientID, State: "the-state", Nonce: "the-nonce", Verifier: verifier,
		LoginHint: "Ada@Contoso.example"})
	u, err := url.Parse(raw)
	if err != nil || !strings.HasPrefix(raw, f.srv.URL+"/authorize?") {
		t.Fatalf("authorization URL %s (%v)", raw, err)
	}
	q := u.Query()
	sum := sha256.Sum256([]byte(verifier))
	if q.Get("response_type") != "code" || q.Get("client_id") != clientID || q.Get("redirect_uri") != redirectURI ||
		q.Get("state") != "the-state" || q.Get("nonce") != "the-nonce" || q.Get("login_hint") != "Ada@Contoso.example" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) ||
		q.Get("scope") != "openid email profile" || strings.Contains(raw, verifier) || q.Has("client_secret") {
		t.Fatalf("authorization URL %s", raw)
	}
	if q := mustParse(t, p.AuthorizationURL(oidcrp.Authorization{ClientID: clientID, State: "s", Nonce: "n", Verifier: verifier})); q.Has("login_hint") {
		t.Fatalf("a login hint without an email: %v", q)
	}
}

func mustParse(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func redemption() oidcrp.Redemption {
	return oidcrp.Redemption{ClientID: clientID, ClientSecret: clientSecret, Code: theCode, Verifier: theVerifier}
}

// TestRedeemReadsTheVerifiedIDToken: the claims come from a token the provider signed for this
// client; email_verified counts only as true or "true".
func TestRedeemReadsTheVerifiedIDToken(t *testing.T) {
	t.Parallel()
	f := startFakeIdP(t)
	p, err := oidcrp.New(redirectURI).Discover(context.Background(), f.srv.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		verified any // nil: no claim
		want     bool
	}{{true, true}, {"true", true}, {false, false}, {"false", false}, {"yes", false}, {1, false}, {nil, false}} {
		claims := f.claimsNow()
		if c.verified == nil {
			delete(claims, "email_verified")
		} else {
			claims["email_verified"] = c.verified
		}
		f.set(nil, nil, claims)
		got, err := p.Redeem(context.Background(), redemption())
		want := domain.SSOClaims{Email: "ada@contoso.example", EmailVerified: c.want, GivenName: "Ada", FamilyName: "Lovelace",
			Name: "Ada Lovelace", Nonce: "the-nonce"}
		if err != nil || got != want {
			t.Errorf("email_verified %#v: %+v %v, want %+v", c.verified, got, err, want)
		}
	}

	other := f.claimsNow()
	other["aud"] = "another-client"
	f.set(nil, nil, other)
	if _, err := p.Redeem(context.Background(), redemption()); !errors.Is(err, domain.ErrSSOTokenRejected) {
		t.Fatalf("another client's token: %v", err)
	}
	f.set(nil, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "at", "token_type": "Bearer"})
	}, nil)
	if _, err := p.Redeem(context.Background(), redemption()); !errors.Is(err, domain.ErrSSOTokenRejected) {
		t.Fatalf("a token response without an ID token: %v", err)
	}
}

// TestRedeemKeepsTheTokenEndpointsAnswerOutOfErrors: a refusal is classified, and nothing the
// endpoint said (which may echo the code and secret) nor anything sent reaches the error.
func TestRedeemKeepsTheTokenEndpointsAnswerOutOfErrors(t *testing.T) {
	t.Parallel()
	f := startFakeIdP(t)
	p, err := oidcrp.New(redirectURI).Discover(context.Background(), f.srv.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	echo := func(status int, contentType string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			body, _ := json.Marshal(map[string]string{"error": "invalid_grant", "error_description": "you sent " + r.PostForm.Encode() +
				" with " + r.Header.Get("Authorization")})
			_, _ = w.Write(body)
		}
	}
	for _, c := range []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request)
		want   error
	}{
		{"a refusal that echoes the request", echo(http.StatusBadRequest, "application/json"), domain.ErrSSOCodeRefused},
		{"a success that is not a token response", echo(http.StatusOK, "text/html"), domain.ErrSSOCodeRefused},
	} {
		f.set(nil, c.answer, nil)
		_, err := p.Redeem(context.Background(), redemption())
		if !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
		basic := base64.StdEncoding.EncodeToString([]byte(clientID + ":" + clientSecret))
		for _, secret := range []string{clientSecret, theCode, theVerifier, basic, "you sent"} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: the error %q quotes %q", c.name, err, secret)
			}
		}
	}

	// A provider whose token endpoint is gone is unreachable, not a refusal of the person.
	gone := oidcrp.New(redirectURI)
	f.set(func(d map[string]any) { d["token_endpoint"] = "http://" + closedAddress(t) + "/token" }, nil, nil)
	q, err := gone.Discover(context.Background(), f.srv.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Redeem(context.Background(), redemption()); !errors.Is(err, domain.ErrSSOProviderUnreachable) {
		t.Fatalf("token endpoint gone: %v", err)
	}
}
