package orgsvc_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

func TestPermissionsAreEnforced(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	const (
		full = orgv1.PermissionLevel_PERMISSION_LEVEL_FULL
		ro   = orgv1.PermissionLevel_PERMISSION_LEVEL_READ_ONLY
	)
	// Keys for built-in roles act as users; keys for custom roles act as no one, as a script's.
	_, engineer := o.keyFor(a, "eng@contoso.example", "Engineer")
	_, vcio := o.keyFor(a, "vcio@contoso.example", "vCIO")
	customKey := func(name string, p *orgv1.Permissions) string {
		t.Helper()
		role, err := o.access.CreateRole(a.admin, &orgv1.CreateRoleRequest{AccountId: a.id, Role: &orgv1.Role{Name: name, Permissions: p}})
		if err != nil {
			t.Fatal(err)
		}
		k, err := o.access.CreateApiKey(a.admin, &orgv1.CreateApiKeyRequest{AccountId: a.id, ApiKey: &orgv1.ApiKey{Name: name, RoleId: role.GetId()}})
		if err != nil {
			t.Fatal(err)
		}
		return k.GetSecret()
	}
	dispatcher := customKey("Dispatcher", &orgv1.Permissions{Organizations: full})
	auditor := customKey("Auditor", &orgv1.Permissions{Organizations: ro})

	n := 0
	ops := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"change settings", func(ctx context.Context) error {
			_, err := o.accounts.UpdateAccountSettings(ctx, &orgv1.UpdateAccountSettingsRequest{AccountId: a.id,
				Settings: &orgv1.AccountSettings{TimeZone: "Europe/Paris"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"time_zone"}}})
			return err
		}},
		{"create an organization", func(ctx context.Context) error {
			n++
			_, err := o.orgs.CreateOrganization(ctx, &orgv1.CreateOrganizationRequest{AccountId: a.id,
				Organization: &orgv1.Organization{Name: fmt.Sprintf("Client %d", n)}})
			return err
		}},
		{"list organizations", func(ctx context.Context) error {
			_, err := o.orgs.ListOrganizations(ctx, &orgv1.ListOrganizationsRequest{AccountId: a.id})
			return err
		}},
		{"list users", func(ctx context.Context) error {
			_, err := o.access.ListUsers(ctx, &orgv1.ListUsersRequest{AccountId: a.id})
			return err
		}},
	}
	const (
		ok     = codes.OK
		denied = codes.PermissionDenied
	)
	for _, c := range []struct {
		role   string
		secret string
		want   []codes.Code // per op, in order
	}{
		{"IT Provider Admin", "", []codes.Code{ok, ok, ok, ok}},
		{"vCIO", vcio, []codes.Code{denied, ok, ok, ok}},
		{"Engineer", engineer, []codes.Code{denied, denied, ok, ok}},
		{"custom: organizations full", dispatcher, []codes.Code{denied, ok, ok, denied}},
		{"custom: organizations read-only", auditor, []codes.Code{denied, denied, ok, denied}},
	} {
		ctx := a.admin
		if c.secret != "" {
			ctx = o.caller(c.secret)
		}
		for i, op := range ops {
			checkCode(t, c.role+" may "+op.name+"?", op.call(ctx), c.want[i])
		}
	}

	// Emails are unique within an account, whatever their case.
	_, err := o.access.CreateUser(a.admin, &orgv1.CreateUserRequest{AccountId: a.id,
		User: &orgv1.User{FirstName: "Eve", LastName: "Dup", Email: "ENG@contoso.example"}})
	requireCode(t, "duplicate email", err, codes.AlreadyExists)

	// A key only works in its own account; elsewhere the account looks missing.
	b := o.newTenant("Fabrikam IT")
	_, err = o.orgs.ListOrganizations(a.admin, &orgv1.ListOrganizationsRequest{AccountId: b.id})
	requireCode(t, "key of A on B", err, codes.NotFound)

	// Only a service (the gateway) may turn a key into an identity.
	_, err = o.auth.AuthenticateApiKey(a.admin, &orgv1.AuthenticateApiKeyRequest{Digest: identity.APIKeyDigest(dispatcher)})
	requireCode(t, "a tenant authenticating a key", err, codes.PermissionDenied)

	// A revoked key is refused at once.
	keys := o.keys(a)
	revoked := false
	for _, k := range keys {
		if k.GetName() == "Dispatcher" {
			if _, err := o.access.RevokeApiKey(a.admin, &orgv1.RevokeApiKeyRequest{AccountId: a.id, ApiKeyId: k.GetId()}); err != nil {
				t.Fatal(err)
			}
			revoked = true
		}
	}
	if !revoked {
		t.Fatalf("no Dispatcher key among %v", keys)
	}
	_, err = o.authenticate(dispatcher)
	requireCode(t, "authenticating a revoked key", err, codes.Unauthenticated)
	if _, err := o.authenticate(auditor); err != nil {
		t.Fatalf("revoking one key revoked another: %v", err)
	}
}
