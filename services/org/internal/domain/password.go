package domain

import (
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"golang.org/x/text/unicode/norm"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Password policy (NIST SP 800-63B): long enough, not one everyone tries first, not the
// person's own email or name. No composition rules: they push people to predictable patterns.
const (
	MinPasswordRunes = 12
	// MaxPasswordBytes bounds the work a request can ask of the hash; the API refuses longer.
	MaxPasswordBytes = 1024
)

//go:embed commonpasswords/passwords.txt
var commonPasswordsText string

// commonPasswords is the shipped list (commonpasswords/README.md says where it comes from), as
// a set of lower-cased entries.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	lines := strings.Split(strings.TrimSpace(commonPasswordsText), "\n")
	set := make(map[string]struct{}, len(lines))
	for _, l := range lines {
		set[strings.ToLower(strings.TrimSpace(l))] = struct{}{}
	}
	return set
})

// CommonPasswordCount is how many entries the shipped list holds.
func CommonPasswordCount() int { return len(commonPasswords()) }

// PasswordOwner is what a password may not be: the person's own email and name.
type PasswordOwner struct {
	Email     string
	FirstName string
	LastName  string
}

// CheckPassword applies the password policy to pw, a new password for owner; field is the
// request field as the client spells it ("password", "new_password").
func CheckPassword(field, pw string, owner PasswordOwner) error {
	if len(pw) > MaxPasswordBytes {
		return apperr.Invalidf(field, "must be at most %d bytes", MaxPasswordBytes)
	}
	if !utf8.ValidString(pw) {
		return apperr.Invalid(field, "must be valid UTF-8 text")
	}
	if utf8.RuneCountInString(pw) < MinPasswordRunes {
		return apperr.Invalidf(field, "must be at least %d characters", MinPasswordRunes)
	}
	folded := foldForComparison(pw)
	if _, common := commonPasswords()[folded]; common {
		return apperr.Invalid(field, "is one of the most common passwords, which attackers try first; choose another")
	}
	for _, own := range ownWords(owner) {
		if own != "" && folded == own {
			return apperr.Invalid(field, "must not be your email address or your name")
		}
	}
	return nil
}

// foldForComparison lower-cases s and drops its white space, so "Ada Lovelace" and
// "adalovelace" are the same name and "PASSWORD1234" is a listed password.
func foldForComparison(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFC.String(s))), "")
}

// ownWords are the spellings of the owner's identity a password must not equal.
func ownWords(o PasswordOwner) []string {
	email := NormalizeEmail(o.Email)
	local, _, _ := strings.Cut(email, "@")
	first, last := foldForComparison(o.FirstName), foldForComparison(o.LastName)
	return []string{email, local, first, last, first + last, last + first}
}

// passwordParams are OWASP's minimum for argon2id (m=19 MiB, t=2, p=1), with a 128-bit salt and
// a 256-bit hash. The PHC string records them, so raising them later leaves old hashes valid.
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// passwordBytes is what is hashed: the password in Unicode NFC, so the same characters typed on
// different systems (composed or decomposed accents) are the same password.
func passwordBytes(pw string) string { return norm.NFC.String(pw) }

// HashPassword returns the argon2id PHC string stored for pw.
func HashPassword(pw string) (string, error) {
	return argon2id.CreateHash(passwordBytes(pw), passwordParams)
}

// dummyHash is what an attempt with no stored hash (an unknown email, a user without a
// password) is checked against, so it takes as long as a real check.
var dummyHash = sync.OnceValue(func() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	h, err := argon2id.CreateHash(base64.RawURLEncoding.EncodeToString(b[:]), passwordParams)
	if err != nil {
		panic("argon2id: " + err.Error())
	}
	return h
})

// PasswordMatches reports whether pw is the password hash was made from. An empty hash (no
// password set) is checked against a dummy hash and never matches, taking the same time.
func PasswordMatches(pw, hash string) (bool, error) {
	if hash == "" {
		_, err := argon2id.ComparePasswordAndHash(passwordBytes(pw), dummyHash())
		return false, err
	}
	return argon2id.ComparePasswordAndHash(passwordBytes(pw), hash)
}

// NormalizeEmail is an email as sign-in compares it: trimmed, lower-cased, in Unicode NFC.
func NormalizeEmail(email string) string {
	return norm.NFC.String(strings.ToLower(strings.TrimSpace(email)))
}

// EmailDigest is what an email is looked up by (user_email_digests): SHA-256 of its normalized
// form. Stored digests depend on it: it never changes.
func EmailDigest(email string) []byte {
	d := sha256.Sum256([]byte(NormalizeEmail(email)))
	return d[:]
}
