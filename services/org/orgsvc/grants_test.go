package orgsvc_test

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

// The tests of "no one grants more than they hold" (domain.Grant.Covers), "a key acts with at
// most its owner's rights, now" (domain.KeyGrant.Identity) and "a cascading delete respects
// visibility", over gRPC against the real service and database. The REST escalation matrix in
// deploy/devstack/stack/escalation_test.go drives the same rules through the gateway.

const (
	levelFull = orgv1.PermissionLevel_PERMISSION_LEVEL_FULL
	levelRO   = orgv1.PermissionLevel_PERMISSION_LEVEL_READ_ONLY
)

// areaPermissions sets one permission area to level; areas are the domain's names.
func areaPermissions(levels map[string]orgv1.PermissionLevel) *orgv1.Permissions {
	p := &orgv1.Permissions{}
	for area, l := range levels {
		switch area {
		case "organizations":
			p.Organizations = l
		case "reviews":
			p.Reviews = l
		case "users":
			p.Users = l
		case "roles":
			p.Roles = l
		case "account_settings":
			p.AccountSettings = l
		case "integrations":
			p.Integrations = l
		case "mappings":
			p.Mappings = l
		case "subscription":
			p.Subscription = l
		case "api_keys":
			p.ApiKeys = l
		case "groups":
			p.Groups = l
		case "notifications":
			p.Notifications = l
		default:
			panic("unknown area " + area)
		}
	}
	return p
}

