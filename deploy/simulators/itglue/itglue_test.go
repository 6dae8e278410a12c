package itglue_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/itglue"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

const key = "sim-key"

type listDoc struct {
	Data []struct {
		ID         string         `json:"id"`
		Type       string         `json:"type"`
		Attributes map[string]any `json:"attributes"`
	} `json:"data"`
	Meta struct {
		CurrentPage int  `json:"current-page"`
		NextPage    *int `json:"next-page"`
		PrevPage    *int `json:"prev-page"`
		TotalPages  int  `json:"total-pages"`
		TotalCount  int  `json:"total-count"`
	} `json:"meta"`
	Links  map[string]any `json:"links"`
	Errors []struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Source struct {
			Pointer   string `json:"pointer"`
			Parameter string `json:"parameter"`
		} `json:"source"`
	} `json:"errors"`
}

type fixture struct {
	sim  *itglue.Server
	base string
}

func newFixture(t *testing.T, n int) fixture {
	t.Helper()
	s := itglue.New(itglue.Options{APIKey: key})
	for i := range n {
		s.Tool().Store.Add(simkit.Company{Name: fmt.Sprintf("Org %03d", i+1), Active: true})
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return fixture{sim: s, base: srv.URL}
}

// call sends a request with the tenant's key (apiKey "-": none) and decodes the answer.
func (f fixture) call(t *testing.T, method, path, apiKey, body string) (int, listDoc, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if apiKey != "-" {
		req.Header.Set("x-api-key", apiKey)
	}
	if body != "" {
		req.Header.Set("Content-Type", itglue.ContentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	// A single resource reads as a one-item list, so every answer fits listDoc.
	if d := raw["data"]; len(d) > 0 && d[0] == '{' {
		raw["data"] = append(append([]byte{'['}, d...), ']')
	}
	b, _ := json.Marshal(raw)
	var doc listDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s %s: unexpected shape: %v", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != itglue.ContentType {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, doc, resp.Header
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	for _, tc := range []struct {
		key    string
		status int
	}{{"-", 401}, {"wrong", 403}, {key, 200}} {
		status, doc, _ := f.call(t, "GET", "/organizations", tc.key, "")
		if status != tc.status {
			t.Errorf("key %q: status %d, want %d", tc.key, status, tc.status)
		}
		if tc.status != 200 && (len(doc.Errors) != 1 || doc.Errors[0].Status != tc.status || doc.Errors[0].Detail == "") {
			t.Errorf("key %q: error body %+v", tc.key, doc.Errors)
		}
	}
	if s := f.sim.Tool().Acct.Snapshot(); s.Unauthorized != 2 {
		t.Errorf("unauthorized = %d, want 2", s.Unauthorized)
	}
}

func TestPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 120)
	_, doc, _ := f.call(t, "GET", "/organizations", key, "")
	if len(doc.Data) != 50 || doc.Meta.TotalCount != 120 || doc.Meta.TotalPages != 3 || *doc.Meta.NextPage != 2 || doc.Meta.PrevPage != nil {
		t.Fatalf("default page: %d items, meta %+v", len(doc.Data), doc.Meta)
	}
	if doc.Data[0].Type != "organizations" || doc.Data[0].Attributes["organization-type-name"] != "Customer" {
		t.Errorf("resource = %+v", doc.Data[0])
	}
	_, doc, _ = f.call(t, "GET", "/organizations?page[number]=3&page[size]=50", key, "")
	if len(doc.Data) != 20 || doc.Meta.NextPage != nil || *doc.Meta.PrevPage != 2 || doc.Links["next"] != nil {
		t.Fatalf("last page: %d items, meta %+v links %v", len(doc.Data), doc.Meta, doc.Links)
	}
	_, doc, _ = f.call(t, "GET", "/organizations?page[number]=9", key, "")
	if len(doc.Data) != 0 || doc.Meta.TotalCount != 120 {
		t.Fatalf("beyond the last page: %d items", len(doc.Data))
	}
	_, doc, _ = f.call(t, "GET", "/organizations?page[size]=1000", key, "")
	if len(doc.Data) != 120 || doc.Meta.TotalPages != 1 {
		t.Fatalf("max page: %d items", len(doc.Data))
	}
	for _, q := range []string{"page[size]=1001", "page[size]=0", "page[number]=0", "page[number]=x"} {
		status, doc, _ := f.call(t, "GET", "/organizations?"+q, key, "")
		if status != 400 || len(doc.Errors) == 0 || doc.Errors[0].Source.Parameter == "" {
			t.Errorf("%s: status %d errors %+v, want 400 naming the parameter", q, status, doc.Errors)
		}
	}
}

func ids(doc listDoc) []string {
	out := make([]string, 0, len(doc.Data))
	for _, d := range doc.Data {
		out = append(out, d.ID)
	}
	return out
}

func TestFiltersAndSort(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	st := f.sim.Tool().Store
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"Bravo", "Alpha", "Charlie", "alpha"} {
		at := t0.Add(time.Duration(i) * time.Hour)
		st.SetClock(func() time.Time { return at })
		st.Add(simkit.Company{Name: name, Active: true, TypeID: 102})
	}
	cases := []struct {
		query string
		want  string
	}{
		{"filter[name]=Alpha", "1002"},
		{"filter[id]=1001,1003", "1001,1003"},
		{"filter[updated_at]=" + url.QueryEscape("2026-01-01T01:00:00Z, *"), "1002,1003,1004"},
		{"filter[updated_at]=" + url.QueryEscape("*, 2026-01-01T01:00:00Z"), "1001,1002"},
		{"filter[updated_at]=" + url.QueryEscape("2026-01-01T01:00:00Z, 2026-01-01T02:00:00Z"), "1002,1003"},
		{"filter[organization_type_id]=102", "1001,1002,1003,1004"},
		{"filter[organization_type_id]=101", ""},
		{"filter[exclude][id]=1001", "1002,1003,1004"},
		{"filter[psa_id]=7&filter[psa_integration_type]=manage", ""},
		{"sort=name", "1002,1001,1003,1004"},
		{"sort=-id", "1004,1003,1002,1001"},
		{"sort=-updated_at", "1004,1003,1002,1001"},
	}
	for _, tc := range cases {
		status, doc, _ := f.call(t, "GET", "/organizations?"+tc.query, key, "")
		if got := strings.Join(ids(doc), ","); status != 200 || got != tc.want {
			t.Errorf("%s: status %d ids %q, want %q", tc.query, status, got, tc.want)
		}
	}
	for _, q := range []string{"filter[colour]=red", "filter[updated_at]=yesterday", "filter[id]=x", "sort=colour", "filter[psa_id]=7"} {
		if status, doc, _ := f.call(t, "GET", "/organizations?"+q, key, ""); status != 400 || len(doc.Errors) == 0 {
			t.Errorf("%s: status %d, want 400", q, status)
		}
	}
}

