package stack_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// A bulk create refused because an item's name is taken says which item, as the REST caller
// spells it, and creates nothing.
func TestBulkCreateConflictNamesTheItem(t *testing.T) {
	w := startWorldWithoutEventTap(t)
	a := w.newMSP("Contoso MSP")
	w.createOrg(a, a.adminKey, `{"name":"Acme"}`)
	r := w.do("POST", "/v1/accounts/"+a.id+"/organizations:bulkCreate", a.adminKey,
		`{"organizations":[{"name":"Zed"},{"name":"Acme"}]}`)
	if r.code != http.StatusConflict || !strings.Contains(string(r.body), "organizations[1].name") {
		t.Fatalf("bulk create over a taken name: %d %s, want 409 naming organizations[1].name", r.code, r.body)
	}
	if total := w.must(200, "GET", "/v1/accounts/"+a.id+"/organizations", a.adminKey, "")["totalSize"]; fmt.Sprint(total) != "1" {
		t.Fatalf("%v organizations after the refused bulk create, want 1", total)
	}
}