// areas are the permission areas, as the API's Permissions message has them (generated from
// it, so a new area is covered without editing the test).
func areas() []string {
	var out []string
	fields := (&orgv1.Permissions{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		out = append(out, string(fields.Get(i).Name()))
	}
	return out
}

// requireGrantRefused fails unless err is the PermissionDenied of Covers naming what.
func requireGrantRefused(t testing.TB, what string, err error, names string) {
	t.Helper()
	requireCode(t, what, err, codes.PermissionDenied)
	if r := errorReason(err); r != "GRANT_EXCEEDS_CALLER" {
		t.Fatalf("%s: reason %q (%v), want GRANT_EXCEEDS_CALLER", what, r, err)
	}
	if !strings.Contains(status.Convert(err).Message(), names) {
		t.Fatalf("%s: %q does not name %q", what, status.Convert(err).Message(), names)
	}
}

// Every route that hands out permissions (a new role, a changed role, a new key, a new user, a
// user's new role), called by a credential holding Full in that route's own area and nothing
// else, may hand out Full in its own area and is refused Full in every other, naming that area;
// nothing is created or changed by a refused call.
func TestEveryGrantingRouteRefusesAreasTheCallerDoesNotHold(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	roleWith := map[string]string{} // area → id of a role with Full in it only
	for _, area := range areas() {
		r, err := o.access.CreateRole(a.admin, &orgv1.CreateRoleRequest{AccountId: a.id,
			Role: &orgv1.Role{Name: "only " + area, Permissions: areaPermissions(map[string]orgv1.PermissionLevel{area: levelFull})}})
		if err != nil {
			t.Fatal(err)
		}
		roleWith[area] = r.GetId()
	}
	// A key with the role Full in area only, acting as no one (it sees every organization).
	keyWith := func(area string) context.Context {
		k, err := o.access.CreateApiKey(a.admin, &orgv1.CreateApiKeyRequest{AccountId: a.id,
			ApiKey: &orgv1.ApiKey{Name: area + " manager", RoleId: roleWith[area]}})
		if err != nil {
			t.Fatal(err)
		}
		return o.caller(k.GetSecret())
	}
	n := 0
	routes := []struct {
		name string
		area string // the permission the route needs
		// grant hands out Full in area wanted as the caller ctx.
		grant func(ctx context.Context, wanted string) error
	}{
		{"CreateRole", "roles", func(ctx context.Context, wanted string) error {
			n++
			_, err := o.access.CreateRole(ctx, &orgv1.CreateRoleRequest{AccountId: a.id, Role: &orgv1.Role{
				Name: fmt.Sprintf("new %d", n), Permissions: areaPermissions(map[string]orgv1.PermissionLevel{wanted: levelFull})}})
			return err
		}},
		{"UpdateRole", "roles", func(ctx context.Context, wanted string) error {
			n++
			target, err := o.access.CreateRole(a.admin, &orgv1.CreateRoleRequest{AccountId: a.id, Role: &orgv1.Role{
				Name: fmt.Sprintf("target %d", n), Permissions: areaPermissions(map[string]orgv1.PermissionLevel{"roles": levelRO})}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = o.access.UpdateRole(ctx, &orgv1.UpdateRoleRequest{AccountId: a.id, Role: &orgv1.Role{Id: target.GetId(),
				Permissions: areaPermissions(map[string]orgv1.PermissionLevel{wanted: levelFull})},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"permissions"}}})
			if err != nil {
				// Refused: the role must be as it was.
				for _, r := range o.roles(a) {
					if r.GetId() == target.GetId() && r.GetPermissions().GetRoles() != levelRO {
						t.Fatalf("a refused update changed the role: %v", r)
					}
				}
			}
			return err
		}},
		{"CreateApiKey", "api_keys", func(ctx context.Context, wanted string) error {
			n++
			_, err := o.access.CreateApiKey(ctx, &orgv1.CreateApiKeyRequest{AccountId: a.id,
				ApiKey: &orgv1.ApiKey{Name: fmt.Sprintf("minted %d", n), RoleId: roleWith[wanted]}})
			return err
		}},
		{"CreateUser", "users", func(ctx context.Context, wanted string) error {
			n++
			_, err := o.access.CreateUser(ctx, &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{
				FirstName: "New", LastName: "User", Email: fmt.Sprintf("new%d@contoso.example", n), RoleId: roleWith[wanted], AllOrganizations: true}})
			return err
		}},
		{"UpdateUser role", "users", func(ctx context.Context, wanted string) error {
			n++
			target, err := o.access.CreateUser(a.admin, &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{
				FirstName: "Target", LastName: "User", Email: fmt.Sprintf("target%d@contoso.example", n), RoleId: roleWith["users"], AllOrganizations: true}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = o.access.UpdateUser(ctx, &orgv1.UpdateUserRequest{AccountId: a.id, User: &orgv1.User{Id: target.GetId(), RoleId: roleWith[wanted]},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role_id"}}})
			if err != nil {
				if u, _ := o.access.GetUser(a.admin, &orgv1.GetUserRequest{AccountId: a.id, UserId: target.GetId()}); u.GetRoleId() != roleWith["users"] {
					t.Fatalf("a refused update changed the user's role: %v", u)
				}
			}
			return err
		}},
	}
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			ctx := keyWith(r.area)
			rolesBefore, keysBefore, usersBefore := len(o.roles(a)), len(o.keys(a)), len(o.users(a))
			created := 0
			for _, wanted := range areas() {
				err := r.grant(ctx, wanted)
				if wanted == r.area {
					if err != nil {
						t.Errorf("%s granting its own area %s: %v", r.name, wanted, err)
					}
					created++
					continue
				}
				requireGrantRefused(t, r.name+" granting "+wanted, err, wanted+": Full (you hold None)")
			}
			// Refused creates left nothing behind (UpdateRole and UpdateUser create their targets
			// as the administrator, one per attempt).
			switch r.name {
			case "CreateRole":
				if got := len(o.roles(a)); got != rolesBefore+created {
					t.Errorf("%d roles, want %d", got, rolesBefore+created)
				}
			case "CreateApiKey":
				if got := len(o.keys(a)); got != keysBefore+created {
					t.Errorf("%d keys, want %d", got, keysBefore+created)
				}
			case "CreateUser":
				if got := len(o.users(a)); got != usersBefore+created {
					t.Errorf("%d users, want %d", got, usersBefore+created)
				}
			}
		})
	}

	// The platform operator is bound by nothing.
	if _, err := o.access.CreateRole(as(gatewayOperator), &orgv1.CreateRoleRequest{AccountId: a.id,
		Role: &orgv1.Role{Name: "by the operator", Permissions: areaPermissions(map[string]orgv1.PermissionLevel{"api_keys": levelFull, "roles": levelFull})}}); err != nil {
		t.Fatalf("operator: %v", err)
	}
}

