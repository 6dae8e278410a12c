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
	UserID string
	// OwnerID is the user whose current role and scope bound the key at every use (see Owner);
	// empty for a key bound by nothing but its role.
	OwnerID  string
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

// Grant is what the key would hold with its role's levels: the scope of the user it acts as
// (user, nil when it acts as none), else every organization.
func (k APIKey) Grant(roleLevels Levels, user *User) Grant {
	if user != nil {
		return user.Grant(roleLevels)
	}
	return Grant{Levels: roleLevels, AllOrganizations: true}
}

// Owner is the user whose current rights bound the key at every use: OwnerID, the person behind
// its creation (see CreatorBehind), which the app sets from the creating credential. A key
// made by a platform operator, who is bound by nothing and is no user, has none, and is bound
// by the user it acts as: so the first administrator's key, made with the account, is bound by
// that administrator. A key with neither is bound by nothing but its role.
func (k APIKey) Owner() string {
	if k.OwnerID != "" {
		return k.OwnerID
	}
	return k.UserID
}

// CreatorBehind is the person behind a key that creates another, whose rights will bound the
// new one: the user the key acts as, who is the one using it (a key an administrator made for
// an engineer is the engineer's), else for a key acting as no one (a script's) its owner, so
// that a script rotating its own key (creating a new one, revoking the old) keeps the same
// bound and the new key does not die with the old.
func CreatorBehind(keyUserID, keyOwnerID string) string {
	if keyUserID != "" {
		return keyUserID
	}
	return keyOwnerID
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
// levels, the user it acts as and the user who bounds it (its owner), if any, as they are now.
type KeyGrant struct {
	AccountID string
	APIKeyID  string
	Levels    Levels
	User      *KeyUser
	Owner     *KeyUser
	LastUsed  time.Time // zero: never used
}

// KeyUser is a user a key acts as or is owned by, with its role's levels and its scope now.
type KeyUser struct {
	ID               string
	Active           bool
	Levels           Levels
	AllOrganizations bool
	GroupIDs         []string
}

func (u KeyUser) grant() Grant {
	return User{AllOrganizations: u.AllOrganizations, GroupIDs: u.GroupIDs}.Grant(u.Levels)
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

// Identity decides what the key grants, now: nothing when the user it acts as or its owner is
// inactive; else its role's permissions, narrowed to what the user it acts as and its owner
// each hold now (their roles' levels and their scopes; a key acting as no one with no owner
// sees every organization). Narrowing or deactivating either narrows or stops the key at its
// next use: a key is never more than the people it stands for.
func (g KeyGrant) Identity() (KeyIdentity, error) {
	grant := Grant{Levels: g.Levels, AllOrganizations: true}
	for _, u := range []*KeyUser{g.User, g.Owner} {
		if u == nil {
			continue
		}
		if !u.Active {
			return KeyIdentity{}, ErrBadCredential
		}
		grant = grant.Intersect(u.grant())
	}
	id := KeyIdentity{AccountID: g.AccountID, APIKeyID: g.APIKeyID, Permissions: grant.Levels.Grants()}
	if g.User != nil {
		id.UserID = g.User.ID
	}
	if !grant.AllOrganizations {
		id.RestrictedToGroups, id.GroupIDs = true, grant.Groups
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
