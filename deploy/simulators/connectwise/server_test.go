package connectwise_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/connectwise"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

var opts = connectwise.Options{CompanyID: "orgplane", PublicKey: "pub", PrivateKey: "priv", ClientID: "client-guid"}

type fixture struct {
	t   *testing.T
	sim *connectwise.Server
	srv *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sim := connectwise.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &fixture{t: t, sim: sim, srv: srv}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(method, path string, body any, mutate ...func(*http.Request)) resp {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	req.Header.Set("clientId", opts.ClientID)
	req.SetBasicAuth(opts.CompanyID+"+"+opts.PublicKey, opts.PrivateKey)
	req.Header.Set("Content-Type", "application/json")
	for _, m := range mutate {
		m(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (f *fixture) api(method, path string, body any, mutate ...func(*http.Request)) resp {
	return f.do(method, f.sim.Prefix()+path, body, mutate...)
}

type company struct {
	ID          int64  `json:"id"`
	Identifier  string `json:"identifier"`
	Name        string `json:"name"`
	DeletedFlag bool   `json:"deletedFlag"`
	DateDeleted string `json:"dateDeleted"`
	Status      struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"status"`
	Types []struct {
		ID int64 `json:"id"`
	} `json:"types"`
	ParentCompany *struct {
		ID int64 `json:"id"`
	} `json:"parentCompany"`
	Info struct {
		LastUpdated string `json:"lastUpdated"`
	} `json:"_info"`
}

type cwError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Errors  []struct {
		Code  string `json:"code"`
		Field string `json:"field"`
	} `json:"errors"`
}

func decode[T any](t *testing.T, r resp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

func (f *fixture) add(n int) {
	for i := range n {
		f.sim.Tool().Store.Add(simkit.Company{Name: "Company " + string(rune('A'+i%26)) + " " + time.Duration(i).String(), Active: true})
	}
}

func TestCompanyInfoGivesCodebaseWithoutAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.do("GET", "/login/companyinfo/ORGPLANE", nil, func(r *http.Request) { r.Header.Del("Authorization"); r.Header.Del("clientId") })
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	info := decode[map[string]any](t, r)
	if info["Codebase"] != "v4_6_release/" || info["IsCloud"] != true || info["CompanyID"] != "orgplane" {
		t.Fatalf("companyinfo %v", info)
	}
	if r := f.do("GET", "/login/companyinfo/someoneelse", nil); r.status != 404 {
		t.Fatalf("unknown company: %d", r.status)
	}
}

func TestAuthNeedsClientIDAndKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		name   string
		mutate func(*http.Request)
		want   int
	}{
		{"good", func(*http.Request) {}, 200},
		{"company id is case-insensitive", func(r *http.Request) { r.SetBasicAuth("ORGPLANE+pub", "priv") }, 200},
		{"no clientId", func(r *http.Request) { r.Header.Del("clientId") }, 401},
		{"wrong clientId", func(r *http.Request) { r.Header.Set("clientId", "other") }, 401},
		{"no basic", func(r *http.Request) { r.Header.Del("Authorization") }, 401},
		{"wrong private key", func(r *http.Request) { r.SetBasicAuth("orgplane+pub", "nope") }, 401},
		{"wrong company", func(r *http.Request) { r.SetBasicAuth("other+pub", "priv") }, 401},
		{"no plus", func(r *http.Request) { r.SetBasicAuth("pub", "priv") }, 401},
	}
	for _, c := range cases {
		r := f.api("GET", "/system/info", nil, c.mutate)
		if r.status != c.want {
			t.Errorf("%s: status %d want %d", c.name, r.status, c.want)
		}
		if c.want == 401 {
			e := decode[cwError](t, r)
			if e.Code == "" || e.Message == "" {
				t.Errorf("%s: error body %s", c.name, r.body)
			}
			if strings.Contains(string(r.body), "priv") {
				t.Errorf("%s: body echoes a key", c.name)
			}
		}
	}
}

func TestPagingLinkHeaderAndLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.add(60)
	r := f.api("GET", "/company/companies?pageSize=25&orderBy=id%20asc", nil)
	page := decode[[]company](t, r)
	if len(page) != 25 {
		t.Fatalf("page 1 has %d", len(page))
	}
	links := parseLinks(r.header.Get("Link"))
	if links["next"] == "" || links["last"] == "" || links["first"] != "" || links["prev"] != "" {
		t.Fatalf("page 1 links %q", r.header.Get("Link"))
	}
	u, _ := url.Parse(links["last"])
	if u.Query().Get("page") != "3" || u.Query().Get("orderBy") != "id asc" {
		t.Fatalf("last link %q", links["last"])
	}
	u, _ = url.Parse(links["next"])
	r = f.do("GET", u.RequestURI(), nil)
	second := decode[[]company](t, r)
	if len(second) != 25 || second[0].ID != page[24].ID+1 {
		t.Fatalf("page 2 starts at %d after %d", second[0].ID, page[24].ID)
	}
	r = f.api("GET", "/company/companies?pageSize=25&page=3", nil)
	third := decode[[]company](t, r)
	links = parseLinks(r.header.Get("Link"))
	if len(third) != 10 || links["next"] != "" || links["last"] != "" || links["first"] == "" || links["prev"] == "" {
		t.Fatalf("last page: %d companies, links %q", len(third), r.header.Get("Link"))
	}
	// Default page size 25; above 1000 is clamped to 1000.
	if n := len(decode[[]company](t, f.api("GET", "/company/companies", nil))); n != 25 {
		t.Fatalf("default page size gave %d", n)
	}
	f.add(1100)
	r = f.api("GET", "/company/companies?pagesize=5000", nil)
	if n := len(decode[[]company](t, r)); n != 1000 {
		t.Fatalf("pageSize 5000 gave %d", n)
	}
	// Order.
	byName := decode[[]company](t, f.api("GET", "/company/companies?orderBy=name%20desc&pageSize=1000", nil))
	for i := 1; i < len(byName); i++ {
		if strings.ToLower(byName[i-1].Name) < strings.ToLower(byName[i].Name) {
			t.Fatalf("not name desc at %d: %q < %q", i, byName[i-1].Name, byName[i].Name)
		}
	}
	if r := f.api("GET", "/company/companies?orderBy=shoeSize%20asc", nil); r.status != 400 {
		t.Fatalf("bad orderBy: %d", r.status)
	}
}

func parseLinks(h string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(h, ",") {
		u, rel, ok := strings.Cut(part, ";")
		if !ok {
			continue
		}
		u = strings.Trim(strings.TrimSpace(u), "<>")
		rel = strings.TrimSpace(rel)
		rel = strings.Trim(strings.TrimPrefix(rel, "rel="), `"`)
		out[rel] = u
	}
	return out
}

func TestConditions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	f.sim.Tool().Store.SetClock(func() time.Time { return old })
	acme := f.create(t, "ACME", "Acme Dental, LLC", 1, 0)
	f.sim.Tool().Store.SetClock(time.Now)
	north := f.create(t, "NORTH", "Northwind Law Group", 2, 0)
	site := f.create(t, "NORTH2", "Northwind Annex", 1, north.ID)
	f.api("PATCH", "/company/companies/"+itoa(site.ID), []map[string]any{{"op": "replace", "path": "status/id", "value": 2}})
	gone := f.create(t, "GONE", "Gone Corp.", 1, 0)
	f.api("DELETE", "/company/companies/"+itoa(gone.ID), nil)

	cases := []struct {
		cond string
		want []int64
	}{
		{`name="acme dental, llc"`, []int64{acme.ID}},
		{`name != "Acme Dental, LLC"`, []int64{north.ID, site.ID, gone.ID}},
		{`name contains "wind"`, []int64{north.ID, site.ID}},
		{`name like "North*"`, []int64{north.ID, site.ID}},
		{`name like "%annex"`, []int64{site.ID}},
		{`identifier = "GONE"`, []int64{gone.ID}},
		{`id > ` + itoa(acme.ID) + ` and id <= ` + itoa(site.ID), []int64{north.ID, site.ID}},
		{`id >= ` + itoa(gone.ID) + ` OR id < ` + itoa(north.ID), []int64{acme.ID, gone.ID}},
		{`status/name = "Inactive"`, []int64{site.ID}},
		{`status/id = 1 and deletedFlag = false`, []int64{acme.ID, north.ID}},
		{`deletedFlag=true`, []int64{gone.ID}},
		{`parentCompany/id = ` + itoa(north.ID), []int64{site.ID}},
		{`parentCompany/id = null and types/id = 1`, []int64{acme.ID, gone.ID}},
		{`lastUpdated > [2024-06-01T00:00:00Z]`, []int64{north.ID, site.ID, gone.ID}},
		{`lastUpdated <= [2024-01-01T00:00:00Z]`, []int64{acme.ID}},
		{`(name contains "acme" or name contains "gone") and deletedFlag = false`, []int64{acme.ID}},
		{`name contains "acme" or (name contains "gone" and deletedFlag = false)`, []int64{acme.ID}},
		{`id in (` + itoa(acme.ID) + `, ` + itoa(gone.ID) + `)`, []int64{acme.ID, gone.ID}},
	}
	for _, c := range cases {
		r := f.api("GET", "/company/companies?pageSize=1000&conditions="+url.QueryEscape(c.cond), nil)
		if r.status != 200 {
			t.Errorf("%s: status %d %s", c.cond, r.status, r.body)
			continue
		}
		if got := ids(decode[[]company](t, r)); !equal(got, c.want) {
			t.Errorf("%s: got %v want %v", c.cond, got, c.want)
		}
		// The same through search and count.
		r = f.api("POST", "/company/companies/search?pageSize=1000", map[string]string{"conditions": c.cond})
		if got := ids(decode[[]company](t, r)); !equal(got, c.want) {
			t.Errorf("search %s: got %v want %v", c.cond, got, c.want)
		}
		r = f.api("GET", "/company/companies/count?conditions="+url.QueryEscape(c.cond), nil)
		if n := decode[map[string]int](t, r)["count"]; n != len(c.want) {
			t.Errorf("count %s: %d want %d", c.cond, n, len(c.want))
		}
	}
	for _, bad := range []string{`name = Acme`, `shoeSize = 4`, `id = "x"`, `name >`, `(name = "a"`, `deletedFlag > true`,
		`lastUpdated > "2024"`, `lastUpdated > [yesterday]`, `name = "a" xor id = 1`, `id contains 4`} {
		r := f.api("GET", "/company/companies?conditions="+url.QueryEscape(bad), nil)
		e := decode[cwError](t, r)
		if r.status != 400 || e.Code != "InvalidObject" || e.Message == "" || len(e.Errors) == 0 {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
}

func (f *fixture) create(t *testing.T, ident, name string, typeID, parent int64) company {
	t.Helper()
	body := map[string]any{"identifier": ident, "name": name, "status": map[string]any{"id": 1}, "types": []map[string]any{{"id": typeID}}}
	if parent != 0 {
		body["parentCompany"] = map[string]any{"id": parent}
	}
	r := f.api("POST", "/company/companies", body)
	if r.status != 201 {
		t.Fatalf("create %s: %d %s", name, r.status, r.body)
	}
	return decode[company](t, r)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func ids(cs []company) []int64 {
	out := make([]int64, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.create(t, "TAKEN", "Taken Inc.", 1, 0)
	long := strings.Repeat("x", 51)
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no identifier", map[string]any{"name": "A", "types": []map[string]any{{"id": 1}}}, "identifier"},
		{"identifier too long", map[string]any{"identifier": strings.Repeat("A", 31), "name": "A", "types": []map[string]any{{"id": 1}}}, "identifier"},
		{"duplicate identifier", map[string]any{"identifier": "taken", "name": "A", "types": []map[string]any{{"id": 1}}}, "identifier"},
		{"no name", map[string]any{"identifier": "NEW", "types": []map[string]any{{"id": 1}}}, "name"},
		{"name too long", map[string]any{"identifier": "NEW", "name": long, "types": []map[string]any{{"id": 1}}}, "name"},
		{"no types", map[string]any{"identifier": "NEW", "name": "A"}, "types"},
		{"unknown type", map[string]any{"identifier": "NEW", "name": "A", "types": []map[string]any{{"id": 99}}}, "types"},
		{"unknown status", map[string]any{"identifier": "NEW", "name": "A", "status": map[string]any{"id": 99}, "types": []map[string]any{{"id": 1}}}, "status"},
		{"unknown parent", map[string]any{"identifier": "NEW", "name": "A", "parentCompany": map[string]any{"id": 5}, "types": []map[string]any{{"id": 1}}}, "parentCompany"},
	}
	for _, c := range cases {
		r := f.api("POST", "/company/companies", c.body)
		e := decode[cwError](t, r)
		if r.status != 400 || e.Code != "InvalidObject" || len(e.Errors) == 0 || e.Errors[0].Field != c.field {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	ok := f.create(t, strings.Repeat("A", 30), strings.Repeat("n", 50), 3, 0)
	if ok.Status.Name != "Active" || len(ok.Types) != 1 || ok.Types[0].ID != 3 {
		t.Fatalf("created %+v", ok)
	}
}

func TestPatchPutAndTypesAreFixed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	parent := f.create(t, "P", "Parent", 1, 0)
	c := f.create(t, "C", "Child", 2, 0)
	path := "/company/companies/" + itoa(c.ID)
	r := f.api("PATCH", path, []map[string]any{
		{"op": "replace", "path": "name", "value": "Child Renamed"},
		{"op": "replace", "path": "status/id", "value": 2},
		{"op": "add", "path": "parentCompany/id", "value": parent.ID},
	})
	got := decode[company](t, r)
	if r.status != 200 || got.Name != "Child Renamed" || got.Status.Name != "Inactive" || got.ParentCompany == nil || got.ParentCompany.ID != parent.ID {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r = f.api("PATCH", path, []map[string]any{{"op": "replace", "path": "types", "value": []map[string]any{{"id": 1}}}})
	if e := decode[cwError](t, r); r.status != 400 || e.Errors[0].Field != "types" {
		t.Fatalf("types patch: %d %s", r.status, r.body)
	}
	r = f.api("PATCH", path, []map[string]any{{"op": "replace", "path": "name", "value": strings.Repeat("x", 51)}})
	if r.status != 400 {
		t.Fatalf("long name patch: %d", r.status)
	}
	r = f.api("PATCH", path, []map[string]any{{"op": "remove", "path": "parentCompany"}})
	if got := decode[company](t, r); got.ParentCompany != nil {
		t.Fatalf("parent not removed: %s", r.body)
	}
	r = f.api("PUT", path, map[string]any{"identifier": "C", "name": "Put Name", "status": map[string]any{"id": 1}, "types": []map[string]any{{"id": 2}}})
	if got := decode[company](t, r); r.status != 200 || got.Name != "Put Name" || got.Status.ID != 1 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	r = f.api("PUT", path, map[string]any{"identifier": "C", "name": "Put Name", "types": []map[string]any{{"id": 1}}})
	if r.status != 400 {
		t.Fatalf("put changing types: %d", r.status)
	}
	if r := f.api("GET", "/company/companies/999999", nil); r.status != 404 || decode[cwError](t, r).Code != "NotFound" {
		t.Fatalf("missing: %d %s", r.status, r.body)
	}
}

func TestDeleteFlagsAndKeepsLastUpdated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sim.Tool().Store.SetClock(func() time.Time { return time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC) })
	c := f.create(t, "DEL", "To Delete", 1, 0)
	f.sim.Tool().Store.SetClock(time.Now)
	path := "/company/companies/" + itoa(c.ID)
	if r := f.api("DELETE", path, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	got := decode[company](t, f.api("GET", path, nil))
	if !got.DeletedFlag || got.DateDeleted == "" || got.Status.Name != "Active" || got.Info.LastUpdated != "2023-05-01T00:00:00Z" {
		t.Fatalf("after delete: %+v", got)
	}
	all := decode[[]company](t, f.api("GET", "/company/companies", nil))
	if len(all) != 1 || !all[0].DeletedFlag {
		t.Fatalf("listing should show the flagged company: %+v", all)
	}
	if n := len(decode[[]company](t, f.api("GET", "/company/companies?conditions=deletedFlag%3Dfalse", nil))); n != 0 {
		t.Fatalf("deletedFlag=false still lists %d", n)
	}
	if r := f.api("DELETE", path, nil); r.status != 404 {
		t.Fatalf("second delete: %d", r.status)
	}
}

func TestQuotaAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sim.Tool().SetQuota(3, time.Minute)
	for i := range 3 {
		if r := f.api("GET", "/system/info", nil); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := f.api("GET", "/system/info", nil)
	if r.status != 429 || r.header.Get("Retry-After") == "" || decode[cwError](t, r).Code != "TooManyRequests" {
		t.Fatalf("over quota: %d %v %s", r.status, r.header, r.body)
	}
	f.sim.Tool().Faults.Inject(simkit.Fault{Status: 503})
	if r := f.api("GET", "/system/info", nil); r.status != 503 || decode[cwError](t, r).Message == "" {
		t.Fatalf("injected 503: %d %s", r.status, r.body)
	}
}

func TestCallbackIsSignedAndCarriesEntity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	var got []struct {
		sig  string
		body []byte
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, struct {
			sig  string
			body []byte
		}{r.Header.Get("x-content-signature"), b})
		mu.Unlock()
	}))
	defer hook.Close()
	f.sim.Tool().SetWebhook(hook.URL, "callback-secret")
	c := f.create(t, "HOOK", "Hooked LLC", 1, 0)
	f.sim.Tool().WaitWebhooks()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	if got[0].sig != connectwise.Sign(got[0].body, "callback-secret") || got[0].sig == connectwise.Sign(got[0].body, "other") {
		t.Fatalf("signature %q does not verify", got[0].sig)
	}
	if _, err := base64.StdEncoding.DecodeString(got[0].sig); err != nil {
		t.Fatalf("signature not base64: %v", err)
	}
	var cb struct {
		MessageID string `json:"MessageId"`
		Action    string `json:"Action"`
		Type      string `json:"Type"`
		ID        int64  `json:"ID"`
		Entity    string `json:"Entity"`
	}
	if err := json.Unmarshal(got[0].body, &cb); err != nil {
		t.Fatal(err)
	}
	var entity company
	if err := json.Unmarshal([]byte(cb.Entity), &entity); err != nil {
		t.Fatalf("entity is not company JSON: %v", err)
	}
	if cb.MessageID == "" || cb.Action != "added" || cb.Type != "company" || cb.ID != c.ID || entity.Name != "Hooked LLC" {
		t.Fatalf("callback %+v", cb)
	}
}

func TestSeedDefault(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sim.SeedDefault(simkit.BaseNames(200, 7))
	all := decode[[]company](t, f.api("GET", "/company/companies?pageSize=1000", nil))
	var deleted, subs, inactive int
	idents := map[string]bool{}
	for _, c := range all {
		if idents[c.Identifier] || c.Identifier == "" || len(c.Identifier) > 30 || len(c.Name) > 50 {
			t.Fatalf("bad identifier/name %+v", c)
		}
		idents[c.Identifier] = true
		if c.DeletedFlag {
			deleted++
		}
		if c.ParentCompany != nil {
			subs++
		}
		if c.Status.Name == "Inactive" {
			inactive++
		}
	}
	if len(all) != 200 || deleted == 0 || subs == 0 || inactive == 0 {
		t.Fatalf("%d companies, %d deleted, %d subs, %d inactive", len(all), deleted, subs, inactive)
	}
}

func TestDuplicateIdentifierIsRefusedTheConnectWiseWay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.create(t, "AcmeCorporation", "Acme Corporation", 1, 0)
	r := f.api("POST", "/company/companies", map[string]any{"identifier": "ACMECORPORATION", "name": "Other", "types": []map[string]any{{"id": 1}}})
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			Code, Message, Resource, Field string
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatal(err)
	}
	if r.status != 400 || e.Code != "InvalidObject" || e.Message == "" || len(e.Errors) != 1 || e.Errors[0].Code != "Duplicate" ||
		e.Errors[0].Resource != "company" || e.Errors[0].Field != "identifier" || e.Errors[0].Message == "" {
		t.Fatalf("duplicate (case differs): %d %s", r.status, r.body)
	}

	// Creates race on one identifier: exactly one may win, as ConnectWise's unique index allows.
	// Thousands of companies make each check slow enough for the creates to overlap.
	f.add(5000)
	const n = 16
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := range n {
		wg.Go(func() {
			body := map[string]any{"identifier": "Raced", "name": "Raced " + itoa(int64(i)), "types": []map[string]any{{"id": 1}}}
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest("POST", f.srv.URL+f.sim.Prefix()+"/company/companies", bytes.NewReader(b))
			req.Header.Set("clientId", opts.ClientID)
			req.SetBasicAuth(opts.CompanyID+"+"+opts.PublicKey, opts.PrivateKey)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_ = res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		switch s {
		case 201:
			created++
		case 400:
		default:
			t.Errorf("status %d", s)
		}
	}
	if created != 1 {
		t.Fatalf("%d concurrent creates of one identifier succeeded", created)
	}
}

type writesDoc struct {
	Writes []simkit.Write `json:"writes"`
}

func TestWriteLogCountsAPIWritesOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if got := decode[writesDoc](t, f.do("GET", "/_control/writes", nil)); got.Writes == nil || len(got.Writes) != 0 {
		t.Fatalf("empty log: %+v", got)
	}
	// A company a person adds or edits in the tool is not a write.
	if r := f.do("POST", "/_control/companies", map[string]any{"name": "Typed In", "identifier": "TypedIn"}); r.status != 201 {
		t.Fatalf("control add: %d", r.status)
	}
	c := f.create(t, "Logged", "Logged Inc.", 2, 0)
	path := "/company/companies/" + itoa(c.ID)
	f.do("PATCH", "/_control/companies/"+itoa(c.ID), map[string]any{"name": "Edited by a person"})

	// Refused: validation, an injected 5xx, the quota. None is a write.
	if r := f.api("PATCH", path, []map[string]any{{"op": "replace", "path": "identifier", "value": "TypedIn"}}); r.status != 400 {
		t.Fatalf("duplicate identifier patch: %d", r.status)
	}
	f.sim.Tool().Faults.Inject(simkit.Fault{Status: 500})
	if r := f.api("PATCH", path, []map[string]any{{"op": "replace", "path": "name", "value": "Lost"}}); r.status != 500 {
		t.Fatalf("injected: %d", r.status)
	}
	f.sim.Tool().SetQuota(1, time.Minute)
	f.api("GET", "/system/info", nil)
	if r := f.api("PATCH", path, []map[string]any{{"op": "replace", "path": "name", "value": "Lost"}}); r.status != 429 {
		t.Fatalf("over quota: %d", r.status)
	}
	f.sim.Tool().SetQuota(0, time.Minute)

	if r := f.api("PATCH", path, []map[string]any{{"op": "replace", "path": "name", "value": "Renamed"}}); r.status != 200 {
		t.Fatalf("patch: %d", r.status)
	}
	if r := f.api("PUT", path, map[string]any{"identifier": "Logged", "name": "Renamed", "status": map[string]any{"id": 2}}); r.status != 200 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if r := f.api("DELETE", path, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := f.api("DELETE", path, nil); r.status != 404 {
		t.Fatalf("second delete: %d", r.status)
	}

	got := decode[writesDoc](t, f.do("GET", "/_control/writes", nil)).Writes
	var lines []string
	for i, w := range got {
		if w.Seq != int64(i+1) || w.CompanyID != c.ID || w.At.IsZero() {
			t.Errorf("write %d: %+v", i, w)
		}
		lines = append(lines, w.Action+" "+w.Name+" "+strings.Join(w.Fields, ","))
	}
	want := []string{
		"create Logged Inc. name,identifier,typeId,statusId,active",
		"update Renamed name",
		"update Renamed statusId,active",
		"delete Renamed ",
	}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("writes\n%q\nwant\n%q", lines, want)
	}
	if len(f.sim.Tool().Writes()) != 4 {
		t.Fatalf("Writes() = %+v", f.sim.Tool().Writes())
	}
	if r := f.do("DELETE", "/_control/writes", nil); r.status != 204 {
		t.Fatalf("reset: %d", r.status)
	}
	if n := len(f.sim.Tool().Writes()); n != 0 {
		t.Fatalf("%d writes after reset", n)
	}
	f.create(t, "After", "After Reset", 1, 0)
	if w := f.sim.Tool().Writes(); len(w) != 1 || w[0].Seq != 5 {
		t.Fatalf("after reset: %+v", w)
	}
}

func TestDownForADuration(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if r := f.do("POST", "/_control/faults", map[string]any{"status": 503, "for": "1s"}); r.status != 204 {
		t.Fatalf("inject: %d %s", r.status, r.body)
	}
	start := time.Now()
	down := 0
	for time.Since(start) < 300*time.Millisecond {
		r := f.api("GET", "/system/info", nil)
		if r.status != 503 || decode[cwError](t, r).Code != "UnexpectedError" {
			t.Fatalf("while down, after %v: %d %s", time.Since(start), r.status, r.body)
		}
		down++
		time.Sleep(20 * time.Millisecond)
	}
	if down < 5 {
		t.Fatalf("only %d requests while down", down)
	}
	if r := f.do("GET", "/_control/stats", nil); r.status != 200 {
		t.Fatalf("the control API is not part of the outage: %d", r.status)
	}
	time.Sleep(time.Until(start.Add(1100 * time.Millisecond)))
	if r := f.api("GET", "/system/info", nil); r.status != 200 {
		t.Fatalf("after the outage: %d %s", r.status, r.body)
	}
	// The Go switch, and a count fault queued behind it still applies once the outage ends.
	f.sim.Tool().Faults.Down(0, 500*time.Millisecond)
	f.sim.Tool().Faults.Inject(simkit.Fault{Status: 500})
	if r := f.api("GET", "/system/info", nil); r.status != 503 {
		t.Fatalf("Down: %d", r.status)
	}
	time.Sleep(600 * time.Millisecond)
	if r := f.api("GET", "/system/info", nil); r.status != 500 {
		t.Fatalf("queued count fault: %d", r.status)
	}
	if r := f.api("GET", "/system/info", nil); r.status != 200 {
		t.Fatalf("recovered: %d", r.status)
	}
}