func (o *liveOrg) roles(a tenant) []*orgv1.Role {
	o.t.Helper()
	return allPages(o.t, "roles", 1000, func(size int32, token string) ([]*orgv1.Role, string, error) {
		r, err := o.access.ListRoles(a.admin, &orgv1.ListRolesRequest{AccountId: a.id, PageSize: size, PageToken: token})
		return r.GetRoles(), r.GetNextPageToken(), err
	})
}

func (o *liveOrg) keys(a tenant) []*orgv1.ApiKey {
	o.t.Helper()
	return allPages(o.t, "API keys", 1000, func(size int32, token string) ([]*orgv1.ApiKey, string, error) {
		r, err := o.access.ListApiKeys(a.admin, &orgv1.ListApiKeysRequest{AccountId: a.id, PageSize: size, PageToken: token})
		return r.GetApiKeys(), r.GetNextPageToken(), err
	})
}

func (o *liveOrg) users(a tenant) []*orgv1.User {
	o.t.Helper()
	var all []*orgv1.User
	token := ""
	for {
		r, err := o.access.ListUsers(a.admin, &orgv1.ListUsersRequest{AccountId: a.id, PageToken: token, PageSize: 1000})
		if err != nil {
			o.t.Fatal(err)
		}
		all = append(all, r.GetUsers()...)
		if token = r.GetNextPageToken(); token == "" {
			return all
		}
	}
}

