package domain

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
)

// APIKey is a credential for scripts and integrations. Its secret is shown once, at creation;
// only its digest and prefix are kept.
type APIKey struct {
	ID     string
	Name   string
	Prefix string
	RoleID string
	// UserID is the user the key acts as, whose groups limit what it sees; empty for none.
	UserID   string
	Created  time.Time
	LastUsed time.Time // zero: never used
	Revoked  time.Time // zero: valid
}

// CheckNewAPIKey requires what a key needs.
func CheckNewAPIKey(k APIKey) error {
	if k.Name == "" {
		return apperr.Invalid("api_key.name", "is required")
	}
	if k.RoleID == "" {
		return apperr.Invalid("api_key.role_id", "is required")
	}
	return nil
}

// APIKeySecretPrefix starts every key, so that a leaked one is recognisable (secret scanners).
const APIKeySecretPrefix = "opk_"

// apiKeyPrefixLen is how much of a secret is kept in clear, to tell keys apart.
const apiKeyPrefixLen = 12

// NewAPIKeySecret returns a new key secret from 256 random bits.
func NewAPIKeySecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return APIKeySecret(b)
}

// APIKeySecret formats 256 random bits as a key secret. Existing keys have this format: it
// never changes.
func APIKeySecret(random [32]byte) string {
	return APIKeySecretPrefix + base64.RawURLEncoding.EncodeToString(random[:])
}

// APIKeyDigest is what is stored for a secret and looked up to authenticate it
// (identity.APIKeyDigest, which the gateway computes too).
func APIKeyDigest(secret string) []byte { return identity.APIKeyDigest(secret) }

// APIKeyPrefix is the part of a secret kept in clear.
func APIKeyPrefix(secret string) string { return secret[:min(apiKeyPrefixLen, len(secret))] }

// ErrBadCredential is all a caller learns about a refused key.
var ErrBadCredential = apperr.Unauthenticated("authentication required")

// KeyGrant is what authenticating a valid (unrevoked) key finds: its account, its role's
// levels, and the user it acts as, if any.
type KeyGrant struct {
	AccountID string
	APIKeyID  string
	Levels    Levels
	User      *KeyUser
	LastUsed  time.Time // zero: never used
}

// KeyUser is the user a key acts as.
type KeyUser struct {
	ID               string
	Active           bool
	AllOrganizations bool
	GroupIDs         []string
}

// KeyIdentity is the identity a key grants to its caller.
type KeyIdentity struct {
	AccountID   string
	APIKeyID    string
	UserID      string
	Permissions []string
	// RestrictedToGroups limits the caller to the organizations of GroupIDs.
	RestrictedToGroups bool
	GroupIDs           []string
}

// Identity decides what the key grants: nothing when it acts as an inactive user; else its
// role's permissions, limited to the user's groups when the user does not see every
// organization.
func (g KeyGrant) Identity() (KeyIdentity, error) {
	id := KeyIdentity{AccountID: g.AccountID, APIKeyID: g.APIKeyID, Permissions: g.Levels.Grants()}
	if g.User == nil {
		return id, nil
	}
	if !g.User.Active {
		return KeyIdentity{}, ErrBadCredential
	}
	id.UserID = g.User.ID
	if !g.User.AllOrganizations {
		id.RestrictedToGroups, id.GroupIDs = true, g.User.GroupIDs
	}
	return id, nil
}

// keyUseResolution is how precisely a key's last use is kept.
const keyUseResolution = time.Minute

// NeedsUseRecorded reports whether a use at now should be written: last use is kept to the
// minute, so a busy script does not turn every read into a write.
func (g KeyGrant) NeedsUseRecorded(now time.Time) bool {
	return g.LastUsed.IsZero() || now.Sub(g.LastUsed) > keyUseResolution
}
