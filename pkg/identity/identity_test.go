package identity_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orgplane/orgplane/pkg/identity"
)

func key(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(b), 32)))
}

func TestSignedIdentityRoundTrips(t *testing.T) {
	kr, err := identity.ParseKeyring("k1:" + key('a'))
	if err != nil {
		t.Fatal(err)
	}
	in := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-1", AccountID: "acc-1", Permissions: []string{"organizations:write"}}
	tok, err := kr.Sign(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kr.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if out.Kind != in.Kind || out.PrincipalID != in.PrincipalID || out.AccountID != in.AccountID || !out.Has("organizations:write") {
		t.Fatalf("got %+v, want %+v", out, in)
	}
}

func TestTokensThatMustBeRefused(t *testing.T) {
	now := time.Now()
	kr, _ := identity.ParseKeyring("k1:" + key('a'))
	other, _ := identity.ParseKeyring("k1:" + key('b'))
	id := identity.Identity{Kind: identity.KindUser, PrincipalID: "u1", AccountID: "a1"}
	good, _ := kr.Sign(id)
	foreign, _ := other.Sign(id)
	old, _ := kr.WithClock(func() time.Time { return now.Add(-time.Hour) }).Sign(id)
	parts := strings.Split(good, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forgedClaims := strings.Replace(string(claims), `"acc":"a1"`, `"acc":"a2"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forgedClaims)) + "." + parts[2]
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	for name, tok := range map[string]string{
		"other key": foreign, "expired": old, "tampered account": tampered, "alg none": unsigned, "garbage": "x.y.z", "empty": "",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := kr.Verify(tok); !errors.Is(err, identity.ErrUnauthenticated) {
				t.Fatalf("Verify = %v, want ErrUnauthenticated", err)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	old, _ := identity.ParseKeyring("k1:" + key('a'))
	rotated, err := identity.ParseKeyring("k2:" + key('b') + ",k1:" + key('a'))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := old.Sign(identity.Service("billing"))
	if _, err := rotated.Verify(tok); err != nil {
		t.Fatalf("a token signed with the previous key must verify during rotation: %v", err)
	}
	tok2, _ := rotated.Sign(identity.Service("billing"))
	if _, err := old.Verify(tok2); err == nil {
		t.Fatal("a keyring without k2 verified a k2 token")
	}
}

func TestParseKeyringRejectsWeakOrMalformedKeys(t *testing.T) {
	for _, spec := range []string{"", "nokid", "k1:" + base64.StdEncoding.EncodeToString([]byte("short")), "k1:!!!", "k1:" + key('a') + ",k1:" + key('b')} {
		if _, err := identity.ParseKeyring(spec); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", spec)
		}
	}
}

func TestSessionIDRoundTripsForUsersOnly(t *testing.T) {
	kr, _ := identity.ParseKeyring("k1:" + key('a'))
	in := identity.Identity{Kind: identity.KindUser, PrincipalID: "u1", AccountID: "a1", UserID: "u1", SessionID: "s1"}
	tok, err := kr.Sign(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kr.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if out.SessionID != "s1" || !out.SignedIn() {
		t.Fatalf("got %+v, want session s1 signed in", out)
	}
	parts := strings.Split(tok, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(claims), `"sid":"s1"`) {
		t.Fatalf("claims %s carry no sid", claims)
	}

	// A key acting as a user is not a signed-in person, and no token puts a session on one.
	key := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k1", AccountID: "a1", UserID: "u1", SessionID: "s1"}
	if _, err := kr.Sign(key); err == nil {
		t.Fatal("signed a session for an API key")
	}
	key.SessionID = ""
	if key.SignedIn() {
		t.Fatal("an API key counts as signed in")
	}
	if (identity.Identity{Kind: identity.KindUser, PrincipalID: "u1", AccountID: "a1"}).SignedIn() {
		t.Fatal("a user without a session counts as signed in")
	}
}

// A token that puts a session on another kind of caller was not made by a keyring: refused even
// when the signature is good.
func TestATokenWithASessionForANonUserIsRefused(t *testing.T) {
	raw := []byte(strings.Repeat("a", 32))
	kr, _ := identity.ParseKeyring("k1:" + key('a'))
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "orgplane", "aud": []string{identity.UnnamedAudience}, "sub": "k1", "iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(), "knd": "api_key", "acc": "a1", "sid": "s1",
	})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Verify(signed); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("Verify = %v, want ErrUnauthenticated", err)
	}
	// The same token for a user verifies, so the refusal above is the session's doing.
	tok.Claims.(jwt.MapClaims)["knd"] = "user"
	signed, _ = tok.SignedString(raw)
	if id, err := kr.Verify(signed); err != nil || id.SessionID != "s1" {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
}
