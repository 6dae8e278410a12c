package oidcdev

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	// How long a person has to sign in once the relying party sent them here.
	authRequestLifetime = 10 * time.Minute
	// How long an authorization code can be redeemed after it was issued.
	codeLifetime    = 2 * time.Minute
	accessTokenLife = 15 * time.Minute
	idTokenLife     = 15 * time.Minute
)

// storage is the provider's op.Storage: clients and people from the Config, and the sign-ins,
// codes and access tokens in flight, all in memory.
type storage struct {
	issuer  string
	key     *rsa.PrivateKey
	keyID   string
	clients map[string]*client
	users   map[string]*user // by subject

	mu       sync.Mutex
	requests map[string]*authRequest // by id
	codes    map[string]string       // code → request id
	tokens   map[string]accessToken  // by id
}

type user struct {
	User
	subject string
}

type accessToken struct {
	subject, clientID string
	scopes            []string
	expires           time.Time
}

var errNotFound = errors.New("not found")

func newStorage(issuer string, cfg Config) (*storage, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	s := &storage{
		issuer: issuer, key: key, keyID: randomID(),
		clients: map[string]*client{}, users: map[string]*user{},
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]accessToken{},
	}
	for i, c := range cfg.Clients {
		if c.ID == "" || c.Secret == "" || len(c.RedirectURIs) == 0 {
			return nil, fmt.Errorf("oidcdev: client %d needs an id, a secret and a redirect URI", i)
		}
		if _, dup := s.clients[c.ID]; dup {
			return nil, fmt.Errorf("oidcdev: client %q is given twice", c.ID)
		}
		for _, u := range c.RedirectURIs {
			if pu, err := url.Parse(u); err != nil || !pu.IsAbs() || pu.Host == "" {
				return nil, fmt.Errorf("oidcdev: client %q: redirect URI %q is not an absolute URL", c.ID, u)
			}
		}
		s.clients[c.ID] = &client{Client: c, loginURL: issuer + signInPath}
	}
	for i, u := range cfg.Users {
		if !strings.Contains(u.Email, "@") || u.Password == "" {
			return nil, fmt.Errorf("oidcdev: user %d needs an email and a password", i)
		}
		sub := subjectOf(u.Email)
		if _, dup := s.users[sub]; dup {
			return nil, fmt.Errorf("oidcdev: user %q is given twice", u.Email)
		}
		s.users[sub] = &user{User: u, subject: sub}
	}
	return s, nil
}

// subjectOf derives a stable subject from an email, so a relying party that keeps the subject
// finds the same person after a restart.
func subjectOf(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:12])
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// signIn checks a person's email and password for a pending authorization request and, when they
// match, marks the request done for that person. It returns errNotFound for an unknown or expired
// request and errWrongCredentials for anything else, whichever of email or password was wrong.
func (s *storage) signIn(requestID, email, password string) error {
	var found *user
	for _, u := range s.users {
		if strings.EqualFold(u.Email, strings.TrimSpace(email)) {
			found = u
		}
	}
	ok := found != nil && subtle.ConstantTimeCompare([]byte(password), []byte(found.Password)) == 1
	s.mu.Lock()
	defer s.mu.Unlock()
	r, live := s.requests[requestID]
	if !live || time.Since(r.created) > authRequestLifetime {
		return errNotFound
	}
	if !ok {
		return errWrongCredentials
	}
	r.subject, r.authTime, r.done = found.subject, time.Now(), true
	return nil
}

var errWrongCredentials = errors.New("wrong email or password")

// pending returns a copy of a pending authorization request, for the sign-in page.
func (s *storage) pending(requestID string) (authRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[requestID]
	if !ok || time.Since(r.created) > authRequestLifetime {
		return authRequest{}, false
	}
	return *r, true
}

// CreateAuthRequest keeps an authorization request that the library has validated against the
// client (redirect URI, scopes, response type). PKCE with S256 is required on top.
func (s *storage) CreateAuthRequest(_ context.Context, in *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if in.CodeChallenge == "" || in.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if len(in.Prompt) == 1 && in.Prompt[0] == oidc.PromptNone {
		// Nobody stays signed in here, so there is never a session to answer prompt=none from.
		return nil, oidc.ErrLoginRequired()
	}
	r := &authRequest{
		id: randomID(), created: time.Now(),
		clientID: in.ClientID, redirectURI: in.RedirectURI, state: in.State, nonce: in.Nonce,
		scopes: in.Scopes, responseType: in.ResponseType, responseMode: in.ResponseMode,
		challenge: &oidc.CodeChallenge{Challenge: in.CodeChallenge, Method: in.CodeChallengeMethod},
		loginHint: in.LoginHint,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropExpired()
	s.requests[r.id] = r
	c := *r
	return &c, nil
}

// dropExpired forgets requests, codes and tokens past their time; s.mu is held.
func (s *storage) dropExpired() {
	now := time.Now()
	for id, r := range s.requests {
		if now.Sub(r.created) > authRequestLifetime+codeLifetime {
			delete(s.requests, id)
		}
	}
	for code, id := range s.codes {
		if _, ok := s.requests[id]; !ok {
			delete(s.codes, code)
		}
	}
	for id, t := range s.tokens {
		if now.After(t.expires) {
			delete(s.tokens, id)
		}
	}
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok || time.Since(r.created) > authRequestLifetime+codeLifetime {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
	}
	c := *r
	return &c, nil
}

// AuthRequestByCode redeems a code: whatever the token request's outcome, the code cannot be
// presented again, so a wrong verifier or secret cannot be retried against it.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[code]
	if !ok {
		return nil, errors.New("unknown, used or expired code")
	}
	delete(s.codes, code)
	r, ok := s.requests[id]
	if !ok || !r.done || time.Since(r.codeIssued) > codeLifetime {
		return nil, errors.New("unknown, used or expired code")
	}
	// The request served its one code; the library deletes it once tokens are issued, and a
	// refused token request leaves nothing to retry with either.
	delete(s.requests, id)
	c := *r
	return &c, nil
}

