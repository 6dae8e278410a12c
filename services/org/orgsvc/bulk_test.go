package orgsvc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

func TestBulkCreateIsAllOrNothingAndExact(t *testing.T) {
	h := startOrgHarness(t)
	acct := createAccount(t, h.accounts, "Contoso MSP")
	ctx := context.Background()
	as := identity.With(ctx, identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: acct.GetId(),
		Permissions: []string{"organizations:read", "organizations:write"}})
	if _, err := h.db.Exec(ctx, `UPDATE org.account_limits SET organization_limit = 1500 WHERE account_id = $1`, acct.GetId()); err != nil {
		t.Fatal(err)
	}
	batch := func(prefix string, n int) []*orgv1.Organization {
		out := make([]*orgv1.Organization, n)
		for i := range out {
			out[i] = &orgv1.Organization{Name: fmt.Sprintf("%s %05d", prefix, i), Notes: "imported"}
		}
		return out
	}
	resp, err := h.orgs.BulkCreateOrganizations(as, &orgv1.BulkCreateOrganizationsRequest{AccountId: acct.GetId(), Organizations: batch("A", 1000)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetOrganizations()) != 1000 || resp.GetOrganizations()[999].GetName() != "A 00999" || resp.GetOrganizations()[999].GetId() == "" {
		t.Fatalf("bulk create returned %d organizations", len(resp.GetOrganizations()))
	}
	// 600 more would pass the limit of 1500: none is created.
	_, err = h.orgs.BulkCreateOrganizations(as, &orgv1.BulkCreateOrganizationsRequest{AccountId: acct.GetId(), Organizations: batch("B", 600)})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "1000 of 1500 licenses in use, 500 remaining, 600 requested") {
		t.Fatalf("over the limit: %v", err)
	}
	dup := batch("C", 3)
	dup[2].Name = dup[0].Name
	_, err = h.orgs.BulkCreateOrganizations(as, &orgv1.BulkCreateOrganizationsRequest{AccountId: acct.GetId(), Organizations: dup})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("repeated name: %v", err)
	}
	// A name that already exists fails the whole batch.
	_, err = h.orgs.BulkCreateOrganizations(as, &orgv1.BulkCreateOrganizationsRequest{AccountId: acct.GetId(),
		Organizations: []*orgv1.Organization{{Name: "New one"}, {Name: "A 00001"}}})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("existing name: %v", err)
	}
	var orgs, events int
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM org.organizations WHERE account_id = $1`, acct.GetId()).Scan(&orgs); err != nil {
		t.Fatal(err)
	}
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM org.outbox WHERE subject LIKE 'orgplane.org.v1.%.organization.created'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if orgs != 1000 || events != 1000 {
		t.Fatalf("%d organizations and %d organization.created events, want 1000 each", orgs, events)
	}
	search, err := h.orgs.ListOrganizations(as, &orgv1.ListOrganizationsRequest{AccountId: acct.GetId(), Query: "a 0099"})
	if err != nil || search.GetTotalSize() != 10 {
		t.Fatalf("bulk-created organizations are searchable: %v %v", search.GetTotalSize(), err)
	}
}
