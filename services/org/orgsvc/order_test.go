package orgsvc_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// organizationOrders are the orders ListOrganizations takes, each with how it compares two
// organizations ascending (ties by id); " desc" is the exact mirror image.
var organizationOrders = []struct {
	by  string
	cmp func(a, b *orgv1.Organization) int
}{
	{"name", func(a, b *orgv1.Organization) int {
		// Regardless of case: the names here are ASCII, where Go and Postgres lower-case alike.
		return cmp.Compare(strings.ToLower(a.GetName()), strings.ToLower(b.GetName()))
	}},
	{"create_time", func(a, b *orgv1.Organization) int {
		return a.GetCreateTime().AsTime().Compare(b.GetCreateTime().AsTime())
	}},
	{"update_time", func(a, b *orgv1.Organization) int {
		return a.GetUpdateTime().AsTime().Compare(b.GetUpdateTime().AsTime())
	}},
}

// Every order of the organization list, both ways, pages through exactly the one sorted list:
// by name regardless of case, by creation, by last change, ties (names equal but for case,
// organizations created or changed at the same moment) broken by id in the order's direction,
// with a search or a filter too, and the total the same whatever the order.
func TestListingInEveryOrderPagesThroughOneSortedList(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	tick := func() {
		o.clock.mu.Lock()
		o.clock.now = o.clock.now.Add(time.Minute)
		o.clock.mu.Unlock()
	}
	bulk := func(names ...string) []*orgv1.Organization {
		req := &orgv1.BulkCreateOrganizationsRequest{AccountId: a.id, RequestId: uuid.NewString()}
		for _, n := range names {
			req.Organizations = append(req.Organizations, &orgv1.Organization{Name: n})
		}
		resp, err := o.orgs.BulkCreateOrganizations(a.admin, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetOrganizations()
	}
	// Each bulk create's organizations share their creation (and first change) time.
	first := bulk("acme", "Zeta Corp", "Beta", "ACME", "delta")
	tick()
	second := bulk("Acme Dental", "beta", "alpha", "Gamma")
	tick()
	o.createOrg(a, &orgv1.Organization{Name: "Alpha"})
	tick()
	// Two changes at the same moment, a minute before a third.
	for _, org := range []*orgv1.Organization{first[1], second[3]} {
		if _, err := o.orgs.UpdateOrganization(a.admin, &orgv1.UpdateOrganizationRequest{AccountId: a.id,
			Organization: &orgv1.Organization{Id: org.GetId(), Notes: "Changed."},
			UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"notes"}}}); err != nil {
			t.Fatal(err)
		}
	}
	tick()
	if _, err := o.orgs.DeactivateOrganization(a.admin, &orgv1.DeactivateOrganizationRequest{AccountId: a.id, OrganizationId: first[2].GetId()}); err != nil {
		t.Fatal(err)
	}

	all, err := o.orgs.ListOrganizations(a.admin, &orgv1.ListOrganizationsRequest{AccountId: a.id, PageSize: 1000})
	if err != nil || len(all.GetOrganizations()) != 10 {
		t.Fatalf("the account lists %d organizations (%v), want 10", len(all.GetOrganizations()), err)
	}
	label := func(org *orgv1.Organization) string { return org.GetName() + " " + org.GetId() }

	for _, f := range []struct {
		name string
		req  *orgv1.ListOrganizationsRequest
		keep func(*orgv1.Organization) bool
	}{
		{"all", &orgv1.ListOrganizationsRequest{}, func(*orgv1.Organization) bool { return true }},
		{"search", &orgv1.ListOrganizationsRequest{Query: "E"}, func(org *orgv1.Organization) bool {
			return strings.Contains(strings.ToLower(org.GetName()), "e")
		}},
		{"active", &orgv1.ListOrganizationsRequest{State: orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE}, func(org *orgv1.Organization) bool {
			return org.GetState() == orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE
		}},
	} {
		for _, ord := range organizationOrders {
			asc := slices.DeleteFunc(slices.Clone(all.GetOrganizations()), func(org *orgv1.Organization) bool { return !f.keep(org) })
			slices.SortFunc(asc, func(x, y *orgv1.Organization) int {
				return cmp.Or(ord.cmp(x, y), strings.Compare(x.GetId(), y.GetId()))
			})
			for _, desc := range []bool{false, true} {
				orderBy, want := ord.by, make([]string, len(asc))
				for i, org := range asc {
					want[i] = label(org)
				}
				if desc {
					orderBy += " desc"
					slices.Reverse(want)
				}
				t.Run(f.name+" by "+orderBy, func(t *testing.T) {
					list := func(size int32, token string) ([]*orgv1.Organization, string, error) {
						req := &orgv1.ListOrganizationsRequest{AccountId: a.id, Query: f.req.GetQuery(), State: f.req.GetState(),
							OrderBy: orderBy, PageSize: size, PageToken: token}
						resp, err := o.orgs.ListOrganizations(a.admin, req)
						if err == nil && resp.GetTotalSize() != int64(len(want)) {
							t.Errorf("total %d, want %d whatever the order", resp.GetTotalSize(), len(want))
						}
						return resp.GetOrganizations(), resp.GetNextPageToken(), err
					}
					walkPages(t, orderBy, 3, list, label, want)
					walkPages(t, orderBy, 2, list, label, want)
				})
			}
		}
	}
	// The ties the test means to cover are there: names equal but for case, equal times.
	ties := map[string]bool{}
	for _, ord := range organizationOrders {
		for i, x := range all.GetOrganizations() {
			for _, y := range all.GetOrganizations()[i+1:] {
				if ord.cmp(x, y) == 0 {
					ties[ord.by] = true
				}
			}
		}
	}
	if len(ties) != len(organizationOrders) {
		t.Fatalf("ties only in %v: the test no longer covers the tie-break of every order", ties)
	}
}