func TestCreateValidatesLikeITGlue(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	status, doc, _ := f.call(t, "POST", "/organizations", key, `{"data":{"type":"organizations","attributes":{"organization_type_id":102}}}`)
	if status != 422 || len(doc.Errors) != 1 || doc.Errors[0].Source.Pointer != "/data/attributes/name" {
		t.Fatalf("no name: %d %+v", status, doc.Errors)
	}
	status, doc, _ = f.call(t, "POST", "/organizations", key, `{"data":{"type":"organizations","attributes":{"name":"X","organization_type_id":999,"parent_id":5}}}`)
	if status != 422 || len(doc.Errors) != 2 {
		t.Fatalf("bad type and parent: %d %+v", status, doc.Errors)
	}
	status, doc, _ = f.call(t, "POST", "/organizations", key, `{"data":{"type":"organizations","attributes":{"name":"ACME Dental","organization_type_id":"102","organization_status_id":202,"short_name":"ACME"}}}`)
	if status != 201 {
		t.Fatalf("create: %d %+v", status, doc.Errors)
	}
	c, _ := f.sim.Tool().Store.Get(1001)
	if c.Name != "ACME Dental" || c.TypeID != 102 || c.StatusID != 202 || c.Active || c.Identifier != "ACME" {
		t.Fatalf("stored %+v", c)
	}
}

