package orgsvc_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

func TestOrganizationNamesAreUniqueCaseSensitively(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	b := o.newTenant("Fabrikam IT")
	org := o.createOrg(a, &orgv1.Organization{Name: "Northwind Traders", Notes: "first client"})
	ev := waitEvent(o, "orgplane.org.v1.*.organization.created", func(e *orgv1.OrganizationCreated) bool {
		return e.GetOrganization().GetId() == org.GetId()
	})
	if ev.GetAccountId() != a.id || ev.GetOrganization().GetName() != "Northwind Traders" || ev.GetOrganization().GetNotes() != "first client" ||
		ev.GetOrganization().GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE {
		t.Fatalf("organization.created = %v", ev)
	}

	for _, c := range []struct {
		name    string
		account tenant
		org     string
		want    codes.Code
	}{
		{"the same name", a, "Northwind Traders", codes.AlreadyExists},
		{"the same name in other case", a, "northwind traders", codes.OK},
		{"the same name in another account", b, "Northwind Traders", codes.OK},
	} {
		_, err := o.orgs.CreateOrganization(c.account.admin, &orgv1.CreateOrganizationRequest{AccountId: c.account.id,
			Organization: &orgv1.Organization{Name: c.org}})
		requireCode(t, c.name, err, c.want)
	}

	// Renaming onto a taken name is refused too; a real rename publishes organization.updated.
	other := o.createOrg(a, &orgv1.Organization{Name: "Tailspin Toys"})
	rename := func(name string) error {
		_, err := o.orgs.UpdateOrganization(a.admin, &orgv1.UpdateOrganizationRequest{AccountId: a.id,
			Organization: &orgv1.Organization{Id: other.GetId(), Name: name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
		return err
	}
	requireCode(t, "rename onto a taken name", rename("Northwind Traders"), codes.AlreadyExists)
	requireCode(t, "rename", rename("Tailspin Toys Ltd"), codes.OK)
	waitEvent(o, "orgplane.org.v1.*.organization.updated", func(e *orgv1.OrganizationUpdated) bool {
		return e.GetOrganization().GetId() == other.GetId() && e.GetOrganization().GetName() == "Tailspin Toys Ltd" &&
			strings.Join(e.GetChangedFields(), ",") == "name"
	})
	// The refused rename changed nothing and published nothing.
	o.settle(a)
	if n := o.events.count("orgplane.org.v1.*.organization.updated"); n != 1 {
		t.Fatalf("%d organization.updated events, want 1 (the refused rename published one?)", n)
	}
}

func TestReactivationWaitsTwelveMonths(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	org := o.createOrg(a, &orgv1.Organization{Name: "Northwind Traders"})
	deactivate := func() {
		t.Helper()
		got, err := o.orgs.DeactivateOrganization(a.admin, &orgv1.DeactivateOrganizationRequest{AccountId: a.id, OrganizationId: org.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE || !got.GetDeactivateTime().AsTime().Equal(o.clock.Now()) {
			t.Fatalf("deactivated = %v at %v", got, o.clock.Now())
		}
	}
	reactivate := func(ctx context.Context, override bool) (*orgv1.Organization, error) {
		return o.orgs.ReactivateOrganization(ctx, &orgv1.ReactivateOrganizationRequest{AccountId: a.id, OrganizationId: org.GetId(), OverrideCooldown: override})
	}
	deactivate()
	waitEvent(o, "orgplane.org.v1.*.organization.deactivated", func(e *orgv1.OrganizationDeactivated) bool {
		return e.GetOrganization().GetId() == org.GetId() && e.GetOrganization().GetState() == orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE
	})

	o.clock.addMonths(11)
	_, err := reactivate(a.admin, false)
	requireCode(t, "reactivation at 11 months", err, codes.FailedPrecondition)
	if !strings.Contains(err.Error(), "12 months") || errorReason(err) != "REACTIVATION_COOLDOWN" {
		t.Fatalf("reactivation at 11 months does not explain the rule: %v (reason %q)", err, errorReason(err))
	}
	_, err = reactivate(a.admin, true)
	requireCode(t, "a tenant overriding the rule", err, codes.PermissionDenied)

	o.clock.addMonths(1)
	got, err := reactivate(a.admin, false)
	if err != nil || got.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE {
		t.Fatalf("reactivation at 12 months: %v %v", got, err)
	}
	waitEvent(o, "orgplane.org.v1.*.organization.reactivated", func(e *orgv1.OrganizationReactivated) bool {
		return e.GetOrganization().GetId() == org.GetId() && !e.GetCooldownOverridden()
	})

	// A platform operator may override at once.
	deactivate()
	if _, err := reactivate(as(gatewayOperator), true); err != nil {
		t.Fatalf("operator override: %v", err)
	}
	waitEvent(o, "orgplane.org.v1.*.organization.reactivated", func(e *orgv1.OrganizationReactivated) bool {
		return e.GetOrganization().GetId() == org.GetId() && e.GetCooldownOverridden()
	})
}

func TestDeletingAParentDeletesItsSubOrganizations(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	parent := o.createOrg(a, &orgv1.Organization{Name: "Northwind Holdings"})
	child := o.createOrg(a, &orgv1.Organization{Name: "Northwind East", ParentId: parent.GetId()})
	grandchild := o.createOrg(a, &orgv1.Organization{Name: "Northwind East Lab", ParentId: child.GetId()})
	keep := o.createOrg(a, &orgv1.Organization{Name: "Tailspin Toys"})

	// A parent cannot become its own descendant's child.
	_, err := o.orgs.UpdateOrganization(a.admin, &orgv1.UpdateOrganizationRequest{AccountId: a.id,
		Organization: &orgv1.Organization{Id: parent.GetId(), ParentId: grandchild.GetId()},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"parent_id"}}})
	// A conflict with the tree as it stands (409), as the loser of two concurrent moves gets.
	requireCode(t, "a cycle", err, codes.AlreadyExists)
	if !strings.Contains(status.Convert(err).Message(), "would create a cycle") {
		t.Errorf("a cycle: %v, want it named", err)
	}

	// While a sub-organization is kept in sync (integration-sync says so in an event), deletion
	// is refused (409) with a way forward.
	integration := uuid.NewString()
	syncing := func(on bool) {
		o.publishSync(&integrationsyncv1.OrganizationSyncChanged{AccountId: a.id, OrganizationId: grandchild.GetId(),
			IntegrationId: integration, Syncing: on})
	}
	syncing(true)
	deleteParent := func() (*orgv1.DeleteOrganizationResponse, error) {
		return o.orgs.DeleteOrganization(a.admin, &orgv1.DeleteOrganizationRequest{AccountId: a.id, OrganizationId: parent.GetId()})
	}
	_, err = deleteParent()
	requireSyncRefusal(t, "delete while a sub-organization syncs", err)
	syncing(false)

	del, err := deleteParent()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{parent.GetId(), child.GetId(), grandchild.GetId()}
	if got := slices.Sorted(slices.Values(del.GetDeletedOrganizationIds())); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("deleted %v, want the parent and its two descendants %v", got, want)
	}
	for _, gone := range []*orgv1.Organization{parent, child, grandchild} {
		_, err := o.orgs.GetOrganization(a.admin, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: gone.GetId()})
		requireCode(t, gone.GetName()+" after the delete", err, codes.NotFound)
		ev := waitEvent(o, "orgplane.org.v1.*.organization.deleted", func(e *orgv1.OrganizationDeleted) bool {
			return e.GetOrganizationId() == gone.GetId()
		})
		if ev.GetAccountId() != a.id || ev.GetDeletedWithId() != parent.GetId() || ev.GetName() != gone.GetName() ||
			ev.GetParentId() != gone.GetParentId() || !ev.GetWasActive() {
			t.Errorf("organization.deleted for %s = %v", gone.GetName(), ev)
		}
	}
	o.settle(a)
	if n := o.events.count("orgplane.org.v1.*.organization.deleted"); n != 3 {
		t.Errorf("%d organization.deleted events, want exactly 3 (the refused delete published some?)", n)
	}
	if _, err := o.orgs.GetOrganization(a.admin, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: keep.GetId()}); err != nil {
		t.Fatalf("an unrelated organization went too: %v", err)
	}

	// The totals the lists report follow deletions and deactivations.
	if _, err := o.orgs.DeactivateOrganization(a.admin, &orgv1.DeactivateOrganizationRequest{AccountId: a.id, OrganizationId: keep.GetId()}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		state orgv1.OrganizationState
		want  int64
	}{
		{orgv1.OrganizationState_ORGANIZATION_STATE_UNSPECIFIED, 1},
		{orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE, 0},
		{orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE, 1},
	} {
		list, err := o.orgs.ListOrganizations(a.admin, &orgv1.ListOrganizationsRequest{AccountId: a.id, State: c.state})
		if err != nil || list.GetTotalSize() != c.want || len(list.GetOrganizations()) != int(c.want) {
			t.Errorf("list of %v: total %d, %d listed (%v), want %d", c.state, list.GetTotalSize(), len(list.GetOrganizations()), err, c.want)
		}
	}
}

