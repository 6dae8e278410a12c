package domain_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

var ada = domain.PasswordOwner{Email: "Ada.Lovelace@Example.com", FirstName: "Ada", LastName: "Lovelace"}

func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, pw string
		reason   string // part of the message; "" for accepted
	}{
		{"long and unusual", "correct horse battery staple", ""},
		{"twelve characters", "x7#Lq9!mZ2@v", ""},
		// Runes, not bytes: twelve accented letters are twelve characters (24 bytes).
		{"twelve runes", strings.Repeat("é", 6) + "ñøßüæå", ""},
		{"eleven characters", "x7#Lq9!mZ2@", "at least 12 characters"},
		{"eleven runes in 22 bytes", strings.Repeat("é", 11), "at least 12 characters"},
		{"too many bytes", strings.Repeat("a", domain.MaxPasswordBytes+1), "at most 1024 bytes"},
		{"common", "qazwsxedcrfv", "most common passwords"},
		{"common in capitals", "QAZWSXEDCRFV", "most common passwords"},
		{"common with spaces", "leave me alone", "most common passwords"},
		{"own email", "ada.lovelace@example.com", "email address or your name"},
		{"own email in capitals", "ADA.LOVELACE@EXAMPLE.COM", "email address or your name"},
		{"own email's local part", "Ada.Lovelace", "email address or your name"},
		{"own full name", "Ada Lovelace", "email address or your name"},
		{"own name reversed", "LovelaceAda ", "email address or your name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := domain.CheckPassword("new_password", tc.pw, ada)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			ae, ok := apperr.As(err)
			if !ok || ae.Kind != apperr.KindInvalid || ae.Field != "new_password" || !strings.Contains(ae.Message, tc.reason) {
				t.Fatalf("got %v, want InvalidArgument on new_password saying %q", err, tc.reason)
			}
		})
	}
}

func TestOwnEmailLocalPartIsRefusedWhenLongEnough(t *testing.T) {
	t.Parallel()
	owner := domain.PasswordOwner{Email: "grace.hopper.navy@example.com", FirstName: "Grace", LastName: "Hopper"}
	if err := domain.CheckPassword("password", "Grace.Hopper.Navy", owner); err == nil || !strings.Contains(err.Error(), "your name") {
		t.Fatalf("the email's local part was accepted: %v", err)
	}
	if err := domain.CheckPassword("password", "GraceHopper", owner); err == nil {
		t.Fatal("an 11-character name was accepted")
	}
}

// The list is the shipped one, whole: at least 10,000 entries, the first ones the famous ones.
func TestCommonPasswordList(t *testing.T) {
	t.Parallel()
	if n := domain.CommonPasswordCount(); n != 49233 {
		t.Fatalf("the list has %d entries; commonpasswords/README.md says 49,233", n)
	}
	// Long entries of the list are refused as they are.
	for _, pw := range []string{"1qaz2wsx3edc4rfv", "123456789987654321", "Administrator", "unbelievable"} {
		if err := domain.CheckPassword("password", pw, domain.PasswordOwner{}); err == nil || !strings.Contains(err.Error(), "common") {
			t.Errorf("%q accepted: %v", pw, err)
		}
	}
}

func TestPasswordHashing(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery staple"
	h, err := domain.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	// OWASP's minimum argon2id parameters, recorded in the PHC string; the password is not in it.
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, pw) {
		t.Fatalf("hash %q", h)
	}
	h2, _ := domain.HashPassword(pw)
	if h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{pw, true}, {"correct horse battery stapl", false}, {"Correct horse battery staple", false}} {
		if ok, err := domain.PasswordMatches(tc.pw, h); err != nil || ok != tc.want {
			t.Errorf("PasswordMatches(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	// The same characters composed or decomposed are the same password.
	composed, decomposed := "café crème brûlée", "cafe\u0301 cre\u0300me bru\u0302le\u0301e"
	hc, _ := domain.HashPassword(composed)
	if ok, _ := domain.PasswordMatches(decomposed, hc); !ok {
		t.Error("a decomposed spelling does not match its composed password")
	}
	// No hash (unknown email, no password yet) never matches, whatever is typed.
	if ok, err := domain.PasswordMatches("", ""); ok || err != nil {
		t.Errorf("empty hash: %v %v", ok, err)
	}
}

// Stored email digests depend on this: it never changes.
func TestEmailDigestNeverChanges(t *testing.T) {
	t.Parallel()
	want := sha256.Sum256([]byte("ada.lovelace@example.com"))
	for _, e := range []string{"ada.lovelace@example.com", " Ada.Lovelace@EXAMPLE.com\t"} {
		if got := domain.EmailDigest(e); hex.EncodeToString(got) != hex.EncodeToString(want[:]) {
			t.Errorf("EmailDigest(%q) = %x", e, got)
		}
	}
	if hex.EncodeToString(domain.EmailDigest("jose\u0301@example.com")) != hex.EncodeToString(domain.EmailDigest("JOSÉ@example.com")) {
		t.Error("NFC: a decomposed and a composed spelling of one address differ")
	}
}