func TestUpdateAndBulkDeleteWithSubOrganizations(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	st := f.sim.Tool().Store
	root := st.Add(simkit.Company{Name: "Root", Active: true})
	child := st.Add(simkit.Company{Name: "Child", Active: true, ParentID: root.ID})
	grandchild := st.Add(simkit.Company{Name: "Grandchild", Active: true, ParentID: child.ID})
	other := st.Add(simkit.Company{Name: "Other", Active: true})

	_, doc, _ := f.call(t, "GET", fmt.Sprintf("/organizations?filter[id]=%d", grandchild.ID), key, "")
	if len(doc.Data) != 1 {
		t.Fatalf("grandchild not listed: %+v", doc)
	}
	a := doc.Data[0].Attributes
	if fmt.Sprint(a["ancestor-ids"]) != fmt.Sprintf("[%d %d]", root.ID, child.ID) || a["parent-id"] != float64(child.ID) {
		t.Errorf("grandchild parent-id %v ancestor-ids %v", a["parent-id"], a["ancestor-ids"])
	}

	status, _, _ := f.call(t, "PATCH", fmt.Sprintf("/organizations/%d", root.ID), key, fmt.Sprintf(`{"data":{"type":"organizations","attributes":{"parent_id":%d}}}`, grandchild.ID))
	if status != 422 {
		t.Errorf("parent cycle: status %d, want 422", status)
	}
	status, _, _ = f.call(t, "PATCH", fmt.Sprintf("/organizations/%d", other.ID), key, `{"data":{"type":"organizations","attributes":{"name":"Other Inc.","organization_status_id":202}}}`)
	if c, _ := st.Get(other.ID); status != 200 || c.Name != "Other Inc." || c.Active || c.TypeID != 101 {
		t.Errorf("patch: status %d stored %+v", status, c)
	}

	status, _, _ = f.call(t, "DELETE", "/organizations", key, `{"data":[{"type":"organizations","attributes":{"id":99999}}]}`)
	if status != 404 {
		t.Errorf("unknown id: status %d, want 404", status)
	}
	status, _, _ = f.call(t, "DELETE", "/organizations", key, fmt.Sprintf(`{"data":[{"type":"organizations","attributes":{"id":%d}}]}`, root.ID))
	if status != 200 {
		t.Fatalf("delete: status %d", status)
	}
	if st.Len() != 1 {
		t.Fatalf("left %v, want only %d", st.All(), other.ID)
	}
	if status, _, _ := f.call(t, "GET", fmt.Sprintf("/organizations/%d", child.ID), key, ""); status != 404 {
		t.Errorf("deleted child: %d, want 404", status)
	}
	// The companies added to the store are not writes, nor the refused requests; the patch and
	// the three deletions of the bulk destroy are.
	var got []string
	for _, w := range f.sim.Tool().Writes() {
		got = append(got, fmt.Sprintf("%s %d %v", w.Action, w.CompanyID, w.Fields))
	}
	want := []string{fmt.Sprintf("update %d [name statusId active]", other.ID), fmt.Sprintf("delete %d []", root.ID),
		fmt.Sprintf("delete %d []", child.ID), fmt.Sprintf("delete %d []", grandchild.ID)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("writes %q, want %q", got, want)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	if limit, span := f.sim.Tool().Quota.Limits(); limit != 3000 || span != 5*time.Minute {
		t.Fatalf("default quota %d per %v", limit, span)
	}
	f.sim.Tool().SetQuota(2, time.Minute)
	for range 2 {
		if status, _, _ := f.call(t, "GET", "/organization_types", key, ""); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	status, doc, h := f.call(t, "GET", "/organization_statuses", key, "")
	if status != 429 || h.Get("Retry-After") == "" || len(doc.Errors) != 1 {
		t.Fatalf("over quota: %d retry-after %q errors %+v", status, h.Get("Retry-After"), doc.Errors)
	}
}

func TestSeedDefault(t *testing.T) {
	t.Parallel()
	s := itglue.New(itglue.Options{APIKey: key})
	base := simkit.BaseNames(200, 1)
	s.SeedDefault(base)
	all := s.Tool().Store.All()
	if len(all) >= 200 || len(all) < 180 {
		t.Fatalf("seeded %d of 200 (some removed)", len(all))
	}
	subs, inactive := 0, 0
	for _, c := range all {
		if c.ParentID != 0 {
			subs++
		}
		if !c.Active {
			inactive++
			if simkit.OptionName(s.Tool().Store.Statuses, c.StatusID) != "Inactive" {
				t.Errorf("inactive %q has status %d", c.Name, c.StatusID)
			}
		}
		if c.Deleted {
			t.Errorf("%q flagged deleted; IT Glue removes", c.Name)
		}
	}
	if subs == 0 || inactive == 0 {
		t.Fatalf("subs %d inactive %d", subs, inactive)
	}
	if all[0].Name == base[0] {
		t.Errorf("first name %q spelled as the registry does", all[0].Name)
	}
}
