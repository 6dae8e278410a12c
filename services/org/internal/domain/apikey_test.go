package domain_test

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Stored digests and keys handed out depend on these: a change here locks every MSP out.
func TestAPIKeySecretAndDigestNeverChange(t *testing.T) {
	t.Parallel()
	var random [32]byte
	for i := range random {
		random[i] = byte(i)
	}
	secret := domain.APIKeySecret(random)
	if secret != "opk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" {
		t.Fatalf("secret format = %q", secret)
	}
	const digest = "7b12804481e5078c75488ae45e7d8c6dffd0fc898d2150821eb93cc7a1ce9f3d"
	for _, presented := range []string{secret, " " + secret, secret + "\n", "\t" + secret + " \r\n"} {
		if got := hex.EncodeToString(domain.APIKeyDigest(presented)); got != digest {
			t.Errorf("digest of %q = %s, want %s", presented, got, digest)
		}
	}
	if hex.EncodeToString(domain.APIKeyDigest(secret+"x")) == digest {
		t.Error("another secret has the same digest")
	}
	if p := domain.APIKeyPrefix(secret); p != "opk_AAECAwQF" {
		t.Errorf("prefix = %q", p)
	}
}

func TestNewAPIKeySecretsAreRandomAndWellFormed(t *testing.T) {
	t.Parallel()
	a, b := domain.NewAPIKeySecret(), domain.NewAPIKeySecret()
	if a == b {
		t.Fatal("two keys are the same")
	}
	for _, s := range []string{a, b} {
		if !strings.HasPrefix(s, domain.APIKeySecretPrefix) || len(s) != 47 || strings.ContainsAny(s, "+/=") {
			t.Errorf("secret %q is not an opk_ key of 256 bits in URL-safe base64", s)
		}
	}
}

func TestCheckNewAPIKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key       domain.APIKey
		wantField string
	}{
		{domain.APIKey{Name: "script", RoleID: "r"}, ""},
		{domain.APIKey{Name: "script", RoleID: "r", UserID: "u"}, ""},
		{domain.APIKey{RoleID: "r"}, "api_key.name"},
		{domain.APIKey{Name: "script"}, "api_key.role_id"},
		{domain.APIKey{}, "api_key.name"},
	} {
		err := domain.CheckNewAPIKey(c.key)
		if (c.wantField == "") != (err == nil) || accessErrField(err) != c.wantField {
			t.Errorf("%+v: %v, want an error on %q", c.key, err, c.wantField)
		}
	}
}

func TestKeyGrantIdentity(t *testing.T) {
	t.Parallel()
	levels := domain.Levels{domain.AreaOrganizations: domain.LevelFull, domain.AreaUsers: domain.LevelReadOnly}
	perms := []string{"organizations:read", "organizations:write", "users:read"}
	grant := func(u *domain.KeyUser) domain.KeyGrant {
		return domain.KeyGrant{AccountID: "a", APIKeyID: "k", Levels: levels, User: u}
	}
	for _, c := range []struct {
		name    string
		grant   domain.KeyGrant
		want    domain.KeyIdentity
		refused bool
	}{
		{"a key acting as no user sees everything", grant(nil),
			domain.KeyIdentity{AccountID: "a", APIKeyID: "k", Permissions: perms}, false},
		{"a key of a user who sees every organization", grant(&domain.KeyUser{ID: "u", Active: true, Levels: levels, AllOrganizations: true, GroupIDs: []string{"g"}}),
			domain.KeyIdentity{AccountID: "a", APIKeyID: "k", UserID: "u", Permissions: perms}, false},
		{"a key of a user limited to groups", grant(&domain.KeyUser{ID: "u", Active: true, Levels: levels, GroupIDs: []string{"g1", "g2"}}),
			domain.KeyIdentity{AccountID: "a", APIKeyID: "k", UserID: "u", Permissions: perms, RestrictedToGroups: true, GroupIDs: []string{"g1", "g2"}}, false},
		{"a key of a user in no group sees nothing", grant(&domain.KeyUser{ID: "u", Active: true, Levels: levels, GroupIDs: []string{}}),
			domain.KeyIdentity{AccountID: "a", APIKeyID: "k", UserID: "u", Permissions: perms, RestrictedToGroups: true, GroupIDs: []string{}}, false},
		{"a key of a deactivated user is refused", grant(&domain.KeyUser{ID: "u", Active: false, AllOrganizations: true}), domain.KeyIdentity{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.grant.Identity()
			if c.refused {
				if !errors.Is(err, domain.ErrBadCredential) {
					t.Fatalf("got %+v, %v; want ErrBadCredential", got, err)
				}
				return
			}
			if err != nil || got.AccountID != c.want.AccountID || got.APIKeyID != c.want.APIKeyID || got.UserID != c.want.UserID ||
				!slices.Equal(got.Permissions, c.want.Permissions) || got.RestrictedToGroups != c.want.RestrictedToGroups ||
				!slices.Equal(got.GroupIDs, c.want.GroupIDs) {
				t.Fatalf("got %+v, %v\nwant %+v", got, err, c.want)
			}
		})
	}
}

