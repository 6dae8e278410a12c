package stack_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/deploy/devstack/oapiclient"
)

func bearer(token string) oapiclient.ClientOption {
	return oapiclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}

func ptr[T any](v T) *T { return &v }

// badRequestFields lists the fields a google.rpc.BadRequest in the status names.
func badRequestFields(st *oapiclient.RpcStatus) []string {
	var fields []string
	if st == nil || st.Details == nil {
		return nil
	}
	for _, d := range *st.Details {
		if d.Type == nil || *d.Type != "type.googleapis.com/google.rpc.BadRequest" {
			continue
		}
		violations, _ := d.AdditionalProperties["fieldViolations"].([]any)
		for _, v := range violations {
			if m, ok := v.(map[string]any); ok {
				fields = append(fields, m["field"].(string))
			}
		}
	}
	return fields
}

// The client oapi-codegen generated from /openapi3.json (deploy/devstack/oapiclient) drives the
// running gateway with its own types: the operator creates an account, its administrator creates
// organizations and pages through them (totalSize a 64-bit integer, the state an enum), reads one,
// and is refused with the field named.
func TestOpenAPI3ClientDrivesTheGateway(t *testing.T) {
	s := startSuite(t)
	ctx := context.Background()
	op, err := oapiclient.NewClientWithResponses(s.st.GatewayURL, bearer(operatorToken))
	if err != nil {
		t.Fatal(err)
	}
	created, err := op.AccountServiceCreateAccountWithResponse(ctx, oapiclient.AccountServiceCreateAccountJSONRequestBody{
		Account:       oapiclient.V1Account{DisplayName: "Typed MSP"},
		Administrator: oapiclient.V1User{FirstName: ptr("Ada"), LastName: ptr("Admin"), Email: ptr("ada@typed.example")},
	})
	if err != nil || created.JSON200 == nil {
		t.Fatalf("create account: %v %d %s", err, created.StatusCode(), created.Body)
	}
	accountID := uuid.MustParse(*created.JSON200.Account.Id)
	admin, err := oapiclient.NewClientWithResponses(s.st.GatewayURL, bearer(*created.JSON200.AdministratorApiKey))
	if err != nil {
		t.Fatal(err)
	}

	names := []string{"Northwind Traders", "Tailspin Toys"}
	ids := map[string]string{}
	for _, name := range names {
		org, err := admin.OrganizationServiceCreateOrganizationWithResponse(ctx, accountID, oapiclient.V1Organization{Name: ptr(name)})
		if err != nil || org.JSON200 == nil {
			t.Fatalf("create %s: %v %d %s", name, err, org.StatusCode(), org.Body)
		}
		ids[name] = *org.JSON200.Id
	}

	// Two pages of one: totalSize counts both, the token leads to the second, the last has none.
	var seen []string
	params := &oapiclient.OrganizationServiceListOrganizationsParams{PageSize: ptr(int32(1))}
	for page := 1; ; page++ {
		list, err := admin.OrganizationServiceListOrganizationsWithResponse(ctx, accountID, params)
		if err != nil || list.JSON200 == nil {
			t.Fatalf("list page %d: %v %d %s", page, err, list.StatusCode(), list.Body)
		}
		l := list.JSON200
		if l.TotalSize == nil || *l.TotalSize != oapiclient.Int64(len(names)) {
			t.Fatalf("page %d: totalSize %v, want %d: %s", page, l.TotalSize, len(names), list.Body)
		}
		if l.Organizations == nil || len(*l.Organizations) != 1 {
			t.Fatalf("page %d of size 1: %s", page, list.Body)
		}
		seen = append(seen, *(*l.Organizations)[0].Name)
		if l.NextPageToken == nil || *l.NextPageToken == "" {
			break
		}
		if page == len(names) {
			t.Fatalf("a page token after the last organization: %s", list.Body)
		}
		params.PageToken = l.NextPageToken
	}
	if !slices.Equal(seen, names) {
		t.Fatalf("pages held %q, want %q in name order", seen, names)
	}

	// The enum filters as it reads: no organization is inactive.
	inactive, err := admin.OrganizationServiceListOrganizationsWithResponse(ctx, accountID,
		&oapiclient.OrganizationServiceListOrganizationsParams{State: ptr(oapiclient.V1OrganizationStateInactive)})
	if err != nil || inactive.JSON200 == nil || inactive.JSON200.TotalSize == nil || *inactive.JSON200.TotalSize != 0 {
		t.Fatalf("inactive organizations: %v %d %s", err, inactive.StatusCode(), inactive.Body)
	}

	id := uuid.MustParse(ids["Tailspin Toys"])
	got, err := admin.OrganizationServiceGetOrganizationWithResponse(ctx, accountID, id)
	if err != nil || got.JSON200 == nil {
		t.Fatalf("get: %v %d %s", err, got.StatusCode(), got.Body)
	}
	if o := got.JSON200; *o.Id != id.String() || *o.Name != "Tailspin Toys" || o.State == nil ||
		*o.State != oapiclient.V1OrganizationStateActive || o.CreateTime == nil || o.CreateTime.IsZero() {
		t.Fatalf("get returned %s", got.Body)
	}

	// Refusals arrive as the document's google.rpc.Status, naming the field as the client spells it:
	// one in the body, one in the query.
	blank, err := admin.OrganizationServiceCreateOrganizationWithResponse(ctx, accountID, oapiclient.V1Organization{Name: ptr("")})
	if err != nil || blank.JSON400 == nil {
		t.Fatalf("blank name: %v %d %s", err, blank.StatusCode(), blank.Body)
	}
	if fields := badRequestFields(blank.JSON400); !slices.Contains(fields, "name") ||
		blank.JSON400.Message == nil || !strings.Contains(*blank.JSON400.Message, "name") {
		t.Fatalf("a blank name is refused without naming name: %s", blank.Body)
	}
	tooMany, err := admin.OrganizationServiceListOrganizationsWithResponse(ctx, accountID,
		&oapiclient.OrganizationServiceListOrganizationsParams{PageSize: ptr(int32(5000))})
	if err != nil || tooMany.JSON400 == nil || !slices.Contains(badRequestFields(tooMany.JSON400), "pageSize") {
		t.Fatalf("pageSize 5000: %v %d %s", err, tooMany.StatusCode(), tooMany.Body)
	}
}