func TestListingPagesSearchesAndFilters(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	for _, n := range []string{"Alpha Corp", "Beta LLC", "Gamma Inc", "Delta alpha", "Epsilon"} {
		o.createOrg(a, &orgv1.Organization{Name: n})
	}
	list := func(req *orgv1.ListOrganizationsRequest) (*orgv1.ListOrganizationsResponse, error) {
		req.AccountId = a.id
		return o.orgs.ListOrganizations(a.admin, req)
	}

	var names []string
	token := ""
	for page := 0; ; page++ {
		if page == 3 {
			t.Fatalf("5 organizations in pages of 2 take more than 3 pages: %v", names)
		}
		p, err := list(&orgv1.ListOrganizationsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if p.GetTotalSize() != 5 {
			t.Fatalf("page %d: total %d", page, p.GetTotalSize())
		}
		for _, org := range p.GetOrganizations() {
			names = append(names, org.GetName())
		}
		if token = p.GetNextPageToken(); token == "" {
			break
		}
	}
	if strings.Join(names, ",") != "Alpha Corp,Beta LLC,Delta alpha,Epsilon,Gamma Inc" {
		t.Fatalf("paged names %v, want every organization once, by name", names)
	}

	for _, c := range []struct {
		name  string
		req   *orgv1.ListOrganizationsRequest
		want  int64
		names string
	}{
		{"search ignores case", &orgv1.ListOrganizationsRequest{Query: "ALPHA"}, 2, "Alpha Corp,Delta alpha"},
		{"search matches inside names", &orgv1.ListOrganizationsRequest{Query: "lph"}, 2, "Alpha Corp,Delta alpha"},
		{"% is a literal", &orgv1.ListOrganizationsRequest{Query: "%"}, 0, ""},
		{"_ is a literal", &orgv1.ListOrganizationsRequest{Query: "_"}, 0, ""},
		{"inactive ones", &orgv1.ListOrganizationsRequest{State: orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE}, 0, ""},
		{"active ones", &orgv1.ListOrganizationsRequest{State: orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE}, 5,
			"Alpha Corp,Beta LLC,Delta alpha,Epsilon,Gamma Inc"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := list(c.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, org := range p.GetOrganizations() {
				got = append(got, org.GetName())
			}
			if p.GetTotalSize() != c.want || strings.Join(got, ",") != c.names {
				t.Fatalf("total %d %v, want %d [%s]", p.GetTotalSize(), got, c.want, c.names)
			}
		})
	}

	// A page token belongs to its list: reused with other filters it is refused.
	first, err := list(&orgv1.ListOrganizationsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = list(&orgv1.ListOrganizationsRequest{Query: "beta", PageToken: first.GetNextPageToken()})
	requireInvalidField(t, "a page token reused with other filters", err, "pageToken")
}