func TestKeyUseIsRecordedToTheMinute(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		lastUsed time.Time
		want     bool
	}{
		{time.Time{}, true},
		{now, false},
		{now.Add(-59 * time.Second), false},
		{now.Add(-time.Minute), false},
		{now.Add(-time.Minute - time.Millisecond), true},
		{now.Add(-24 * time.Hour), true},
	} {
		if got := (domain.KeyGrant{LastUsed: c.lastUsed}).NeedsUseRecorded(now); got != c.want {
			t.Errorf("last used %v: record = %v, want %v", c.lastUsed, got, c.want)
		}
	}
}

// A key acts with at most what its owner and the user it acts as hold now: deactivating either
// stops it, and their roles and scopes narrow it, whatever the key's own role says.
func TestKeyGrantIdentityIsBoundByItsPeople(t *testing.T) {
	t.Parallel()
	admin := domain.FullGrant().Levels
	engineer := domain.Levels{domain.AreaOrganizations: domain.LevelReadOnly, domain.AreaReviews: domain.LevelFull}
	owner := func(active bool, l domain.Levels, groups ...string) *domain.KeyUser {
		return &domain.KeyUser{ID: "o", Active: active, Levels: l, AllOrganizations: groups == nil, GroupIDs: groups}
	}
	user := func(l domain.Levels, groups ...string) *domain.KeyUser {
		return &domain.KeyUser{ID: "u", Active: true, Levels: l, AllOrganizations: groups == nil, GroupIDs: groups}
	}
	for _, c := range []struct {
		name       string
		grant      domain.KeyGrant
		refused    bool
		perms      []string
		restricted bool
		groups     []string
	}{
		{"an admin key of an admin owner keeps everything",
			domain.KeyGrant{Levels: admin, Owner: owner(true, admin)}, false, admin.Grants(), false, nil},
		{"an admin key of an owner narrowed to engineer is an engineer key",
			domain.KeyGrant{Levels: admin, Owner: owner(true, engineer)}, false, engineer.Grants(), false, nil},
		{"a key never gains what its owner holds beyond its role",
			domain.KeyGrant{Levels: engineer, Owner: owner(true, admin)}, false, engineer.Grants(), false, nil},
		{"a key of a deactivated owner is refused",
			domain.KeyGrant{Levels: admin, Owner: owner(false, admin)}, true, nil, false, nil},
		{"a key acting as no one sees only its limited owner's groups",
			domain.KeyGrant{Levels: admin, Owner: owner(true, admin, "g1")}, false, admin.Grants(), true, []string{"g1"}},
		{"a key acting as a user sees what both its user and its owner see",
			domain.KeyGrant{Levels: admin, User: user(admin, "g1", "g2"), Owner: owner(true, admin, "g2", "g3")}, false, admin.Grants(), true, []string{"g2"}},
		{"a key acting as a user who sees all is held to its owner's groups",
			domain.KeyGrant{Levels: admin, User: user(admin), Owner: owner(true, admin, "g3")}, false, admin.Grants(), true, []string{"g3"}},
		{"an admin key acting as an engineer is an engineer key",
			domain.KeyGrant{Levels: admin, User: user(engineer), Owner: owner(true, admin)}, false, engineer.Grants(), false, nil},
		{"a key acting as a deactivated user is refused, whatever its owner",
			domain.KeyGrant{Levels: admin, User: &domain.KeyUser{ID: "u", Levels: admin, AllOrganizations: true}, Owner: owner(true, admin)}, true, nil, false, nil},
		{"an owner whose role is unreadable grants nothing",
			domain.KeyGrant{Levels: admin, Owner: owner(true, nil)}, false, nil, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.grant.Identity()
			if c.refused {
				if !errors.Is(err, domain.ErrBadCredential) {
					t.Fatalf("got %+v, %v; want ErrBadCredential", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got.Permissions, c.perms) || got.RestrictedToGroups != c.restricted || !slices.Equal(got.GroupIDs, c.groups) {
				t.Fatalf("got %+v, %v\nwant permissions %v, restricted %v to %v", got, err, c.perms, c.restricted, c.groups)
			}
		})
	}
}
