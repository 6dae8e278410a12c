package rpc

import (
	"strings"
	"testing"

	"buf.build/go/protovalidate"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

func fieldOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// TestFieldsAreNamedAsRESTClientsSpellThem covers the three sources of field names: the text
// validator, protovalidate's rules and the domains' errors, for a body that is one field of the
// request, the whole request, and a bulk list.
func TestFieldsAreNamedAsRESTClientsSpellThem(t *testing.T) {
	sh := &shapes{}
	update := "/orgplane.org.v1.OrganizationService/UpdateOrganization"
	bulk := "/orgplane.org.v1.OrganizationService/BulkCreateOrganizations"
	review := "/orgplane.org.v1.ReviewService/CreateReview"
	updMD := (&orgv1.UpdateOrganizationRequest{}).ProtoReflect().Descriptor()
	bulkMD := (&orgv1.BulkCreateOrganizationsRequest{}).ProtoReflect().Descriptor()
	reviewMD := (&orgv1.CreateReviewRequest{}).ProtoReflect().Descriptor()
	for _, c := range []struct{ method, in, want string }{
		{update, "organization.parent_id", "parentId"},
		{update, "organization.default_engineer_id", "defaultEngineerId"},
		{update, "account_id", "accountId"},
	} {
		if got := restField(updMD, sh.of(c.method), c.in); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.method, c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"organizations[3].name", "organizations[3].name"},
		{"organizations[3].default_vcio_id", "organizations[3].defaultVcioId"},
	} {
		if got := restField(bulkMD, sh.of(bulk), c.in); got != c.want {
			t.Errorf("bulk %s = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"due_date", "dueDate"},
		{"review.organization_id", "organizationId"},
	} {
		if got := restField(reviewMD, sh.of(review), c.in); got != c.want {
			t.Errorf("review %s = %q, want %q", c.in, got, c.want)
		}
	}

	// The text validator and protovalidate name a bulk item by its index.
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	req := &orgv1.BulkCreateOrganizationsRequest{AccountId: "00000000-0000-4000-8000-000000000001",
		Organizations: []*orgv1.Organization{{Name: "A"}, {Name: "B"}, {Name: "C"}, {Name: "D\u202e"}}}
	if got := fieldOf(validateRequest(v, sh, bulk, req)); got != "organizations[3].name" {
		t.Errorf("text violation names %q", got)
	}
	req.Organizations[3].Name = "D"
	req.Organizations[3].Notes = strings.Repeat("x", 20000)
	if got := fieldOf(validateRequest(v, sh, bulk, req)); got != "organizations[3].notes" {
		t.Errorf("notes of item 3: %q", got)
	}
	// Notes may break lines; names may not.
	req.Organizations[3].Notes = "line one\nline two"
	if err := validateRequest(v, sh, bulk, req); err != nil {
		t.Errorf("multi-line notes refused: %v", err)
	}
}
