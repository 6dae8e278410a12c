package orgsvc_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// pageLister asks for one page of a list: at most size items (0 for the default), after token.
type pageLister[T any] func(size int32, token string) (items []T, next string, err error)

// allPages follows next_page_token from the first page to the last and returns every item, in
// the order the pages gave them.
func allPages[T any](t testing.TB, what string, size int32, list pageLister[T]) []T {
	t.Helper()
	var all []T
	token := ""
	for pages := 1; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%s: still a next page after 1000 pages", what)
		}
		items, next, err := list(size, token)
		if err != nil {
			t.Fatalf("%s, page %d: %v", what, pages, err)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		token = next
	}
}

// walkPages walks a list of want items in pages of size and fails unless each page is full but
// the last, no empty page follows the last item, and the items, each seen once, are want in
// order (name gives what an item is compared by).
func walkPages[T any](t *testing.T, what string, size int32, list pageLister[T], name func(T) string, want []string) {
	t.Helper()
	var got []string
	token := ""
	for pages := 1; ; pages++ {
		items, next, err := list(size, token)
		if err != nil {
			t.Fatalf("%s, page %d: %v", what, pages, err)
		}
		for _, it := range items {
			got = append(got, name(it))
		}
		if next == "" {
			if len(items) == 0 || len(items) > int(size) {
				t.Fatalf("%s: the last page (%d) holds %d items, want 1 to %d", what, pages, len(items), size)
			}
			break
		}
		if len(items) != int(size) {
			t.Fatalf("%s: page %d holds %d items and is not the last, want %d", what, pages, len(items), size)
		}
		if pages*int(size) >= len(want) {
			t.Fatalf("%s: page %d has a next page, but %d items fit in %d pages (got %v)", what, pages, len(want), pages, got)
		}
		token = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: paged through\n  %v\nwant every item once, in order:\n  %v", what, got, want)
	}
	// A page as large as the list holds all of it, in the same order, on the only page.
	one, next, err := list(1000, "")
	if err != nil || next != "" || len(one) != len(want) {
		t.Fatalf("%s in one page: %d items, next %q, %v; want %d on the last page", what, len(one), next, err, len(want))
	}
}

// requirePagingRefusals checks what every paged list refuses: a page larger than the documented
// maximum, a token nobody issued, and a token issued for another list (foreign).
func requirePagingRefusals[T any](t *testing.T, what string, list pageLister[T], foreign string) {
	t.Helper()
	_, _, err := list(1001, "")
	requireInvalidField(t, what+": page size 1001", err, "pageSize")
	_, _, err = list(2, "forged")
	requireInvalidField(t, what+": a forged page token", err, "pageToken")
	_, _, err = list(2, foreign)
	requireInvalidField(t, what+": another list's page token", err, "pageToken")
}

// secondPageToken is the token a list gives after its first item.
func secondPageToken[T any](t *testing.T, what string, list pageLister[T]) string {
	t.Helper()
	_, next, err := list(1, "")
	if err != nil || next == "" {
		t.Fatalf("%s: first page of one: next %q, %v", what, next, err)
	}
	return next
}