// Scope is handed out like permissions: a group-limited caller grants neither All Organizations
// nor groups outside its own, to a key or a user; and nobody changes their own role or scope.
func TestScopeAndOwnGrantAreGuarded(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	east := o.group(a, "East")
	west := o.group(a, "West")
	manager, err := o.access.CreateRole(a.admin, &orgv1.CreateRoleRequest{AccountId: a.id, Role: &orgv1.Role{Name: "Manager",
		Permissions: areaPermissions(map[string]orgv1.PermissionLevel{"users": levelFull, "api_keys": levelFull, "organizations": levelFull})}})
	if err != nil {
		t.Fatal(err)
	}
	limitedID, limitedKey := o.keyFor(a, "east@contoso.example", "Manager", east)
	limited := o.caller(limitedKey)
	peer := func(email string, all bool, groups ...string) string {
		u, err := o.access.CreateUser(a.admin, &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{FirstName: "P", LastName: "P",
			Email: email, RoleId: manager.GetId(), AllOrganizations: all, GroupIds: groups}})
		if err != nil {
			t.Fatal(err)
		}
		return u.GetId()
	}
	inEast := peer("peer@contoso.example", false, east)
	everywhere := peer("all@contoso.example", true)

	updateUser := func(ctx context.Context, u *orgv1.User, paths ...string) error {
		_, err := o.access.UpdateUser(ctx, &orgv1.UpdateUserRequest{AccountId: a.id, User: u, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		return err
	}
	createKey := func(ctx context.Context, userID string) error {
		_, err := o.access.CreateApiKey(ctx, &orgv1.CreateApiKeyRequest{AccountId: a.id, ApiKey: &orgv1.ApiKey{Name: "k", RoleId: manager.GetId(), UserId: userID}})
		return err
	}
	createUser := func(email string, all bool, groups ...string) error {
		_, err := o.access.CreateUser(limited, &orgv1.CreateUserRequest{AccountId: a.id, User: &orgv1.User{FirstName: "N", LastName: "N",
			Email: email, RoleId: manager.GetId(), AllOrganizations: all, GroupIds: groups}})
		return err
	}
	const allOrgs = "All Organizations"
	requireGrantRefused(t, "a limited caller's key acting as no one", createKey(limited, ""), allOrgs)
	requireGrantRefused(t, "a limited caller's key acting as someone who sees all", createKey(limited, everywhere), allOrgs)
	requireGrantRefused(t, "a limited caller creating a user who sees all", createUser("n1@contoso.example", true), allOrgs)
	requireGrantRefused(t, "a limited caller creating a user in another group", createUser("n2@contoso.example", false, west), "1 group(s) outside your own")
	requireGrantRefused(t, "a limited caller giving a peer All Organizations", updateUser(limited, &orgv1.User{Id: inEast, AllOrganizations: true}, "all_organizations"), allOrgs)
	requireGrantRefused(t, "a limited caller adding a group to a peer", updateUser(limited, &orgv1.User{Id: inEast, GroupIds: []string{east, west}}, "group_ids"), "1 group(s) outside your own")
	requireGrantRefused(t, "a limited caller deactivating someone who sees more",
		updateUser(limited, &orgv1.User{Id: everywhere, SetActive: new(false)}, "set_active"), allOrgs)
	// Within its own scope it may.
	if err := createKey(limited, inEast); err != nil {
		t.Errorf("a key acting as a peer in the caller's group: %v", err)
	}
	if err := createUser("n3@contoso.example", false, east); err != nil {
		t.Errorf("a user in the caller's group: %v", err)
	}

	// Nobody changes their own role or scope, even downwards; their name they may.
	for _, c := range []struct {
		name  string
		user  *orgv1.User
		paths []string
	}{
		{"own role", &orgv1.User{Id: limitedID, RoleId: o.roleID(a, "Engineer")}, []string{"role_id"}},
		{"own scope", &orgv1.User{Id: limitedID, AllOrganizations: true}, []string{"all_organizations"}},
		{"own groups", &orgv1.User{Id: limitedID, GroupIds: []string{}}, []string{"group_ids"}},
	} {
		err := updateUser(limited, c.user, c.paths...)
		requireCode(t, c.name, err, codes.PermissionDenied)
		if errorReason(err) != "OWN_GRANT" {
			t.Errorf("%s: %v, want OWN_GRANT", c.name, err)
		}
	}
	if err := updateUser(limited, &orgv1.User{Id: limitedID, FirstName: "Renamed"}, "first_name"); err != nil {
		t.Errorf("own name: %v", err)
	}
	// Not the administrator either, through a key it made acting as no one: the key is its.
	if err := updateUser(a.admin, &orgv1.User{Id: a.adminID, RoleId: o.roleID(a, "Engineer")}, "role_id"); errorReason(err) != "OWN_GRANT" {
		t.Errorf("the administrator's own role: %v, want OWN_GRANT", err)
	}
	script, err := o.access.CreateApiKey(a.admin, &orgv1.CreateApiKeyRequest{AccountId: a.id, ApiKey: &orgv1.ApiKey{Name: "script", RoleId: o.roleID(a, "IT Provider Admin")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := updateUser(o.caller(script.GetSecret()), &orgv1.User{Id: a.adminID, GroupIds: []string{east}}, "group_ids"); errorReason(err) != "OWN_GRANT" {
		t.Errorf("the owner's scope through its script key: %v, want OWN_GRANT", err)
	}
	// What was refused changed nothing.
	u, err := o.access.GetUser(a.admin, &orgv1.GetUserRequest{AccountId: a.id, UserId: limitedID})
	if err != nil || u.GetAllOrganizations() || !slices.Equal(u.GetGroupIds(), []string{east}) || u.GetRoleId() != manager.GetId() {
		t.Fatalf("the limited user after refused changes: %v (%v)", u, err)
	}
	// The administrator may do all of it.
	if err := updateUser(a.admin, &orgv1.User{Id: limitedID, AllOrganizations: true, RoleId: o.roleID(a, "IT Provider Admin")}, "all_organizations", "role_id"); err != nil {
		t.Errorf("the administrator widening a user: %v", err)
	}
}

// newTenantWithKey is newTenant that also returns the administrator's key secret, for tests that
// must authenticate it again after changing what it grants (a tenant's admin context is the
// identity as it was when the account was created).
func (o *liveOrg) newTenantWithKey(name string) (tenant, string) {
	o.t.Helper()
	resp, err := o.accounts.CreateAccount(as(gatewayOperator), &orgv1.CreateAccountRequest{
		Account:       &orgv1.Account{DisplayName: name},
		Administrator: &orgv1.User{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com"},
	})
	if err != nil {
		o.t.Fatalf("create account %q: %v", name, err)
	}
	secret := resp.GetAdministratorApiKey()
	return tenant{id: resp.GetAccount().GetId(), adminID: resp.GetAdministrator().GetId(), admin: o.caller(secret)}, secret
}

// query reads one row as the superuser (what the API does not show: a key's owner).
func (o *liveOrg) query(sql string, args []any, into ...any) {
	o.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		o.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql, args...).Scan(into...); err != nil {
		o.t.Fatal(err)
	}
}

func (o *liveOrg) group(a tenant, name string) string {
	o.t.Helper()
	g, err := o.orgs.CreateGroup(a.admin, &orgv1.CreateGroupRequest{AccountId: a.id, Group: &orgv1.Group{Name: name, Color: "#3366FF"}})
	if err != nil {
		o.t.Fatal(err)
	}
	return g.GetId()
}

// A key acts with at most what its owner (the person behind its creation) holds now: narrowing
// the owner narrows the key, deactivating the owner stops it, at the next request.
func TestKeysActWithAtMostTheirOwnersRightsNow(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a, adminSecret := o.newTenantWithKey("Contoso MSP")
	east := o.group(a, "East")
	west := o.group(a, "West")
	manager, err := o.access.CreateRole(a.admin, &orgv1.CreateRoleRequest{AccountId: a.id, Role: &orgv1.Role{Name: "Manager",
		Permissions: areaPermissions(map[string]orgv1.PermissionLevel{"api_keys": levelFull, "organizations": levelFull})}})
	if err != nil {
		t.Fatal(err)
	}
	userID, key := o.keyFor(a, "mia@contoso.example", "Manager", east, west)
	// The user's key mints a key acting as the user: the user is behind it.
	minted, err := o.access.CreateApiKey(o.caller(key), &orgv1.CreateApiKeyRequest{AccountId: a.id,
		ApiKey: &orgv1.ApiKey{Name: "minted", RoleId: manager.GetId(), UserId: userID}})
	if err != nil {
		t.Fatal(err)
	}
	secret := minted.GetSecret()
	var owner string
	o.query(`SELECT coalesce(owner_user_id::text, '') FROM org.api_keys WHERE id = $1`, []any{minted.GetApiKey().GetId()}, &owner)
	if owner != userID {
		t.Fatalf("the minted key's owner is %q, want the user behind the minting key %q", owner, userID)
	}
	id, err := o.authenticate(secret)
	if err != nil || !slices.Contains(id.Permissions, "organizations:write") || !id.RestrictedToGroups || len(id.Groups) != 2 {
		t.Fatalf("the minted key = %+v (%v)", id, err)
	}

	// Narrowing the owner's scope narrows the key.
	if _, err := o.access.UpdateUser(a.admin, &orgv1.UpdateUserRequest{AccountId: a.id, User: &orgv1.User{Id: userID, GroupIds: []string{east}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"group_ids"}}}); err != nil {
		t.Fatal(err)
	}
	if id, err := o.authenticate(secret); err != nil || !slices.Equal(id.Groups, []string{east}) {
		t.Fatalf("after the owner lost West: %+v (%v)", id, err)
	}
	// Narrowing the owner's role narrows the key, whatever the key's own role says.
	if _, err := o.access.UpdateUser(a.admin, &orgv1.UpdateUserRequest{AccountId: a.id, User: &orgv1.User{Id: userID, RoleId: o.roleID(a, "Engineer")},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role_id"}}}); err != nil {
		t.Fatal(err)
	}
	id, err = o.authenticate(secret)
	if err != nil || slices.Contains(id.Permissions, "organizations:write") || !slices.Contains(id.Permissions, "organizations:read") ||
		slices.Contains(id.Permissions, "api_keys:write") {
		t.Fatalf("after the owner became an engineer: %+v (%v)", id, err)
	}
	_, err = o.orgs.CreateOrganization(as(id), &orgv1.CreateOrganizationRequest{AccountId: a.id, Organization: &orgv1.Organization{Name: "Nope", GroupIds: []string{east}}})
	requireCode(t, "the narrowed key creating an organization", err, codes.PermissionDenied)

	// Deactivating the owner stops the key at its next request.
	if _, err := o.access.UpdateUser(a.admin, &orgv1.UpdateUserRequest{AccountId: a.id, User: &orgv1.User{Id: userID, SetActive: new(false)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"set_active"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = o.authenticate(secret)
	requireCode(t, "a key of a deactivated owner", err, codes.Unauthenticated)

	// A script's key (acting as no one) is its creator's: the administrator's here. Rotating it
	// (the key mints its successor) keeps the administrator behind the new one.
	script, err := o.access.CreateApiKey(a.admin, &orgv1.CreateApiKeyRequest{AccountId: a.id, ApiKey: &orgv1.ApiKey{Name: "script", RoleId: manager.GetId()}})
	if err != nil {
		t.Fatal(err)
	}
	next, err := o.access.CreateApiKey(o.caller(script.GetSecret()), &orgv1.CreateApiKeyRequest{AccountId: a.id, ApiKey: &orgv1.ApiKey{Name: "script v2", RoleId: manager.GetId()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.access.RevokeApiKey(a.admin, &orgv1.RevokeApiKeyRequest{AccountId: a.id, ApiKeyId: script.GetApiKey().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.authenticate(next.GetSecret()); err != nil {
		t.Fatalf("the rotated key died with its predecessor: %v", err)
	}

	// The first administrator's key, made by the operator with the account, is the
	// administrator's: another administrator demoting them narrows it, deactivating stops it.
	// The other administrator acts with a key of their own: the one the first made for them is
	// also bound by its maker, so it would be narrowed with her. With it, they mint their own.
	bob, fromAda := o.keyFor(a, "bob@contoso.example", "IT Provider Admin")
	own, err := o.access.CreateApiKey(o.caller(fromAda), &orgv1.CreateApiKeyRequest{AccountId: a.id, ApiKey: &orgv1.ApiKey{
		Name: "bob's own", RoleId: o.roleID(a, "IT Provider Admin"), UserId: bob}})
	if err != nil {
		t.Fatal(err)
	}
	other := o.caller(own.GetSecret())
	if err := func() error {
		_, err := o.access.UpdateUser(o.caller(fromAda), &orgv1.UpdateUserRequest{AccountId: a.id, User: &orgv1.User{Id: a.adminID, RoleId: o.roleID(a, "vCIO")},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role_id"}}})
		return err
	}(); errorReason(err) != "OWN_GRANT" {
		t.Fatalf("a key reshaping its own maker: %v, want OWN_GRANT", err)
	}
	if _, err := o.access.UpdateUser(other, &orgv1.UpdateUserRequest{AccountId: a.id, User: &orgv1.User{Id: a.adminID, RoleId: o.roleID(a, "vCIO")},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role_id"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = o.access.CreateApiKey(o.caller(adminSecret), &orgv1.CreateApiKeyRequest{AccountId: a.id, ApiKey: &orgv1.ApiKey{Name: "x", RoleId: manager.GetId()}})
	requireCode(t, "the demoted administrator's first key creating a key", err, codes.PermissionDenied)
	// The script key the administrator made is narrowed with them: vCIO holds no API keys.
	if id, err := o.authenticate(next.GetSecret()); err != nil || slices.Contains(id.Permissions, "api_keys:write") || !slices.Contains(id.Permissions, "organizations:write") {
		t.Fatalf("the administrator's script key after the demotion: %+v (%v)", id, err)
	}
	if _, err := o.access.UpdateUser(other, &orgv1.UpdateUserRequest{AccountId: a.id, User: &orgv1.User{Id: a.adminID, SetActive: new(false)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"set_active"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = o.authenticate(adminSecret)
	requireCode(t, "the deactivated administrator's first key", err, codes.Unauthenticated)
	_, err = o.authenticate(next.GetSecret())
	requireCode(t, "the deactivated administrator's script key", err, codes.Unauthenticated)
	_, err = o.authenticate(fromAda)
	requireCode(t, "the key the deactivated administrator made for another", err, codes.Unauthenticated)
	if _, err := o.authenticate(own.GetSecret()); err != nil {
		t.Fatalf("a key its user made for themselves died with the administrator: %v", err)
	}
}

// A group-limited caller cannot delete an organization whose deletion would cascade to
// sub-organizations outside its groups: it is told how many, never which, and nothing is
// deleted. Where it sees the whole subtree, it may.
func TestCascadingDeleteRespectsVisibility(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	east := o.group(a, "East")
	parent := o.createOrg(a, &orgv1.Organization{Name: "Northwind", GroupIds: []string{east}})
	child := o.createOrg(a, &orgv1.Organization{Name: "Northwind East", ParentId: parent.GetId(), GroupIds: []string{east}})
	hidden := o.createOrg(a, &orgv1.Organization{Name: "Northwind Secret Lab", ParentId: parent.GetId()})
	hiddenDeep := o.createOrg(a, &orgv1.Organization{Name: "Northwind Vault", ParentId: child.GetId()})
	visibleLeaf := o.createOrg(a, &orgv1.Organization{Name: "Northwind East Desk", ParentId: child.GetId(), GroupIds: []string{east}})
	_, key := o.keyFor(a, "east@contoso.example", "vCIO", east)
	limited := o.caller(key)

	del := func(ctx context.Context, org *orgv1.Organization) (*orgv1.DeleteOrganizationResponse, error) {
		return o.orgs.DeleteOrganization(ctx, &orgv1.DeleteOrganizationRequest{AccountId: a.id, OrganizationId: org.GetId()})
	}
	for _, c := range []struct {
		root   *orgv1.Organization
		hidden int
	}{{parent, 2}, {child, 1}} {
		resp, err := del(limited, c.root)
		requireCode(t, "deleting "+c.root.GetName(), err, codes.PermissionDenied)
		msg := status.Convert(err).Message()
		if errorReason(err) != "SUBTREE_NOT_VISIBLE" || !strings.Contains(msg, fmt.Sprintf("%d of its sub-organizations", c.hidden)) {
			t.Errorf("deleting %s: %v (reason %q), want %d hidden counted", c.root.GetName(), err, errorReason(err), c.hidden)
		}
		for _, h := range []*orgv1.Organization{hidden, hiddenDeep} {
			if strings.Contains(msg, h.GetName()) || strings.Contains(msg, h.GetId()) || strings.Contains(err.Error(), h.GetId()) {
				t.Errorf("the refusal names a hidden organization: %v", err)
			}
		}
		if len(resp.GetDeletedOrganizationIds()) != 0 {
			t.Errorf("a refused delete reports %v deleted", resp.GetDeletedOrganizationIds())
		}
	}
	for _, org := range []*orgv1.Organization{parent, child, hidden, hiddenDeep, visibleLeaf} {
		if _, err := o.orgs.GetOrganization(a.admin, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: org.GetId()}); err != nil {
			t.Fatalf("%s after refused deletes: %v", org.GetName(), err)
		}
	}
	o.settle(a)
	for _, m := range o.events.snapshot() {
		if strings.HasSuffix(m.Subject(), ".organization.deleted") {
			t.Fatalf("a refused delete published %s", m.Subject())
		}
	}

	// A subtree it sees whole, it deletes.
	resp, err := del(limited, visibleLeaf)
	if err != nil || !slices.Equal(resp.GetDeletedOrganizationIds(), []string{visibleLeaf.GetId()}) {
		t.Fatalf("deleting a visible leaf: %v (%v)", resp, err)
	}
	// The administrator, who sees everything, deletes the rest.
	resp, err = del(a.admin, parent)
	want := slices.Sorted(slices.Values([]string{parent.GetId(), child.GetId(), hidden.GetId(), hiddenDeep.GetId()}))
	if err != nil || !slices.Equal(slices.Sorted(slices.Values(resp.GetDeletedOrganizationIds())), want) {
		t.Fatalf("the administrator deleting the parent: %v (%v)", resp, err)
	}
}

// Existing keys get an owner when the column arrives: the user a key acts as (who already
// stopped it by being deactivated: the first administrator's key among them); a key acting as no
// one keeps none, since nobody can be named for it.
func TestAPIKeyOwnerMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spec := orgsvc.Spec()
	cfg := spec.DBConfig(testkit.EmptyDB(t))
	var before []postgres.MigrationSet
	for _, set := range spec.MigrationSets() {
		if set.Name == "org" {
			set.FS = migrationsBefore(t, set.FS, "00007")
		}
		before = append(before, set)
	}
	log := slog.New(slog.DiscardHandler)
	if err := postgres.Migrate(ctx, cfg, log, before...); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	insert := func(sql string, args ...any) string {
		t.Helper()
		var id string
		if err := conn.QueryRow(ctx, sql+` RETURNING id::text`, args...).Scan(&id); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return id
	}
	account := insert(`INSERT INTO org.accounts (display_name) VALUES ('Contoso')`)
	role := insert(`INSERT INTO org.roles (account_id, name, permissions) VALUES ($1, 'r', '{}')`, account)
	user := insert(`INSERT INTO org.users (account_id, first_name, last_name, email, role_id) VALUES ($1, 'A', 'A', 'a@x', $2)`, account, role)
	withUser := insert(`INSERT INTO org.api_keys (account_id, name, prefix, role_id, user_id) VALUES ($1, 'u', 'p', $2, $3)`, account, role, user)
	withoutUser := insert(`INSERT INTO org.api_keys (account_id, name, prefix, role_id) VALUES ($1, 's', 'p', $2)`, account, role)
	if err := postgres.Migrate(ctx, cfg, log, spec.MigrationSets()...); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{withUser: user, withoutUser: ""} {
		var owner string
		if err := conn.QueryRow(ctx, `SELECT coalesce(owner_user_id::text, '') FROM org.api_keys WHERE id = $1`, key).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		if owner != want {
			t.Errorf("key %s: owner %q, want %q", key, owner, want)
		}
	}
}

// migrationsBefore is fsys without the migrations from first on: the schema as it was.
func migrationsBefore(t testing.TB, fsys fs.FS, first string) fs.FS {
	t.Helper()
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for _, e := range entries {
		if e.Name() >= first {
			continue
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = &fstest.MapFile{Data: b}
	}
	return out
}

// A sub-organization attached (outside the caller's groups) by a transaction that commits while
// the delete is checking the subtree is seen and refuses the delete, instead of going down
// with the cascade unseen: the delete locks what it walks and walks again.
func TestCascadingDeleteSeesAConcurrentlyAttachedHiddenOrganization(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	east := o.group(a, "East")
	parent := o.createOrg(a, &orgv1.Organization{Name: "Northwind", GroupIds: []string{east}})
	child := o.createOrg(a, &orgv1.Organization{Name: "Northwind East", ParentId: parent.GetId(), GroupIds: []string{east}})
	_, key := o.keyFor(a, "east@contoso.example", "vCIO", east)
	limited := o.caller(key)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// Holds a key-share lock on the child (the foreign key) until it commits.
	if _, err := tx.Exec(ctx, `INSERT INTO org.organizations (account_id, name, parent_id) VALUES ($1, 'Northwind Hidden Lab', $2)`,
		a.id, child.GetId()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := o.orgs.DeleteOrganization(limited, &orgv1.DeleteOrganizationRequest{AccountId: a.id, OrganizationId: parent.GetId()})
		done <- err
	}()
	// Commit once the delete waits on the child's lock: its walk began before the commit. (Asked
	// on another connection: a transaction sees pg_stat_activity as it was when it first looked.)
	watch, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for waiting := false; !waiting; {
		select {
		case err := <-done:
			t.Fatalf("the delete did not wait for the attaching transaction: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the delete never waited on the child's lock")
		}
		if err := watch.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'
			AND query LIKE '%WITH RECURSIVE down%' AND datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	err = <-done
	requireCode(t, "deleting over a concurrently attached hidden organization", err, codes.PermissionDenied)
	if !strings.Contains(status.Convert(err).Message(), "1 of its sub-organizations") {
		t.Fatalf("refusal %v, want 1 hidden counted", err)
	}
	for _, org := range []*orgv1.Organization{parent, child} {
		if _, err := o.orgs.GetOrganization(a.admin, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: org.GetId()}); err != nil {
			t.Fatalf("%s after the refused delete: %v", org.GetName(), err)
		}
	}
}
