// Package secrets encrypts credentials at rest (integration credentials, TOTP secrets, SSO client
// secrets) with AES-256-GCM under a keyring read from the environment. The keyring is rotatable:
// several keys may be configured, the newest seals, any of them opens, so values sealed under a
// retired key keep working until the owning service's rotate command has resealed them.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// EnvKeys names the environment variable the keyring is read from. Errors name it so an operator
// knows what to fix without the error ever quoting key material.
const EnvKeys = "ORGPLANE_CREDENTIAL_KEYS"

// KeySize is the length of every key: AES-256.
const KeySize = 32

// format is the first byte of every sealed value, so a later format can be told apart.
const format byte = 1

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Errors Open returns; neither says anything about the key or the plaintext.
var (
	// ErrUnknownKey: the value was sealed under a key id the keyring does not hold (a key was
	// removed before its credentials were resealed).
	ErrUnknownKey = errors.New("secrets: sealed under a key the keyring does not hold")
	// ErrMalformed: the value is not something Seal produced.
	ErrMalformed = errors.New("secrets: malformed sealed value")
	// ErrDecrypt: authentication failed (tampered value, or sealed for another row or field).
	ErrDecrypt = errors.New("secrets: sealed value does not authenticate")
)

// Keyring holds the credential keys. It is safe for concurrent use.
type Keyring struct {
	ids    []string // in configuration order; the last is the newest
	aeads  map[string]cipher.AEAD
	newest string
}

// ParseKeyring reads a keyring spec: "id:base64key[,id:base64key...]" with 32-byte keys in
// standard base64; the last entry is the newest and seals.
func ParseKeyring(spec string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("%s is empty: want id:base64(32 bytes)[,id:base64...]", EnvKeys)
	}
	kr := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(spec, ",") {
		pos := i + 1
		id, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok {
			// The entry is not quoted: a missing separator may mean it is a bare key.
			return nil, fmt.Errorf("%s entry %d: want id:base64key", EnvKeys, pos)
		}
		if !idPattern.MatchString(id) {
			return nil, fmt.Errorf("%s entry %d: key id must be 1 to 64 of A-Z a-z 0-9 . _ -", EnvKeys, pos)
		}
		if _, dup := kr.aeads[id]; dup {
			return nil, fmt.Errorf("%s entry %d: key id %q is used twice", EnvKeys, pos, id)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d (key %q): key is not valid standard base64", EnvKeys, pos, id)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("%s entry %d (key %q): key is %d bytes, want %d", EnvKeys, pos, id, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		clear(key)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d (key %q): %w", EnvKeys, pos, id, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d (key %q): %w", EnvKeys, pos, id, err)
		}
		kr.ids = append(kr.ids, id)
		kr.aeads[id] = aead
		kr.newest = id
	}
	return kr, nil
}

// GenerateSpec returns a one-key spec with a fresh random key, for development and tests.
func GenerateSpec(id string) string {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key) // never fails (crypto/rand panics instead)
	return id + ":" + base64.StdEncoding.EncodeToString(key)
}

// Newest is the id of the key Seal uses.
func (k *Keyring) Newest() string { return k.newest }

// IDs are the key ids, oldest first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.ids...) }

// Seal encrypts plaintext under the newest key with a random nonce. aad binds the result to where
// it is stored (see AAD): the same bytes copied to another row or field do not open.
//
// Layout: format(1) | len(id)(1) | id | nonce(12) | ciphertext | tag(16); the header is
// authenticated with aad.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := k.aeads[k.newest]
	hdr := header(k.newest)
	out := make([]byte, len(hdr), len(hdr)+aead.NonceSize()+len(plaintext)+aead.Overhead())
	copy(out, hdr)
	return aead.Seal(out, nil, plaintext, authData(hdr, aad)), nil
}

// Open decrypts a value Seal produced under any key of the keyring, with the same aad.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	id, body, err := split(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w (key %q)", ErrUnknownKey, id)
	}
	hdr := sealed[:len(sealed)-len(body)]
	pt, err := aead.Open(nil, nil, body, authData(hdr, aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Reseal opens sealed and seals it again under the newest key (the rotate command's step).
func (k *Keyring) Reseal(sealed, aad []byte) ([]byte, error) {
	pt, err := k.Open(sealed, aad)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return k.Seal(pt, aad)
}

// KeyID is the id of the key sealed was sealed under, "" when it is malformed.
func KeyID(sealed []byte) string {
	id, _, err := split(sealed)
	if err != nil {
		return ""
	}
	return id
}

// KeyID is the id of the key sealed was sealed under, "" when it is malformed.
func (k *Keyring) KeyID(sealed []byte) string { return KeyID(sealed) }

// NeedsReseal reports whether sealed is under a key other than the newest.
func (k *Keyring) NeedsReseal(sealed []byte) bool { return KeyID(sealed) != k.newest }

// AAD builds associated data from the parts that locate a value (account id, integration id,
// field name). Each part is length-prefixed so that ("ab","c") and ("a","bc") differ.
func AAD(parts ...string) []byte {
	var out []byte
	for _, p := range parts {
		out = binary.AppendUvarint(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}

// String names the keys and never prints key material.
func (k Keyring) String() string {
	return fmt.Sprintf("secrets.Keyring{keys: %v, newest: %s}", k.ids, k.newest)
}

// GoString keeps %#v from printing the ciphers.
func (k Keyring) GoString() string { return k.String() }

// LogValue keeps slog from printing the ciphers.
func (k Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("keys", k.ids), slog.String("newest", k.newest))
}

// Format makes every verb (%v, %+v, %s, %x, ...) print the same safe text.
func (k Keyring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

func header(id string) []byte {
	return append([]byte{format, byte(len(id))}, id...)
}

func authData(hdr, aad []byte) []byte {
	return append(append(make([]byte, 0, len(hdr)+len(aad)), hdr...), aad...)
}

// split returns the key id and the nonce|ciphertext|tag part of sealed.
func split(sealed []byte) (id string, body []byte, err error) {
	const minBody = 12 + 16
	if len(sealed) < 2 || sealed[0] != format {
		return "", nil, ErrMalformed
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n+minBody {
		return "", nil, ErrMalformed
	}
	id = string(sealed[2 : 2+n])
	if !idPattern.MatchString(id) {
		return "", nil, ErrMalformed
	}
	return id, sealed[2+n:], nil
}