// The account's small lists page like the large ones: keyset pages in the documented order, every
// item exactly once, tokens bound to their list and query.
func TestSmallListsArePaged(t *testing.T) {
	t.Parallel()
	o := startLiveOrg(t)
	a := o.newTenant("Contoso MSP")

	types := func(size int32, token string) ([]*orgv1.OrganizationType, string, error) {
		r, err := o.orgs.ListOrganizationTypes(a.admin, &orgv1.ListOrganizationTypesRequest{AccountId: a.id, PageSize: size, PageToken: token})
		return r.GetOrganizationTypes(), r.GetNextPageToken(), err
	}
	statuses := func(size int32, token string) ([]*orgv1.OrganizationStatus, string, error) {
		r, err := o.orgs.ListOrganizationStatuses(a.admin, &orgv1.ListOrganizationStatusesRequest{AccountId: a.id, PageSize: size, PageToken: token})
		return r.GetOrganizationStatuses(), r.GetNextPageToken(), err
	}
	groups := func(archived bool) pageLister[*orgv1.Group] {
		return func(size int32, token string) ([]*orgv1.Group, string, error) {
			r, err := o.orgs.ListGroups(a.admin, &orgv1.ListGroupsRequest{AccountId: a.id, IncludeArchived: archived, PageSize: size, PageToken: token})
			return r.GetGroups(), r.GetNextPageToken(), err
		}
	}
	roles := func(size int32, token string) ([]*orgv1.Role, string, error) {
		r, err := o.access.ListRoles(a.admin, &orgv1.ListRolesRequest{AccountId: a.id, PageSize: size, PageToken: token})
		return r.GetRoles(), r.GetNextPageToken(), err
	}
	keys := func(size int32, token string) ([]*orgv1.ApiKey, string, error) {
		r, err := o.access.ListApiKeys(a.admin, &orgv1.ListApiKeysRequest{AccountId: a.id, PageSize: size, PageToken: token})
		return r.GetApiKeys(), r.GetNextPageToken(), err
	}

	// Organization types: the account starts with Customer, Vendor, Owner and Prospect.
	for _, n := range []string{"Partner", "Agency", "Reseller"} {
		if _, err := o.orgs.CreateOrganizationType(a.admin, &orgv1.CreateOrganizationTypeRequest{AccountId: a.id,
			OrganizationType: &orgv1.OrganizationType{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	wantTypes := []string{"Agency", "Customer", "Owner", "Partner", "Prospect", "Reseller", "Vendor"}
	walkPages(t, "types", 2, types, (*orgv1.OrganizationType).GetName, wantTypes)
	walkPages(t, "types", 7, types, (*orgv1.OrganizationType).GetName, wantTypes)
	requirePagingRefusals(t, "types", types, secondPageToken(t, "statuses", statuses))

	// Organization statuses: the account starts with Active and Inactive.
	for _, n := range []string{"Paused", "Churned", "Onboarding"} {
		if _, err := o.orgs.CreateOrganizationStatus(a.admin, &orgv1.CreateOrganizationStatusRequest{AccountId: a.id,
			OrganizationStatus: &orgv1.OrganizationStatus{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	walkPages(t, "statuses", 2, statuses, (*orgv1.OrganizationStatus).GetName, []string{"Active", "Churned", "Inactive", "Onboarding", "Paused"})
	requirePagingRefusals(t, "statuses", statuses, secondPageToken(t, "types", types))

	// Groups, the archived ones only when asked for.
	var north string
	for _, n := range []string{"West", "East", "North", "Central", "South"} {
		if id := o.group(a, n); n == "North" {
			north = id
		}
	}
	if _, err := o.orgs.UpdateGroup(a.admin, &orgv1.UpdateGroupRequest{AccountId: a.id,
		Group: &orgv1.Group{Id: north, Archived: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"archived"}}}); err != nil {
		t.Fatal(err)
	}
	walkPages(t, "live groups", 2, groups(false), (*orgv1.Group).GetName, []string{"Central", "East", "South", "West"})
	walkPages(t, "all groups", 2, groups(true), (*orgv1.Group).GetName, []string{"Central", "East", "North", "South", "West"})
	requirePagingRefusals(t, "groups", groups(false), secondPageToken(t, "types", types))
	// Whether archived groups are listed is part of the query the token is bound to.
	_, _, err := groups(false)(2, secondPageToken(t, "all groups", groups(true)))
	requireInvalidField(t, "a token of all groups reused for the live ones", err, "pageToken")

	// Roles: the three built-in ones first, in their fixed order, then custom ones by name
	// regardless of case.
	for _, n := range []string{"delta", "Alpha", "echo", "Charlie", "bravo"} {
		if _, err := o.access.CreateRole(a.admin, &orgv1.CreateRoleRequest{AccountId: a.id, Role: &orgv1.Role{Name: n,
			Permissions: areaPermissions(map[string]orgv1.PermissionLevel{"organizations": levelRO})}}); err != nil {
			t.Fatal(err)
		}
	}
	wantRoles := []string{"IT Provider Admin", "vCIO", "Engineer", "Alpha", "bravo", "Charlie", "delta", "echo"}
	walkPages(t, "roles", 2, roles, (*orgv1.Role).GetName, wantRoles)
	walkPages(t, "roles", 3, roles, (*orgv1.Role).GetName, wantRoles)
	requirePagingRefusals(t, "roles", roles, secondPageToken(t, "groups", groups(true)))

	// API keys, newest first: the account starts with its administrator's key, the oldest.
	first := allPages(t, "keys", 0, keys)
	if len(first) != 1 {
		t.Fatalf("a new account has %d keys, want 1", len(first))
	}
	wantKeys := []string{first[0].GetName()}
	adminRole := o.roleID(a, "IT Provider Admin")
	for i := range 4 {
		name := fmt.Sprintf("Script %d", i)
		if _, err := o.access.CreateApiKey(a.admin, &orgv1.CreateApiKeyRequest{AccountId: a.id,
			ApiKey: &orgv1.ApiKey{Name: name, RoleId: adminRole}}); err != nil {
			t.Fatal(err)
		}
		wantKeys = slices.Insert(wantKeys, 0, name)
	}
	walkPages(t, "keys", 2, keys, (*orgv1.ApiKey).GetName, wantKeys)
	requirePagingRefusals(t, "keys", keys, secondPageToken(t, "roles", roles))

	// Keys created at the same instant follow each other by id, descending: the order stays
	// total, and no page repeats or skips one of them.
	var tied int
	o.query(`WITH u AS (UPDATE org.api_keys SET created_at = '2026-01-01T00:00:00Z' WHERE account_id = $1 RETURNING 1)
		SELECT count(*) FROM u`, []any{a.id}, &tied)
	if tied != 5 {
		t.Fatalf("%d keys made to tie, want 5", tied)
	}
	var ids []string
	for _, k := range allPages(t, "keys", 0, keys) {
		ids = append(ids, k.GetId())
	}
	slices.SortFunc(ids, func(x, y string) int { return strings.Compare(y, x) })
	walkPages(t, "keys created at once", 2, keys, (*orgv1.ApiKey).GetId, ids)
}
