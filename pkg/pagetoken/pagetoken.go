// Package pagetoken makes list page tokens opaque and tamper-evident: a token is the position of
// the next page plus a MAC, so a caller can neither read meaning into it nor forge one that
// moves a query somewhere it was not going.
package pagetoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
)

const macLen = 16

// ErrInvalid is returned for a token that was not issued by a Sealer with the same key and
// purpose (forged, truncated, or from another list).
var ErrInvalid = errors.New("page token is not valid")

// Sealer seals and opens page tokens with one key.
type Sealer struct{ key []byte }

// New returns a Sealer keyed by key (for example identity.Keyring.Derive("page-tokens")).
func New(key []byte) *Sealer { return &Sealer{key: key} }

// Seal returns a token for position v of the list named purpose.
func (s *Sealer) Seal(purpose string, v any) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(append(payload, s.mac(purpose, payload)...)), nil
}

// Open checks a token of the list named purpose and decodes its position into v.
func (s *Sealer) Open(purpose, token string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) <= macLen {
		return ErrInvalid
	}
	payload, mac := b[:len(b)-macLen], b[len(b)-macLen:]
	if !hmac.Equal(mac, s.mac(purpose, payload)) {
		return ErrInvalid
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return ErrInvalid
	}
	return nil
}

func (s *Sealer) mac(purpose string, payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(payload)
	return h.Sum(nil)[:macLen]
}
