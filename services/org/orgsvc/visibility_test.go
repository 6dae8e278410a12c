package orgsvc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

func TestGroupRestrictedUserSeesOnlyTheirGroups(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	group, err := o.orgs.CreateGroup(a.admin, &orgv1.CreateGroupRequest{AccountId: a.id, Group: &orgv1.Group{Name: "East region", Color: "#3366FF"}})
	if err != nil {
		t.Fatal(err)
	}
	inside := o.createOrg(a, &orgv1.Organization{Name: "Alpine Ski House", GroupIds: []string{group.GetId()}})
	outside := o.createOrg(a, &orgv1.Organization{Name: "Alpine Bank"})
	_, secret := o.keyFor(a, "east@contoso.example", "vCIO", group.GetId())
	east := o.caller(secret)

	list, err := o.orgs.ListOrganizations(east, &orgv1.ListOrganizationsRequest{AccountId: a.id})
	if err != nil || list.GetTotalSize() != 1 || len(list.GetOrganizations()) != 1 || list.GetOrganizations()[0].GetId() != inside.GetId() {
		t.Fatalf("restricted list = %v (%v)", list, err)
	}
	for query, want := range map[string]int64{"alpine": 1, "bank": 0} {
		s, err := o.orgs.ListOrganizations(east, &orgv1.ListOrganizationsRequest{AccountId: a.id, Query: query})
		if err != nil || s.GetTotalSize() != want || len(s.GetOrganizations()) != int(want) {
			t.Errorf("restricted search for %q = %v (%v), want %d", query, s, err, want)
		}
	}

	// Every way to reach a hidden organization answers as if it did not exist.
	calls := []struct {
		name string
		call func(ctx context.Context, id string) error
	}{
		{"get", func(ctx context.Context, id string) error {
			_, err := o.orgs.GetOrganization(ctx, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: id})
			return err
		}},
		{"update", func(ctx context.Context, id string) error {
			_, err := o.orgs.UpdateOrganization(ctx, &orgv1.UpdateOrganizationRequest{AccountId: a.id,
				Organization: &orgv1.Organization{Id: id, Notes: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}})
			return err
		}},
		{"deactivate", func(ctx context.Context, id string) error {
			_, err := o.orgs.DeactivateOrganization(ctx, &orgv1.DeactivateOrganizationRequest{AccountId: a.id, OrganizationId: id})
			return err
		}},
		{"delete", func(ctx context.Context, id string) error {
			_, err := o.orgs.DeleteOrganization(ctx, &orgv1.DeleteOrganizationRequest{AccountId: a.id, OrganizationId: id})
			return err
		}},
	}
	const missing = "00000000-0000-4000-8000-000000000000"
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			hidden, absent := c.call(east, outside.GetId()), c.call(east, missing)
			requireCode(t, "hidden organization", hidden, codes.NotFound)
			if status.Convert(hidden).Message() != status.Convert(absent).Message() {
				t.Fatalf("a hidden organization is told apart from a missing one: %v / %v", hidden, absent)
			}
		})
	}
	// None of them touched it.
	got, err := o.orgs.GetOrganization(a.admin, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: outside.GetId()})
	if err != nil || got.GetNotes() != "" || got.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE {
		t.Fatalf("hidden organization after the refused calls: %v (%v)", got, err)
	}
	if _, err := o.orgs.GetOrganization(east, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: inside.GetId()}); err != nil {
		t.Fatalf("get of a visible organization: %v", err)
	}
	// The administrator sees both.
	if all, err := o.orgs.ListOrganizations(a.admin, &orgv1.ListOrganizationsRequest{AccountId: a.id}); err != nil || all.GetTotalSize() != 2 {
		t.Fatalf("admin list = %v (%v)", all, err)
	}
}
