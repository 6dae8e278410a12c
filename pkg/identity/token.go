package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	issuer = "orgplane"
	// UnnamedAudience is the audience of tokens signed by clients that name no service, accepted
	// only by servers that name none (tests, tools). Servers run by the platform verify their own
	// name, so they refuse it like any other service's token.
	UnnamedAudience = "orgplane-services"
	// DefaultTTL is short because a token only has to outlive one call chain; nothing stores it.
	DefaultTTL = 2 * time.Minute
	// MinKeyBytes is the HMAC key size below which a keyring is refused.
	MinKeyBytes = 32
)

// Keyring holds the HMAC keys that sign and verify identity tokens. The first key signs; all keys
// verify, so a key can be rotated by prepending a new one and removing the old after a TTL.
type Keyring struct {
	signID string
	keys   map[string][]byte
	ttl    time.Duration
	now    func() time.Time
}

// ParseKeyring reads "kid:base64key[,kid:base64key...]" (the ORGPLANE_IDENTITY_KEYS format).
func ParseKeyring(spec string) (*Keyring, error) {
	kr := &Keyring{keys: map[string][]byte{}, ttl: DefaultTTL, now: time.Now}
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		kid, b64, ok := strings.Cut(part, ":")
		if !ok || kid == "" {
			return nil, fmt.Errorf("identity key %d: want kid:base64key", i+1)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			key, err = base64.RawURLEncoding.DecodeString(b64)
		}
		if err != nil {
			return nil, fmt.Errorf("identity key %q: not base64", kid)
		}
		if len(key) < MinKeyBytes {
			return nil, fmt.Errorf("identity key %q: %d bytes, need at least %d", kid, len(key), MinKeyBytes)
		}
		if _, dup := kr.keys[kid]; dup {
			return nil, fmt.Errorf("identity key %q: listed twice", kid)
		}
		kr.keys[kid] = key
		if i == 0 {
			kr.signID = kid
		}
	}
	return kr, nil
}

// WithClock returns a copy of kr that reads time from now; tests use it to age tokens.
func (kr *Keyring) WithClock(now func() time.Time) *Keyring {
	c := *kr
	c.now = now
	return &c
}

type claims struct {
	jwt.RegisteredClaims
	Kind        Kind     `json:"knd"`
	AccountID   string   `json:"acc,omitempty"`
	Permissions []string `json:"prm,omitempty"`
	UserID      string   `json:"usr,omitempty"`
	Restricted  bool     `json:"rst,omitempty"`
	Groups      []string `json:"grp,omitempty"`
	SessionID   string   `json:"sid,omitempty"`
}

// Sign returns a token asserting id for the keyring's TTL, for UnnamedAudience.
func (kr *Keyring) Sign(id Identity) (string, error) { return kr.SignFor(id, UnnamedAudience) }

// SignFor returns a token asserting id to one service only: audience is the name of the service
// being called, so the token cannot be replayed to another service.
func (kr *Keyring) SignFor(id Identity, audience string) (string, error) {
	if id.Kind == "" || id.PrincipalID == "" {
		return "", errors.New("identity: kind and principal are required")
	}
	if id.SessionID != "" && id.Kind != KindUser {
		return "", errors.New("identity: only a user signs in with a session")
	}
	if audience == "" {
		return "", errors.New("identity: a token needs an audience (the service it is for)")
	}
	now := kr.now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Audience:  jwt.ClaimStrings{audience},
			Subject:   id.PrincipalID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(kr.ttl)),
		},
		Kind:        id.Kind,
		AccountID:   id.AccountID,
		Permissions: id.Permissions,
		UserID:      id.UserID,
		Restricted:  id.RestrictedToGroups,
		Groups:      id.Groups,
		SessionID:   id.SessionID,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = kr.signID
	return t.SignedString(kr.keys[kr.signID])
}

// Verify is VerifyFor(token, UnnamedAudience).
func (kr *Keyring) Verify(token string) (Identity, error) {
	return kr.VerifyFor(token, UnnamedAudience)
}

// VerifyFor checks a token's signature, issuer, expiry and that audience, the verifying service's
// own name, is its one audience, and returns the identity.
func (kr *Keyring) VerifyFor(token, audience string) (Identity, error) {
	if audience == "" {
		return Identity{}, ErrUnauthenticated.Wrap(errors.New("no audience to verify"))
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := kr.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return key, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(kr.now),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		return Identity{}, ErrUnauthenticated.Wrap(err)
	}
	// A token for several services would be valid at each of them; this keyring never signs one.
	if len(c.Audience) != 1 {
		return Identity{}, ErrUnauthenticated.Wrap(fmt.Errorf("token has %d audiences, want 1", len(c.Audience)))
	}
	switch c.Kind {
	case KindOperator, KindUser, KindAPIKey, KindService:
	default:
		return Identity{}, ErrUnauthenticated.Wrap(fmt.Errorf("unknown principal kind %q", c.Kind))
	}
	if c.Subject == "" {
		return Identity{}, ErrUnauthenticated.Wrap(errors.New("token has no subject"))
	}
	// SignFor never puts a session on another kind; a token that has one was not made here.
	if c.SessionID != "" && c.Kind != KindUser {
		return Identity{}, ErrUnauthenticated.Wrap(fmt.Errorf("a %s token carries a session", c.Kind))
	}
	return Identity{
		Kind: c.Kind, PrincipalID: c.Subject, AccountID: c.AccountID, Permissions: c.Permissions,
		UserID: c.UserID, RestrictedToGroups: c.Restricted, Groups: c.Groups, SessionID: c.SessionID,
	}, nil
}

// Derive returns a key for another purpose (page tokens, say) from the signing key, so that
// one configured secret serves several uses without one use's output ever validating in another.
func (kr *Keyring) Derive(purpose string) []byte {
	h := hmac.New(sha256.New, kr.keys[kr.signID])
	h.Write([]byte("orgplane derive\x00" + purpose))
	return h.Sum(nil)
}
