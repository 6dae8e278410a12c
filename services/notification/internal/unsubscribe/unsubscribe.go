// Package unsubscribe signs and checks the tokens of the "turn this off" link every email to a
// user carries. The token is the only credential the link has: it names one account, one user
// and one kind, and an HMAC-SHA256 under a key derived from the identity keyring proves the
// service issued it. It does not expire: an old email's link keeps working, and all it can ever
// do is turn that one kind of email off for that one user.
package unsubscribe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
)

// Purpose is the keyring derivation the tokens are signed under.
const Purpose = "notification unsubscribe tokens"

// version leads every token and is signed with it, so a later format is never read as this one.
const version = 1

// body: version, account (16), user (16), kind (2), issued unix seconds (8); then the MAC.
const (
	bodyLen  = 1 + 16 + 16 + 2 + 8
	tokenLen = bodyLen + sha256.Size
)

var errInvalid = errors.New("unsubscribe token is not valid")

// Signer issues and checks tokens.
type Signer struct {
	keys [][]byte
}

// New returns a Signer that signs with keys[0] and accepts any of keys.
func New(keys ...[]byte) *Signer {
	if len(keys) == 0 {
		panic("unsubscribe: no key")
	}
	return &Signer{keys: keys}
}

// FromKeyring derives the keys from every key of kr: tokens issued before a rotation keep working
// while the old key stays in the ring.
func FromKeyring(kr *identity.Keyring) *Signer { return New(kr.DeriveAll(Purpose)...) }

// Claims are what a token says.
type Claims struct {
	AccountID string
	UserID    string
	Kind      domain.Kind
	Issued    time.Time
}

// Sign returns the token for c.
func (s *Signer) Sign(c Claims) (string, error) {
	acc, err := uuid.Parse(c.AccountID)
	if err != nil {
		return "", err
	}
	usr, err := uuid.Parse(c.UserID)
	if err != nil {
		return "", err
	}
	b := make([]byte, 0, tokenLen)
	b = append(b, version)
	b = append(b, acc[:]...)
	b = append(b, usr[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(c.Kind))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Issued.Unix()))
	b = append(b, mac(s.keys[0], b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Open checks token and returns its claims; a token that any key of the ring signed is accepted.
func (s *Signer) Open(token string) (Claims, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != tokenLen || b[0] != version {
		return Claims{}, errInvalid
	}
	body, sum := b[:bodyLen], b[bodyLen:]
	ok := false
	for _, k := range s.keys {
		if hmac.Equal(sum, mac(k, body)) {
			ok = true
			break
		}
	}
	if !ok {
		return Claims{}, errInvalid
	}
	acc, _ := uuid.FromBytes(body[1:17])
	usr, _ := uuid.FromBytes(body[17:33])
	c := Claims{AccountID: acc.String(), UserID: usr.String(), Kind: domain.Kind(binary.BigEndian.Uint16(body[33:35])),
		Issued: time.Unix(int64(binary.BigEndian.Uint64(body[35:43])), 0)}
	if !c.Kind.Valid() {
		return Claims{}, errInvalid
	}
	return c, nil
}

func mac(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("orgplane unsubscribe v1\x00"))
	m.Write(body)
	return m.Sum(nil)
}
