package orgsvc_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// Over gRPC: the request_id reaches the use case (a repeat answers with the same organizations),
// a reuse for other names is 409 (ALREADY_EXISTS) with reason REQUEST_ID_REUSED naming
// requestId, and a request_id that is not a UUID is refused before anything runs.
func TestBulkCreateRequestIDOverGRPC(t *testing.T) {
	t.Parallel()
	h := startOrgHarness(t)
	acct := createAccount(t, h.accounts, "Contoso MSP")
	ctx := identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: acct.GetId(),
		Permissions: []string{"organizations:read", "organizations:write"}})
	const rid = "0d9e3c52-7f1b-4a86-b0f4-5a2c9e7d1b33"
	req := func(requestID string, names ...string) *orgv1.BulkCreateOrganizationsRequest {
		r := &orgv1.BulkCreateOrganizationsRequest{AccountId: acct.GetId(), RequestId: requestID}
		for _, n := range names {
			r.Organizations = append(r.Organizations, &orgv1.Organization{Name: n})
		}
		return r
	}
	ids := func(resp *orgv1.BulkCreateOrganizationsResponse) []string {
		var out []string
		for _, o := range resp.GetOrganizations() {
			out = append(out, o.GetId())
		}
		return out
	}
	first, err := h.orgs.BulkCreateOrganizations(ctx, req(rid, "Acme", "Globex"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.orgs.BulkCreateOrganizations(ctx, req(rid, "Acme", "Globex"))
	if err != nil || !slices.Equal(ids(again), ids(first)) || len(ids(first)) != 2 {
		t.Fatalf("repeat answered %v (%v), first %v", ids(again), err, ids(first))
	}

	_, err = h.orgs.BulkCreateOrganizations(ctx, req(rid, "Acme", "Initech"))
	st := status.Convert(err)
	var reason string
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			reason = ei.GetReason()
		}
	}
	if st.Code() != codes.AlreadyExists || reason != "REQUEST_ID_REUSED" || !strings.HasPrefix(st.Message(), "requestId: ") {
		t.Fatalf("request id reused: %v (reason %q)", err, reason)
	}

	if _, err := h.orgs.BulkCreateOrganizations(ctx, req("not-a-uuid", "Umbrella")); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("request id not a UUID: %v", err)
	}
	var orgs, requests int
	if err := h.db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM org.organizations WHERE account_id = $1),
			(SELECT count(*) FROM org.bulk_create_requests WHERE account_id = $1)`, acct.GetId()).Scan(&orgs, &requests); err != nil {
		t.Fatal(err)
	}
	if orgs != 2 || requests != 1 {
		t.Fatalf("%d organizations and %d recorded requests, want 2 and 1", orgs, requests)
	}
}
