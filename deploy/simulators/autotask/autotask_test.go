package autotask_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/autotask"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

const (
	user   = "api@msp.example"
	secret = "the-secret"
	code   = "TRACKING"
)

func start(t *testing.T) (*autotask.Server, *httptest.Server) {
	t.Helper()
	s := autotask.New(autotask.Options{APIUser: user, Secret: secret, IntegrationCode: code})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, srv *httptest.Server, method, path string, body any, headers map[string]string) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	req.Header.Set("ApiIntegrationCode", code)
	req.Header.Set("UserName", user)
	req.Header.Set("Secret", secret)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &a.body); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, b, err)
		}
	}
	return a
}

func errorsOf(a answer) string {
	list, _ := a.body["errors"].([]any)
	var out []string
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func items(a answer) []map[string]any {
	list, _ := a.body["items"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, it := range list {
		out = append(out, it.(map[string]any))
	}
	return out
}

func TestAuthHeaders(t *testing.T) {
	t.Parallel()
	_, srv := start(t)
	q := map[string]any{"filter": []any{map[string]any{"op": "exist", "field": "id"}}}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"all three", nil, http.StatusOK},
		{"user name case-insensitive", map[string]string{"UserName": strings.ToUpper(user)}, http.StatusOK},
		{"no integration code", map[string]string{"ApiIntegrationCode": ""}, http.StatusUnauthorized},
		{"no user", map[string]string{"UserName": ""}, http.StatusUnauthorized},
		{"no secret", map[string]string{"Secret": ""}, http.StatusUnauthorized},
		{"wrong secret", map[string]string{"Secret": "nope"}, http.StatusUnauthorized},
		{"wrong code", map[string]string{"ApiIntegrationCode": "nope"}, http.StatusUnauthorized},
	} {
		a := call(t, srv, http.MethodPost, "/atservicesrest/v1.0/Companies/query", q, tc.headers)
		if a.status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, a.status, tc.status)
		}
		if tc.status != http.StatusOK && (errorsOf(a) == "" || strings.Contains(errorsOf(a), secret)) {
			t.Errorf("%s: error body %v", tc.name, a.body)
		}
	}
}

func TestZoneInformation(t *testing.T) {
	t.Parallel()
	_, srv := start(t)
	a := call(t, srv, http.MethodGet, "/ATServicesRest/V1.0/ZoneInformation?user="+user, nil, map[string]string{"Secret": "", "UserName": "", "ApiIntegrationCode": ""})
	if a.status != http.StatusOK || a.body["url"] != srv.URL+"/atservicesrest/" || a.body["zoneName"] == "" {
		t.Fatalf("zone = %d %v", a.status, a.body)
	}
	if a := call(t, srv, http.MethodGet, "/atservicesrest/v1.0/ZoneInformation?user=someone@else", nil, nil); a.status != http.StatusNotFound || errorsOf(a) == "" {
		t.Fatalf("unknown user = %d %v", a.status, a.body)
	}
}

// Pages are ordered by id, at most MaxRecords (500) long; nextPageUrl is null on the last page,
// even when it is full, and otherwise a working GET that continues the listing.
func TestPaging(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 500, 1000, 1001} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			s, srv := start(t)
			for i := range n {
				s.Tool().Store.Add(simkit.Company{Name: fmt.Sprintf("C%d", i), TypeID: 1, Active: true})
			}
			a := call(t, srv, http.MethodPost, "/atservicesrest/v1.0/Companies/query",
				map[string]any{"MaxRecords": 500, "filter": []any{map[string]any{"op": "gte", "field": "id", "value": 0}}}, nil)
			total, pages := 0, 0
			var last float64 = -1
			for {
				pages++
				if a.status != http.StatusOK {
					t.Fatalf("page %d: %d %v", pages, a.status, a.body)
				}
				its := items(a)
				for _, it := range its {
					id := it["id"].(float64)
					if id <= last {
						t.Fatalf("ids out of order: %v after %v", id, last)
					}
					last = id
				}
				total += len(its)
				pd := a.body["pageDetails"].(map[string]any)
				if int(pd["count"].(float64)) != len(its) || pd["requestCount"].(float64) != 500 || len(its) > 500 {
					t.Fatalf("pageDetails %v with %d items", pd, len(its))
				}
				next, _ := pd["nextPageUrl"].(string)
				if next == "" {
					break
				}
				path := strings.TrimPrefix(next, srv.URL)
				a = call(t, srv, http.MethodGet, path, nil, nil)
			}
			want := max(1, (n+499)/500)
			if total != n || pages != want {
				t.Fatalf("listed %d in %d pages, want %d in %d", total, pages, n, want)
			}
		})
	}
}

