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

func TestATokenIsValidAtTheServiceItWasSignedForOnly(t *testing.T) {
	t.Parallel()
	kr, err := identity.ParseKeyring("k1:" + key('a'))
	if err != nil {
		t.Fatal(err)
	}
	id := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-1", AccountID: "acc-1"}
	services := []string{"org", "mapping", "integration-sync", "notification", "billing", identity.UnnamedAudience}
	for _, signedFor := range services {
		tok, err := kr.SignFor(id, signedFor)
		if err != nil {
			t.Fatal(err)
		}
		for _, verifier := range services {
			_, err := kr.VerifyFor(tok, verifier)
			if signedFor == verifier && err != nil {
				t.Errorf("%s refused its own token: %v", verifier, err)
			}
			if signedFor != verifier && !errors.Is(err, identity.ErrUnauthenticated) {
				t.Errorf("%s accepted a token for %s: %v", verifier, signedFor, err)
			}
		}
	}
	if _, err := kr.SignFor(id, ""); err == nil {
		t.Error("signed a token with no audience")
	}
	tok, _ := kr.SignFor(id, "org")
	if _, err := kr.VerifyFor(tok, ""); err == nil {
		t.Error("verified a token for no audience")
	}
	// Sign and Verify keep their meaning: the unnamed audience only.
	if _, err := kr.Verify(tok); err == nil {
		t.Error("Verify accepted a token for org")
	}
}

// A token naming several services would pass at each; a key holder could mint one, this keyring
// never does, so none is accepted.
func TestATokenForSeveralServicesIsRefused(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("a", 32)
	kr, _ := identity.ParseKeyring("k1:" + base64.StdEncoding.EncodeToString([]byte(secret)))
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "orgplane", "aud": []string{"org", "billing"}, "sub": "op", "knd": "operator",
		"iat": jwt.NewNumericDate(time.Now()), "exp": jwt.NewNumericDate(time.Now().Add(time.Minute)),
	})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, aud := range []string{"org", "billing"} {
		if _, err := kr.VerifyFor(s, aud); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("%s accepted a token for org and billing: %v", aud, err)
		}
	}
	// The same token for one audience passes: what is refused is the second audience.
	tok.Claims.(jwt.MapClaims)["aud"] = []string{"org"}
	s, _ = tok.SignedString([]byte(secret))
	if _, err := kr.VerifyFor(s, "org"); err != nil {
		t.Fatalf("control: a hand-made token for org alone: %v", err)
	}
}