// SaveAuthCode records the one code a completed sign-in gets.
func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok || !r.done {
		return oidc.ErrInvalidRequest().WithDescription("unknown or unfinished authorization request")
	}
	if !r.codeIssued.IsZero() {
		return oidc.ErrInvalidRequest().WithDescription("this sign-in already produced its code")
	}
	r.codeIssued = time.Now()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	var clientID string
	if r, ok := req.(*authRequest); ok {
		clientID = r.clientID
	}
	id, exp := randomID(), time.Now().Add(accessTokenLife)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[id] = accessToken{subject: req.GetSubject(), clientID: clientID, scopes: req.GetScopes(), expires: exp}
	return id, exp, nil
}

// Refresh tokens are not offered (no refresh_token grant), so the library never calls these.
func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.tokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.tokens, id)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.tokens, tokenOrID)
	}
	return nil
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{id: s.keyID, key: s.key}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{signingKey{id: s.keyID, key: s.key}}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.clients[id]
	if !ok {
		return nil, fmt.Errorf("client %q: %w", id, errNotFound)
	}
	return c, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return errors.New("wrong client id or secret")
	}
	return nil
}

// setUserinfo fills the claims the scopes allow: sub always, email and email_verified for email,
// names for profile.
func (s *storage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	u, ok := s.users[subject]
	if !ok {
		return fmt.Errorf("user: %w", errNotFound)
	}
	info.Subject = u.subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			info.GivenName, info.FamilyName = u.GivenName, u.FamilyName
			info.Name = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
		}
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, userID, _ string, scopes []string) error {
	return s.setUserinfo(info, userID, scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || time.Now().After(t.expires) {
		return errors.New("access token unknown or expired")
	}
	return s.setUserinfo(info, subject, t.scopes)
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || t.clientID != clientID || time.Now().After(t.expires) {
		return errors.New("access token unknown or expired")
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, subject, t.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope, resp.ClientID, resp.Expiration = t.scopes, t.clientID, oidc.FromTime(t.expires)
	resp.Audience = []string{t.clientID}
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// No client authenticates with a key (private_key_jwt) and no JWT profile grant is offered.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, fmt.Errorf("client keys: %w", errNotFound)
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

func (s *storage) Health(context.Context) error { return nil }

// authRequest is one authorization request, from the relying party's redirect to the code's
// redemption. The storage hands out copies, so the library never reads one the sign-in page is
// changing.
type authRequest struct {
	id, clientID, redirectURI string
	state, nonce, loginHint   string
	created, codeIssued       time.Time
	scopes                    []string
	responseType              oidc.ResponseType
	responseMode              oidc.ResponseMode
	challenge                 *oidc.CodeChallenge

	// Set by a successful sign-in.
	subject  string
	authTime time.Time
	done     bool
}

func (r *authRequest) GetID() string         { return r.id }
func (r *authRequest) GetACR() string        { return "" }
func (r *authRequest) GetAudience() []string { return []string{r.clientID} }
func (r *authRequest) GetAuthTime() time.Time {
	return r.authTime
}
func (r *authRequest) GetClientID() string                   { return r.clientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.challenge }
func (r *authRequest) GetNonce() string                      { return r.nonce }
func (r *authRequest) GetRedirectURI() string                { return r.redirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType    { return r.responseType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode    { return r.responseMode }
func (r *authRequest) GetScopes() []string                   { return r.scopes }
func (r *authRequest) GetState() string                      { return r.state }
func (r *authRequest) GetSubject() string                    { return r.subject }
func (r *authRequest) Done() bool                            { return r.done }

func (r *authRequest) GetAMR() []string {
	if r.done {
		return []string{"pwd"}
	}
	return nil
}

// client is a Config client as the library sees it: a confidential web application using the
// code flow, authenticating with its secret.
type client struct {
	Client
	loginURL string
}

func (c *client) GetID() string                       { return c.ID }
func (c *client) RedirectURIs() []string              { return c.Client.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string {
	return c.loginURL + "?" + url.Values{"authRequestID": {id}}.Encode()
}
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return idTokenLife }
func (c *client) DevMode() bool                       { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *client) IsScopeAllowed(string) bool { return false }

// The ID token carries the email and profile claims itself, so a relying party needs no userinfo
// call to match the person.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