func TestQueryFilters(t *testing.T) {
	t.Parallel()
	s, srv := start(t)
	st := s.Tool().Store
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	st.SetClock(func() time.Time { return old })
	acme := st.Add(simkit.Company{Name: "Acme Dental Inc.", TypeID: 1, Active: true})
	st.Add(simkit.Company{Name: "Northwind Foods LLC", TypeID: 6, Active: true, ParentID: acme.ID})
	st.SetClock(func() time.Time { return old.Add(48 * time.Hour) })
	st.Add(simkit.Company{Name: "Contoso Realty", TypeID: 3, Active: false})
	f := func(op, field string, v any) map[string]any {
		m := map[string]any{"op": op, "field": field}
		if v != nil {
			m["value"] = v
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		filter []any
		want   []string
	}{
		{"eq case-insensitive", []any{f("eq", "companyname", "acme dental inc.")}, []string{"Acme Dental Inc."}},
		{"noteq", []any{f("noteq", "companyType", 1)}, []string{"Northwind Foods LLC", "Contoso Realty"}},
		{"gt id", []any{f("gt", "id", acme.ID)}, []string{"Northwind Foods LLC", "Contoso Realty"}},
		{"lt/lte", []any{f("lt", "id", acme.ID+2), f("lte", "id", acme.ID)}, []string{"Acme Dental Inc."}},
		{"beginsWith", []any{f("beginsWith", "companyName", "north")}, []string{"Northwind Foods LLC"}},
		{"endsWith", []any{f("endsWith", "companyName", "LLC")}, []string{"Northwind Foods LLC"}},
		{"contains", []any{f("contains", "companyName", "REAL")}, []string{"Contoso Realty"}},
		{"exist parent", []any{f("exist", "parentCompanyID", nil)}, []string{"Northwind Foods LLC"}},
		{"notExist parent", []any{f("notExist", "parentCompanyID", nil)}, []string{"Acme Dental Inc.", "Contoso Realty"}},
		{"in", []any{f("in", "companyType", []any{3, 6})}, []string{"Northwind Foods LLC", "Contoso Realty"}},
		{"notIn", []any{f("notIn", "companyType", []any{3, 6})}, []string{"Acme Dental Inc."}},
		{"isActive", []any{f("eq", "isActive", false)}, []string{"Contoso Realty"}},
		{"modified gte", []any{f("gte", "lastTrackedModifiedDateTime", old.Add(time.Hour).Format(time.RFC3339))}, []string{"Contoso Realty"}},
		{"or", []any{map[string]any{"op": "or", "items": []any{f("eq", "companyType", 1), f("eq", "isActive", false)}}}, []string{"Acme Dental Inc.", "Contoso Realty"}},
		{"and in or", []any{map[string]any{"op": "or", "items": []any{
			map[string]any{"op": "and", "items": []any{f("eq", "companyType", 6), f("exist", "parentCompanyID", nil)}},
			f("eq", "id", acme.ID),
		}}}, []string{"Acme Dental Inc.", "Northwind Foods LLC"}},
		// Autotask drops an operator it does not know instead of refusing the query.
		{"unknown op dropped", []any{f("ne", "companyType", 1)}, []string{"Acme Dental Inc.", "Northwind Foods LLC", "Contoso Realty"}},
	} {
		a := call(t, srv, http.MethodPost, "/atservicesrest/v1.0/Companies/query", map[string]any{"filter": tc.filter}, nil)
		if a.status != http.StatusOK {
			t.Errorf("%s: %d %v", tc.name, a.status, a.body)
			continue
		}
		var got []string
		for _, it := range items(a) {
			got = append(got, it["companyName"].(string))
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"unknown field", map[string]any{"filter": []any{f("eq", "phone", "1")}}, 500, "Unable to find phone in the Company Entity"},
		{"no filter", map[string]any{"MaxRecords": 10}, 500, "filter"},
		{"MaxRecords above 500", map[string]any{"MaxRecords": 501, "filter": []any{f("exist", "id", nil)}}, 500, "MaxRecords"},
		{"bad value", map[string]any{"filter": []any{f("eq", "id", "abc")}}, 500, "not valid"},
	} {
		a := call(t, srv, http.MethodPost, "/atservicesrest/v1.0/Companies/query", tc.body, nil)
		if a.status != tc.status || !strings.Contains(errorsOf(a), tc.msg) {
			t.Errorf("%s: %d %v, want %d %q", tc.name, a.status, a.body, tc.status, tc.msg)
		}
	}
	a := call(t, srv, http.MethodPost, "/atservicesrest/v1.0/Companies/query",
		map[string]any{"IncludeFields": []string{"companyName"}, "filter": []any{f("eq", "id", acme.ID)}}, nil)
	its := items(a)
	if len(its) != 1 || len(its[0]) != 2 || its[0]["companyName"] != "Acme Dental Inc." {
		t.Fatalf("IncludeFields: %v", its)
	}
}

func TestCreatePatchGetNoDelete(t *testing.T) {
	t.Parallel()
	s, srv := start(t)
	base := "/atservicesrest/v1.0/Companies"
	for _, tc := range []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"no name", map[string]any{"companyType": 1}, "companyName"},
		{"blank name", map[string]any{"companyName": " ", "companyType": 1}, "companyName"},
		{"long name", map[string]any{"companyName": strings.Repeat("n", 101), "companyType": 1}, "maximum length"},
		{"no type", map[string]any{"companyName": "X"}, "companyType"},
		{"bad type", map[string]any{"companyName": "X", "companyType": 42}, "picklist"},
		{"bad parent", map[string]any{"companyName": "X", "companyType": 1, "parentCompanyID": 9999}, "parentCompanyID"},
	} {
		if a := call(t, srv, http.MethodPost, base, tc.body, nil); a.status != 500 || !strings.Contains(errorsOf(a), tc.msg) {
			t.Errorf("%s: %d %v", tc.name, a.status, a.body)
		}
	}
	if n := s.Tool().Store.Len(); n != 0 {
		t.Fatalf("refused creates stored %d companies", n)
	}
	a := call(t, srv, http.MethodPost, base, map[string]any{"id": 0, "companyName": strings.Repeat("n", 100), "companyType": 7}, nil)
	id, ok := a.body["itemId"].(float64)
	if a.status != http.StatusOK || !ok {
		t.Fatalf("create: %d %v", a.status, a.body)
	}
	path := fmt.Sprintf("%s/%d", base, int64(id))
	a = call(t, srv, http.MethodPatch, base, map[string]any{"id": id, "companyName": "Renamed", "isActive": false}, nil)
	if a.status != http.StatusOK || a.body["itemId"] != id {
		t.Fatalf("patch: %d %v", a.status, a.body)
	}
	it := call(t, srv, http.MethodGet, path, nil, nil).body["item"].(map[string]any)
	if it["companyName"] != "Renamed" || it["companyType"] != float64(7) || it["isActive"] != false || it["parentCompanyID"] != nil {
		t.Fatalf("after patch: %v", it)
	}
	for _, k := range []string{"lastTrackedModifiedDateTime", "createDate"} {
		if _, err := time.Parse(autotask.TimeFormat, it[k].(string)); err != nil {
			t.Fatalf("%s %v: %v", k, it[k], err)
		}
	}
	if a := call(t, srv, http.MethodPatch, base, map[string]any{"id": 424242, "companyName": "X"}, nil); a.status != http.StatusNotFound {
		t.Fatalf("patch unknown: %d %v", a.status, a.body)
	}
	if a := call(t, srv, http.MethodPatch, base, map[string]any{"companyName": "X"}, nil); a.status != 500 {
		t.Fatalf("patch without id: %d %v", a.status, a.body)
	}
	if a := call(t, srv, http.MethodGet, base+"/424242", nil, nil); a.status != http.StatusOK || a.body["item"] != nil {
		t.Fatalf("get unknown: %d %v", a.status, a.body)
	}
	if a := call(t, srv, http.MethodDelete, path, nil, nil); a.status != http.StatusMethodNotAllowed || errorsOf(a) == "" {
		t.Fatalf("delete: %d %v", a.status, a.body)
	}
	if _, ok := s.Tool().Store.Get(int64(id)); !ok {
		t.Fatal("company deleted through the API")
	}
	// The control API still removes (a company merged away).
	req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/_control/companies/%d", srv.URL, int64(id)), nil)
	if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("control delete: %v %v", resp, err)
	}
	if a := call(t, srv, http.MethodGet, path, nil, nil); a.body["item"] != nil {
		t.Fatalf("removed company still served: %v", a.body)
	}
	// Refused creates and patches, the refused DELETE and the control API's removal are not
	// writes: one create and one update are.
	w := s.Tool().Writes()
	if len(w) != 2 || w[0].Action != "create" || w[0].CompanyID != int64(id) || w[1].Action != "update" ||
		w[1].Name != "Renamed" || strings.Join(w[1].Fields, ",") != "name,statusId,active" || w[1].Seq != w[0].Seq+1 {
		t.Fatalf("writes %+v", w)
	}
}

