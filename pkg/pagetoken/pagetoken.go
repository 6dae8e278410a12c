// Package pagetoken makes list page tokens opaque, sealed and bound. A token is the position of
// the next page and an expiry, encrypted and authenticated with XChaCha20-Poly1305 under a
// server-side key; the list, the caller (account, principal, visibility) and the exact query are
// the AEAD's associated data, so a token opens only for the same caller asking the same list the
// same question before it expires. A caller can neither read it (no name or id in clear) nor
// forge, alter or replay it elsewhere: anything else fails authentication and nothing is read.
package pagetoken

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/orgplane/orgplane/pkg/identity"
)

// TTL is how long a token opens after it is issued: a working day of paging through a list, and
// short enough that a token copied into a log or a browser history soon means nothing.
const TTL = 24 * time.Hour

// MinKeyBytes is the key size below which New refuses a key.
const MinKeyBytes = 32

const (
	// version leads every token and is authenticated with it, so a later format can never be
	// read as this one.
	version = 1
	// padTo rounds the sealed position up, so a token's length does not give away the length of
	// the last item's name.
	padTo = 32
	// maxTokenLen bounds what Open decodes; the API's own limits are lower.
	maxTokenLen = 4096
)

var (
	errInvalid = errors.New("page token is not valid")
	errExpired = errors.New("page token has expired")
)

// Sealer seals and opens page tokens. The first key seals; every key opens, so the keys rotate
// with the identity keyring they are derived from.
type Sealer struct {
	aeads []cipher.AEAD
	now   func() time.Time
}

// New returns a Sealer that seals with keys[0] and opens with any of keys. Each key must hold at
// least MinKeyBytes of secret (Keyring.Derive gives 32); fewer is a programming error and panics.
func New(keys ...[]byte) *Sealer {
	if len(keys) == 0 {
		panic("pagetoken: no key")
	}
	s := &Sealer{now: time.Now}
	for i, k := range keys {
		if len(k) < MinKeyBytes {
			panic(fmt.Sprintf("pagetoken: key %d has %d bytes, need %d", i, len(k), MinKeyBytes))
		}
		// A key of its own for this cipher, whatever else the given key is used for.
		m := hmac.New(sha256.New, k)
		m.Write([]byte("orgplane page token xchacha20poly1305"))
		aead, err := chacha20poly1305.NewX(m.Sum(nil))
		if err != nil {
			panic("pagetoken: " + err.Error()) // only in FIPS-only mode, which the suite does not run in
		}
		s.aeads = append(s.aeads, aead)
	}
	return s
}

// FromKeyring returns a Sealer whose keys are derived for purpose from every key of kr: the
// signing key's derivation seals, and tokens sealed before a rotation open until the old key
// leaves the ring.
func FromKeyring(kr *identity.Keyring, purpose string) *Sealer {
	return New(kr.DeriveAll(purpose)...)
}

// WithClock returns a copy of s that reads time from now (nil keeps s's); tests age tokens
// with it.
func (s *Sealer) WithClock(now func() time.Time) *Sealer {
	c := *s
	if now != nil {
		c.now = now
	}
	return &c
}

// sealed is a token's plaintext.
type sealed[C any] struct {
	After   C     `json:"a"`
	Expires int64 `json:"x"`
}

// seal returns a token for position after, bound to binding.
func seal[C any](s *Sealer, binding []byte, after C) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" as one byte, not six: tokens stay within the API's length limits
	if err := enc.Encode(sealed[C]{After: after, Expires: s.now().Add(TTL).Unix()}); err != nil {
		return "", err
	}
	// JSON ignores trailing white space, so spaces pad it.
	plain := buf.Bytes()
	plain = append(plain, bytes.Repeat([]byte{' '}, (padTo-len(plain)%padTo)%padTo)...)
	aead := s.aeads[0]
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return "", err
	}
	out = aead.Seal(out, out[1:], plain, additional(binding))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open returns the position in token if one of s's keys sealed it for binding and it has not
// expired.
func open[C any](s *Sealer, binding []byte, token string) (C, error) {
	var zero C
	if len(token) > maxTokenLen {
		return zero, errInvalid
	}
	// Strict: a token spelt differently (other trailing bits) is another token, and refused.
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) < 1+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead || b[0] != version {
		return zero, errInvalid
	}
	nonce, box := b[1:1+chacha20poly1305.NonceSizeX], b[1+chacha20poly1305.NonceSizeX:]
	ad := additional(binding)
	for _, aead := range s.aeads {
		plain, err := aead.Open(nil, nonce, box, ad)
		if err != nil {
			continue
		}
		var t sealed[C]
		if err := json.Unmarshal(plain, &t); err != nil {
			return zero, errInvalid
		}
		if !s.now().Before(time.Unix(t.Expires, 0)) {
			return zero, errExpired
		}
		return t.After, nil
	}
	return zero, errInvalid
}

// additional is the associated data of a token: its format version and its binding.
func additional(binding []byte) []byte {
	return append([]byte{version}, binding...)
}
