// Package grpctoken mints the identity token every Orgplane service verifies on each gRPC call
// (the x-orgplane-identity metadata entry), for a person calling a service directly with grpcurl
// rather than through the gateway. `devstack token` is its command; docs in the README,
// "Calling a service with grpcurl".
package grpctoken

import (
	"errors"
	"fmt"
	"strings"

	authzv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/authz/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
)

// Role is who the token says is calling.
type Role string

const (
	// RoleAdmin is a member of one account holding every permission, as an API key with the
	// administrator's role: member RPCs of that account, and nothing in another.
	RoleAdmin Role = "admin"
	// RoleOperator is a platform operator: operator RPCs, and member RPCs that operators may
	// call, in any account.
	RoleOperator Role = "operator"
	// RoleService is a service working on its own behalf: the service-only RPCs.
	RoleService Role = "service"
)

// Request says what a token asserts and to whom.
type Request struct {
	// Service is the service being called ("org"): the token's one audience. A service refuses
	// a token made for another.
	Service string
	Role    Role
	// Account is the account an admin acts in; required for RoleAdmin, refused otherwise.
	Account string
	// As names the caller in the services' logs and audit records (the principal): who ran the
	// command, or for RoleService the service acted as.
	As string
	// User, for RoleAdmin, is the id of a user of the account the key acts as (the feed and
	// preference RPCs of the notification service are per user); empty acts as no user.
	User string
}

// Identity is the identity a token for r asserts.
func (r Request) Identity() (identity.Identity, error) {
	if r.Service == "" {
		return identity.Identity{}, errors.New("service: name the service the token is for (its audience), such as org")
	}
	if strings.TrimSpace(r.As) == "" {
		return identity.Identity{}, errors.New("as: name who is calling")
	}
	if r.Role != RoleAdmin && (r.Account != "" || r.User != "") {
		return identity.Identity{}, fmt.Errorf("account and user are for the admin role; a %s is bound to no account", r.Role)
	}
	switch r.Role {
	case RoleAdmin:
		if r.Account == "" {
			return identity.Identity{}, errors.New("account: the admin role acts in one account; name it")
		}
		return identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "token:" + r.As, AccountID: r.Account,
			Permissions: AdminPermissions(), UserID: r.User}, nil
	case RoleOperator:
		return identity.Identity{Kind: identity.KindOperator, PrincipalID: r.As}, nil
	case RoleService:
		return identity.Service(r.As), nil
	}
	return identity.Identity{}, fmt.Errorf("role %q: want admin, operator or service", r.Role)
}

// Mint signs r's identity with the first key of kr for r.Service. The token lives
// identity.DefaultTTL: long enough for one call, too short to be worth keeping.
func Mint(kr *identity.Keyring, r Request) (string, error) {
	id, err := r.Identity()
	if err != nil {
		return "", err
	}
	return kr.SignFor(id, r.Service)
}

// AdminPermissions are every permission a member can hold: read and write in every area the
// authorization rules know, as the built-in administrator role grants.
func AdminPermissions() []string {
	var out []string
	for n := range len(authzv1.Area_name) {
		area := authzv1.Area(n)
		if area == authzv1.Area_AREA_UNSPECIFIED || authzv1.Area_name[int32(n)] == "" {
			continue
		}
		out = append(out, rpc.PermissionString(area, authzv1.Level_LEVEL_READ), rpc.PermissionString(area, authzv1.Level_LEVEL_WRITE))
	}
	return out
}

// KeysFrom reads an identity keyring from a file's content: a dev stack's dev-credentials (or
// any environment file) holding an ORGPLANE_IDENTITY_KEYS= line, or the kid:base64key list alone
// (the production secret's value).
func KeysFrom(content string) (*identity.Keyring, error) {
	spec := strings.TrimSpace(content)
	for line := range strings.Lines(content) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ORGPLANE_IDENTITY_KEYS="); ok {
			spec = strings.Trim(v, `"'`)
			break
		}
	}
	if spec == "" {
		return nil, errors.New("no identity keys in it")
	}
	return identity.ParseKeyring(spec)
}