func TestEntityFieldsPicklist(t *testing.T) {
	t.Parallel()
	_, srv := start(t)
	a := call(t, srv, http.MethodGet, "/atservicesrest/v1.0/Companies/entityInformation/fields", nil, nil)
	fields, _ := a.body["fields"].([]any)
	for _, f := range fields {
		m := f.(map[string]any)
		if m["name"] != "companyType" {
			continue
		}
		picks := m["picklistValues"].([]any)
		first := picks[0].(map[string]any)
		if len(picks) != 7 || first["value"] != "1" || first["label"] != "Customer" {
			t.Fatalf("picklist = %v", picks)
		}
		return
	}
	t.Fatalf("no companyType in %v", a.body)
}

// At most 3 requests at once per endpoint; the rest get 429 with Autotask's error body.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	s, srv := start(t)
	s.Tool().Faults.SetLatency(300 * time.Millisecond)
	var wg sync.WaitGroup
	statuses := make(chan answer, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- call(t, srv, http.MethodGet, "/atservicesrest/v1.0/Companies/entityInformation/fields", nil, nil)
		}()
	}
	wg.Wait()
	close(statuses)
	ok, refused := 0, 0
	for a := range statuses {
		switch a.status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			refused++
			if errorsOf(a) == "" {
				t.Errorf("429 without errors body: %v", a.body)
			}
		default:
			t.Errorf("status %d", a.status)
		}
	}
	if ok != 3 || refused != 3 {
		t.Fatalf("ok %d refused %d, want 3 and 3", ok, refused)
	}
}