// A page token continues only the order it was issued for; "" and "name" are one order. An
// order_by the API does not know is refused naming orderBy.
func TestAPageTokenBelongsToItsOrder(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")
	for _, n := range []string{"Alpha", "beta", "Gamma"} { // created at the same moment: ties by id
		o.createOrg(a, &orgv1.Organization{Name: n})
	}
	list := func(orderBy, token string) (*orgv1.ListOrganizationsResponse, error) {
		return o.orgs.ListOrganizations(a.admin, &orgv1.ListOrganizationsRequest{AccountId: a.id, OrderBy: orderBy,
			PageSize: 1, PageToken: token})
	}
	orders := []string{"", "name", "name desc", "create_time", "create_time desc", "update_time", "update_time desc"}
	same := func(x, y string) bool { return x == y || x+y == "name" }
	for _, from := range orders {
		first, err := list(from, "")
		if err != nil || first.GetNextPageToken() == "" {
			t.Fatalf("%q: first page %v, next %q", from, err, first.GetNextPageToken())
		}
		for _, to := range orders {
			next, err := list(to, first.GetNextPageToken())
			if !same(from, to) {
				requireInvalidField(t, "a token of order_by "+from+" with "+to, err, "pageToken")
				continue
			}
			two, err2 := o.orgs.ListOrganizations(a.admin, &orgv1.ListOrganizationsRequest{AccountId: a.id, OrderBy: to, PageSize: 2})
			if err != nil || err2 != nil || len(next.GetOrganizations()) != 1 || len(two.GetOrganizations()) != 2 ||
				next.GetOrganizations()[0].GetId() != two.GetOrganizations()[1].GetId() {
				t.Errorf("a token of order_by %q with %q: %v %v, want the second organization of %v (%v)", from, to,
					next.GetOrganizations(), err, two.GetOrganizations(), err2)
			}
		}
	}
	// (Surrounding spaces are trimmed from every text field before anything reads it.)
	for _, bad := range []string{"id", "name asc", "Name", "NAME DESC", "name  desc", "create_time,name", "-name", "notes"} {
		_, err := list(bad, "")
		requireInvalidField(t, "order_by "+bad, err, "orderBy")
	}
}
