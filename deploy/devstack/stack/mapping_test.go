package stack_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The mapping service's first route crosses three services: the gateway routes it (learned from
// mapping's spec), mapping asks org whether the caller may see the organization, and mapping's
// consumer of organization.deleted drops the organization's links.
func TestOrganizationLinksFollowVisibilityAndDeletion(t *testing.T) {
	w := startWorld(t)
	a, b := w.newMSP("Contoso MSP"), w.newMSP("Fabrikam IT")
	group := w.must(200, "POST", "/v1/accounts/"+a.id+"/groups", a.adminKey, `{"name":"East"}`)["id"].(string)
	east := w.createOrg(a, a.adminKey, `{"name":"Acme","groupIds":["`+group+`"]}`)["id"].(string)
	west := w.createOrg(a, a.adminKey, `{"name":"Globex"}`)["id"].(string)

	// A link as "Add from IT Glue" will make them; this issue has no route that writes one yet.
	integration := uuid.NewString()
	conn, err := pgx.Connect(context.Background(), w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `INSERT INTO mapping.links (account_id, organization_id, integration_id,
		external_organization_id, external_name, method, created_by, created_at) VALUES ($1, $2, $3, '4711', 'ACME Corp', 2, 'test', now())`,
		a.id, east, integration)
	if err != nil {
		t.Fatal(err)
	}
	links := func(key, org string) (int, []any) {
		r := w.do("GET", "/v1/accounts/"+a.id+"/organizations/"+org+"/links", key, "")
		if r.code != http.StatusOK {
			return r.code, nil
		}
		return r.code, r.json(t)["links"].([]any)
	}
	if code, got := links(a.adminKey, east); code != 200 || len(got) != 1 ||
		got[0].(map[string]any)["externalName"] != "ACME Corp" || got[0].(map[string]any)["method"] != "LINK_METHOD_IMPORT" {
		t.Fatalf("admin reads the link: %d %v", code, got)
	}
	if code, got := links(a.adminKey, west); code != 200 || len(got) != 0 {
		t.Fatalf("an unmapped organization: %d %v", code, got)
	}

	// A malformed id is refused as bad input naming the field, before anything is read.
	if r := w.do("GET", "/v1/accounts/"+a.id+"/organizations/not-a-uuid/links", a.adminKey, ""); r.code != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "organizationId") {
		t.Errorf("a malformed organization id got %d %s, want 400 naming organizationId", r.code, r.body)
	}

	// Group visibility is org's rule, and mapping keeps it: a user limited to no group that
	// covers east gets 404 as for any organization it may not see.
	other := w.must(200, "POST", "/v1/accounts/"+a.id+"/groups", a.adminKey, `{"name":"West"}`)["id"].(string)
	_, westKey := w.keyFor(a, "wes@example.com", "vCIO", other)
	if code, _ := links(westKey, east); code != http.StatusNotFound {
		t.Errorf("a user outside the organization's groups got %d, want 404", code)
	}
	// Another tenant learns nothing.
	if r := w.do("GET", "/v1/accounts/"+a.id+"/organizations/"+east+"/links", b.adminKey, ""); r.code != http.StatusNotFound {
		t.Errorf("another account got %d, want 404", r.code)
	}
	// A role without mappings access is refused.
	w.must(200, "POST", "/v1/accounts/"+a.id+"/roles", a.adminKey, `{"name":"Billing clerk","permissions":{"subscription":"PERMISSION_LEVEL_FULL"}}`)
	_, clerkKey := w.keyFor(a, "clerk@example.com", "Billing clerk")
	if code, _ := links(clerkKey, east); code != http.StatusForbidden {
		t.Errorf("a role without mappings got %d, want 403", code)
	}

	// Deleting the organization drops its links, through organization.deleted.
	w.must(200, "DELETE", "/v1/accounts/"+a.id+"/organizations/"+east, a.adminKey, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM mapping.links WHERE organization_id = $1`, east).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deleted organization's links are still there")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