func TestHourlyQuota(t *testing.T) {
	t.Parallel()
	s, srv := start(t)
	if limit, span := s.Tool().Quota.Limits(); limit != 10000 || span != time.Hour {
		t.Fatalf("default quota %d per %v", limit, span)
	}
	s.Tool().SetQuota(2, time.Hour)
	path := "/atservicesrest/v1.0/Companies/1"
	for i := range 2 {
		if a := call(t, srv, http.MethodGet, path, nil, nil); a.status != http.StatusOK {
			t.Fatalf("request %d: %d", i, a.status)
		}
	}
	a := call(t, srv, http.MethodGet, path, nil, nil)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || errorsOf(a) == "" {
		t.Fatalf("over quota: %d %v %v", a.status, a.header, a.body)
	}
}

func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	s, _ := start(t)
	var mu sync.Mutex
	var hdr http.Header
	var body []byte
	recv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hdr, body = r.Header.Clone(), b
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	s.Tool().SetWebhook(recv.URL, "key")
	c := s.Tool().Store.Add(simkit.Company{Name: "Summit Dental", TypeID: 1, Active: true})
	s.Tool().WaitWebhooks()
	mu.Lock()
	defer mu.Unlock()
	m := hmac.New(sha1.New, []byte("key"))
	m.Write(body)
	if want := "sha1=" + base64.StdEncoding.EncodeToString(m.Sum(nil)); hdr.Get("X-Hook-Signature") != want {
		t.Fatalf("signature %q, want %q", hdr.Get("X-Hook-Signature"), want)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p["Action"] != "Create" || p["EntityType"] != "Company" || p["Id"] != float64(c.ID) || p["Guid"] == "" ||
		p["SequenceNumber"] == nil || p["EventTime"] == nil || p["PersonID"] == nil {
		t.Fatalf("payload %v", p)
	}
	if f := p["Fields"].(map[string]any); f["companyName"] != "Summit Dental" {
		t.Fatalf("fields %v", f)
	}
}

func TestSeedDefault(t *testing.T) {
	t.Parallel()
	s, _ := start(t)
	s.SeedDefault(simkit.BaseNames(300, 7))
	all := s.Tool().Store.All()
	inactive, subs, suffixed := 0, 0, 0
	for _, c := range all {
		if !c.Active {
			inactive++
		}
		if c.ParentID != 0 {
			subs++
		}
		for _, sfx := range []string{"LLC", "Inc.", "Ltd", "Corp.", "LLP", "PLLC", "Co."} {
			if strings.HasSuffix(c.Name, sfx) {
				suffixed++
				break
			}
		}
		if c.Deleted {
			t.Fatalf("Autotask cannot delete, but %v is flagged deleted", c)
		}
	}
	if len(all) != 300 || inactive == 0 || subs == 0 || suffixed == 0 {
		t.Fatalf("%d companies, %d inactive, %d subs, %d with a legal suffix", len(all), inactive, subs, suffixed)
	}
}
