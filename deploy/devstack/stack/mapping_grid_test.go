package stack_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
)

// The Setup Organizations grid, batch save, "Add from IT Glue" and match suggestions as a REST
// caller meets them: the real gateway, org, billing, integration-sync refreshing from the vendor
// simulators, and mapping learning organizations and external organizations from their events.
// Mapping's rules are tested beside the service; what stays here is what needs the whole suite:
// names and licenses from org and billing, external organizations from a real refresh, and the
// events between them.

// wireInt reads a protojson integer, which 64-bit fields carry as a JSON string.
type wireInt int64

func (n *wireInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	*n = wireInt(v)
	return err
}

type gridCell struct {
	IntegrationID          string `json:"integrationId"`
	ExternalOrganizationID string `json:"externalOrganizationId"`
	ExternalName           string `json:"externalName"`
	State                  string `json:"state"`
	Method                 string `json:"method"`
}

type gridRow struct {
	OrganizationID   string     `json:"organizationId"`
	OrganizationName string     `json:"organizationName"`
	Version          wireInt    `json:"version"`
	Cells            []gridCell `json:"cells"`
}

// cell is the row's link in an integration (nil when unmapped there).
func (r gridRow) cell(integrationID string) *gridCell {
	for i := range r.Cells {
		if r.Cells[i].IntegrationID == integrationID {
			return &r.Cells[i]
		}
	}
	return nil
}

type licenses struct {
	Unlimited bool `json:"unlimited"`
	Limit     int  `json:"limit"`
	Used      int  `json:"used"`
	Remaining int  `json:"remaining"`
}

type mappingGrid struct {
	Rows          []gridRow `json:"rows"`
	NextPageToken string    `json:"nextPageToken"`
	TotalSize     wireInt   `json:"totalSize"`
	Integrations  []struct {
		ID              string `json:"id"`
		Kind            string `json:"kind"`
		DisplayName     string `json:"displayName"`
		LastRefreshTime string `json:"lastRefreshTime"`
		Refreshing      bool   `json:"refreshing"`
	} `json:"integrations"`
	Licenses licenses `json:"licenses"`
}

// byName is the grid's rows by organization name (names are unique in an account).
func (g mappingGrid) byName() map[string]gridRow {
	out := map[string]gridRow{}
	for _, r := range g.Rows {
		out[r.OrganizationName] = r
	}
	return out
}

func (g mappingGrid) names() []string {
	var out []string
	for _, r := range g.Rows {
		out = append(out, r.OrganizationName)
	}
	slices.Sort(out)
	return out
}

type importOp struct {
	ID         string `json:"id"`
	RequestID  string `json:"requestId"`
	State      string `json:"state"`
	ItemsDone  int    `json:"itemsDone"`
	ItemsTotal int    `json:"itemsTotal"`
	Counts     struct {
		Created  int `json:"created"`
		Linked   int `json:"linked"`
		Relinked int `json:"relinked"`
		Failed   int `json:"failed"`
	} `json:"counts"`
	Error string `json:"error"`
}

type importItem struct {
	ExternalOrganizationID string `json:"externalOrganizationId"`
	Name                   string `json:"name"`
	Outcome                string `json:"outcome"`
	OrganizationID         string `json:"organizationId"`
	Reason                 string `json:"reason"`
}

type candidatePage struct {
	Candidates []struct {
		ExternalOrganizationID string `json:"externalOrganizationId"`
		Name                   string `json:"name"`
	} `json:"candidates"`
	NextPageToken string   `json:"nextPageToken"`
	TotalSize     wireInt  `json:"totalSize"`
	Licenses      licenses `json:"licenses"`
}

type suggestion struct {
	OrganizationID         string  `json:"organizationId"`
	OrganizationName       string  `json:"organizationName"`
	ExternalOrganizationID string  `json:"externalOrganizationId"`
	ExternalName           string  `json:"externalName"`
	Score                  float64 `json:"score"`
	Reason                 string  `json:"reason"`
}

type mappingChange struct {
	OrganizationID         string `json:"organizationId"`
	Version                string `json:"version"`
	IntegrationID          string `json:"integrationId"`
	ExternalOrganizationID string `json:"externalOrganizationId"`
}

// change links (or, with an empty externalID, unlinks) a row read from the grid.
func change(r gridRow, integrationID, externalID string) mappingChange {
	return mappingChange{OrganizationID: r.OrganizationID, Version: fmt.Sprint(int64(r.Version)), IntegrationID: integrationID,
		ExternalOrganizationID: externalID}
}

// decode unmarshals a response body into v, failing the test when it is not that JSON.
func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response is not the expected JSON (%v): %s", err, r.body)
	}
	return v
}

// mapper drives one account's mapping routes.
type mapper struct {
	w    *world
	a    msp
	acct string
}

func newMapper(w *world, a msp) mapper { return mapper{w: w, a: a, acct: "/v1/accounts/" + a.id} }

// grid reads every page of the grid as key with the given query parameters.
func (m mapper) grid(key string, params url.Values) mappingGrid {
	m.w.t.Helper()
	var all mappingGrid
	token := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			m.w.t.Fatal("grid paging does not end")
		}
		q := url.Values{"pageSize": {"1000"}, "pageToken": {token}}
		for k, v := range params {
			q[k] = v
		}
		r := m.w.do("GET", m.acct+"/mappingGrid?"+q.Encode(), key, "")
		if r.code != http.StatusOK {
			m.w.t.Fatalf("grid %v: %d %s", params, r.code, r.body)
		}
		page := decode[mappingGrid](m.w.t, r)
		page.Rows = append(all.Rows, page.Rows...)
		all = page
		if token = page.NextPageToken; token == "" {
			return all
		}
	}
}

// waitGrid polls the admin's grid until ok holds (mapping learns organizations from org's
// events), and fails after 15 s with the last grid.
func (m mapper) waitGrid(what string, params url.Values, ok func(mappingGrid) bool) mappingGrid {
	m.w.t.Helper()
	deadline := time.Now().Add(60 * time.Second) // an upper bound: events arrive in ms, a loaded CI machine is slower
	for {
		g := m.grid(m.a.adminKey, params)
		if ok(g) {
			return g
		}
		if time.Now().After(deadline) {
			m.w.t.Fatalf("grid %v never showed %s: total %d, rows %v", params, what, g.TotalSize, g.names())
		}
		time.Sleep(40 * time.Millisecond)
	}
}

func (m mapper) save(key string, changes ...mappingChange) response {
	m.w.t.Helper()
	b, err := json.Marshal(map[string]any{"changes": changes})
	if err != nil {
		m.w.t.Fatal(err)
	}
	return m.w.do("POST", m.acct+"/mappings:batchSave", key, string(b))
}

// saveWhenKnown saves a batch that must succeed once mapping has learned the integrations and
// external organizations it names from integration-sync's events: a 404 is retried meanwhile.
func (m mapper) saveWhenKnown(changes ...mappingChange) {
	m.w.t.Helper()
	deadline := time.Now().Add(60 * time.Second) // an upper bound: events arrive in ms, a loaded CI machine is slower
	for {
		r := m.save(m.a.adminKey, changes...)
		if r.code == http.StatusOK {
			return
		}
		if r.code != http.StatusNotFound || time.Now().After(deadline) {
			m.w.t.Fatalf("batch save: %d %s", r.code, r.body)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// candidates reads every page of an IT Glue integration's import candidates.
func (m mapper) candidates(key, integrationID, query string) candidatePage {
	m.w.t.Helper()
	var all candidatePage
	token := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			m.w.t.Fatal("candidate paging does not end")
		}
		q := url.Values{"pageSize": {"1000"}, "pageToken": {token}, "query": {query}}
		r := m.w.do("GET", m.acct+"/integrations/"+integrationID+"/importCandidates?"+q.Encode(), key, "")
		if r.code != http.StatusOK {
			m.w.t.Fatalf("import candidates: %d %s", r.code, r.body)
		}
		page := decode[candidatePage](m.w.t, r)
		page.Candidates = append(all.Candidates, page.Candidates...)
		all = page
		if token = page.NextPageToken; token == "" {
			return all
		}
	}
}

// waitCandidates polls until mapping offers n candidates of the integration (it learns them from
// the refresh's events; until it learns the integration itself, the route answers 404).
func (m mapper) waitCandidates(integrationID string, n int) candidatePage {
	m.w.t.Helper()
	deadline := time.Now().Add(60 * time.Second) // an upper bound: events arrive in ms, a loaded CI machine is slower
	for {
		r := m.w.do("GET", m.acct+"/integrations/"+integrationID+"/importCandidates?pageSize=1", m.a.adminKey, "")
		if r.code == http.StatusOK && int(decode[candidatePage](m.w.t, r).TotalSize) == n {
			return m.candidates(m.a.adminKey, integrationID, "")
		}
		if r.code != http.StatusOK && r.code != http.StatusNotFound || time.Now().After(deadline) {
			m.w.t.Fatalf("waiting for %d import candidates: %d %s", n, r.code, r.body)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

func (m mapper) startImport(key, integrationID, requestID string, externalIDs []string) response {
	m.w.t.Helper()
	b, err := json.Marshal(map[string]any{"requestId": requestID, "externalOrganizationIds": externalIDs})
	if err != nil {
		m.w.t.Fatal(err)
	}
	return m.w.do("POST", m.acct+"/integrations/"+integrationID+":import", key, string(b))
}

// importAll starts an import that must be accepted and waits for it to end.
func (m mapper) importAll(integrationID, requestID string, externalIDs []string) importOp {
	m.w.t.Helper()
	r := m.startImport(m.a.adminKey, integrationID, requestID, externalIDs)
	if r.code != http.StatusOK {
		m.w.t.Fatalf("import: %d %s", r.code, r.body)
	}
	op := decode[importOp](m.w.t, r)
	if op.ID == "" || op.RequestID != requestID {
		m.w.t.Fatalf("import answered %s", r.body)
	}
	return m.waitImport(op.ID, 30*time.Second)
}

// waitImport polls an import until it is no longer running.
func (m mapper) waitImport(id string, within time.Duration) importOp {
	m.w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		op := decode[importOp](m.w.t, m.w.do("GET", m.acct+"/imports/"+id, m.a.adminKey, ""))
		if op.State != "IMPORT_STATE_RUNNING" {
			return op
		}
		if time.Now().After(deadline) {
			m.w.t.Fatalf("import %s still running after %v: %+v", id, within, op)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// items reads every page of an import's items.
func (m mapper) items(id string) []importItem {
	m.w.t.Helper()
	var out []importItem
	token := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			m.w.t.Fatal("item paging does not end")
		}
		page := m.w.must(200, "GET", m.acct+"/imports/"+id+"/items?pageSize=1000&pageToken="+url.QueryEscape(token), m.a.adminKey, "")
		b, _ := json.Marshal(page["items"])
		var list []importItem
		if err := json.Unmarshal(b, &list); err != nil {
			m.w.t.Fatal(err)
		}
		out = append(out, list...)
		if token, _ = page["nextPageToken"].(string); token == "" {
			return out
		}
	}
}

// organizationNames lists the account's organizations as org has them (not mapping's copy).
func (m mapper) organizationNames() []string {
	m.w.t.Helper()
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			m.w.t.Fatal("organization paging does not end")
		}
		page := m.w.must(200, "GET", m.acct+"/organizations?pageSize=1000&pageToken="+url.QueryEscape(token), m.a.adminKey, "")
		list, _ := page["organizations"].([]any)
		for _, o := range list {
			names = append(names, o.(map[string]any)["name"].(string))
		}
		if token, _ = page["nextPageToken"].(string); token == "" {
			slices.Sort(names)
			return names
		}
	}
}

// bulkCreate creates organizations of the given names over REST and returns their ids by name.
func (m mapper) bulkCreate(names []string) map[string]string {
	m.w.t.Helper()
	orgs := make([]map[string]string, len(names))
	for i, n := range names {
		orgs[i] = map[string]string{"name": n}
	}
	b, _ := json.Marshal(map[string]any{"organizations": orgs})
	created := m.w.must(200, "POST", m.acct+"/organizations:bulkCreate", m.a.adminKey, string(b))["organizations"].([]any)
	out := map[string]string{}
	for _, o := range created {
		out[o.(map[string]any)["name"].(string)] = o.(map[string]any)["id"].(string)
	}
	if len(out) != len(names) {
		m.w.t.Fatalf("bulk create made %d organizations of %d", len(out), len(names))
	}
	return out
}

// licensed waits for the account's trial (25 licenses) and moves its limit to limit.
func (m mapper) licensed(limit int) {
	m.w.t.Helper()
	sub := m.w.subscribed(m.a)
	switch {
	case limit > 25:
		m.w.must(200, "POST", sub+":addLicenses", m.a.adminKey, fmt.Sprintf(`{"count":%d}`, limit-25))
	case limit < 25:
		m.w.must(200, "POST", sub+":removeLicenses", m.a.adminKey, fmt.Sprintf(`{"count":%d}`, 25-limit))
	}
	if got, _, _ := m.w.usage(m.a); int(got) != limit {
		m.w.t.Fatalf("license limit %v, want %d", got, limit)
	}
}

// itGlueIntegration creates an IT Glue integration pointed at the simulator.
func itGlueIntegration(w *world, a msp, sims *simulators.Set) integrationFixture {
	w.t.Helper()
	body, _ := json.Marshal(map[string]any{"kind": "itglue", "displayName": "IT Glue (simulated)", "endpoint": sims.ITGlue.URL,
		"credentials": map[string]string{"apiKey": simulators.ITGlueAPIKey}})
	id, _ := w.must(200, "POST", "/v1/accounts/"+a.id+"/integrations", a.adminKey, string(body))["id"].(string)
	if id == "" {
		w.t.Fatal("created integration has no id")
	}
	return integrationFixture{w: w, a: a, id: id, base: "/v1/accounts/" + a.id + "/integrations/" + id}
}

// seedITGlue adds companies to the IT Glue simulator and returns their ids by name.
func seedITGlue(sims *simulators.Set, names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		out[n] = fmt.Sprint(sims.ITGlue.Sim.Store.Add(simkit.Company{Name: n, Active: true}).ID)
	}
	return out
}

// linkedEvents returns the mapping.linked events the account's links published so far.
func linkedEvents(w *world, accountID string) []*mappingv1.MappingLinked {
	w.t.Helper()
	w.mu.Lock()
	msgs := slices.Clone(w.events)
	w.mu.Unlock()
	var out []*mappingv1.MappingLinked
	for _, msg := range msgs {
		if msg.Subject != "orgplane.mapping.v1."+accountID+".mapping.linked" {
			continue
		}
		ev := &mappingv1.MappingLinked{}
		if err := proto.Unmarshal(msg.Data, ev); err != nil {
			w.t.Fatalf("%s: %v", msg.Subject, err)
		}
		out = append(out, ev)
	}
	return out
}

// refusal reads a REST error's message and ErrorInfo reasons.
func refusal(t testing.TB, r response) (string, []string) {
	t.Helper()
	st := decode[restError](t, r)
	var reasons []string
	for _, d := range st.Details {
		if d.Reason != "" {
			reasons = append(reasons, d.Reason)
		}
	}
	return st.Message, reasons
}

func TestImportFromITGlueByExactName(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	m := newMapper(w, a)
	m.licensed(25)
	orgIDs := m.bulkCreate([]string{"Contoso", "Fabrikam", "Northwind"})
	itg := seedITGlue(sims, "contoso", "Fabrikam", "Northwind", "Brand New", "Northwind Old")
	cwNorthwind := fmt.Sprint(seedConnectWise(sims, "Northwind Traders")[0].ID)
	it := itGlueIntegration(w, a, sims)
	cw := connectWiseIntegration(w, a, sims)
	it.refresh("REFRESH_MODE_FULL")
	cw.refresh("REFRESH_MODE_FULL")
	m.waitCandidates(it.id, 5)
	g := m.waitGrid("the three organizations", nil, func(g mappingGrid) bool { return g.TotalSize == 3 })

	// Northwind is matched by hand to another IT Glue organization and to its ConnectWise twin.
	nw := g.byName()["Northwind"]
	m.saveWhenKnown(change(nw, it.id, itg["Northwind Old"]), change(nw, cw.id, cwNorthwind))

	// A linked IT Glue organization is not offered.
	offered := m.candidates(a.adminKey, it.id, "")
	var names []string
	for _, c := range offered.Candidates {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "Brand New,contoso,Fabrikam,Northwind" || offered.TotalSize != 4 ||
		offered.Licenses.Remaining != 22 || offered.Licenses.Limit != 25 {
		t.Fatalf("candidates %v (total %d, licenses %+v), want the four not linked, by name, and 22 of 25 licenses left",
			names, offered.TotalSize, offered.Licenses)
	}

	// Only IT Glue imports organizations.
	for _, r := range []response{
		m.startImport(a.adminKey, cw.id, uuid.NewString(), []string{cwNorthwind}),
		w.do("GET", m.acct+"/integrations/"+cw.id+"/importCandidates", a.adminKey, ""),
	} {
		if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "IT Glue") {
			t.Errorf("importing from ConnectWise: %d %s, want 400 saying only IT Glue imports", r.code, r.body)
		}
	}

	request := uuid.NewString()
	selected := []string{itg["contoso"], itg["Fabrikam"], itg["Northwind"], itg["Brand New"]}
	op := m.importAll(it.id, request, selected)
	if op.State != "IMPORT_STATE_SUCCEEDED" || op.ItemsTotal != 4 || op.ItemsDone != 4 || op.Counts.Created != 2 ||
		op.Counts.Linked != 1 || op.Counts.Relinked != 1 || op.Counts.Failed != 0 {
		t.Fatalf("import ended %+v, want 2 created, 1 linked, 1 relinked", op)
	}
	items := m.items(op.ID)
	if len(items) != 4 {
		t.Fatalf("items %+v", items)
	}
	want := map[string]string{itg["contoso"]: "IMPORT_OUTCOME_CREATED", itg["Fabrikam"]: "IMPORT_OUTCOME_LINKED",
		itg["Northwind"]: "IMPORT_OUTCOME_RELINKED", itg["Brand New"]: "IMPORT_OUTCOME_CREATED"}
	linkedTo := map[string]string{}
	for i, item := range items {
		if item.ExternalOrganizationID != selected[i] || item.Outcome != want[item.ExternalOrganizationID] || item.OrganizationID == "" {
			t.Errorf("item %d: %+v, want %s for %s in request order", i, item, want[selected[i]], selected[i])
		}
		linkedTo[item.Name] = item.OrganizationID
	}
	// Case-sensitive: "contoso" is a new organization, not "Contoso".
	if linkedTo["contoso"] == orgIDs["Contoso"] || linkedTo["Fabrikam"] != orgIDs["Fabrikam"] || linkedTo["Northwind"] != orgIDs["Northwind"] {
		t.Errorf("items linked %v; organizations were %v", linkedTo, orgIDs)
	}
	if got := m.organizationNames(); strings.Join(got, ",") != "Brand New,Contoso,Fabrikam,Northwind,contoso" {
		t.Errorf("org has %v after the import", got)
	}

	g = m.waitGrid("the two created organizations", nil, func(g mappingGrid) bool { return g.TotalSize == 5 })
	rows := g.byName()
	for name, ext := range map[string]string{"contoso": itg["contoso"], "Fabrikam": itg["Fabrikam"], "Northwind": itg["Northwind"], "Brand New": itg["Brand New"]} {
		c := rows[name].cell(it.id)
		if c == nil || c.ExternalOrganizationID != ext || c.Method != "LINK_METHOD_IMPORT" {
			t.Errorf("%s's IT Glue cell %+v, want %s linked by import", name, c, ext)
		}
	}
	if len(rows["Contoso"].Cells) != 0 {
		t.Errorf("Contoso was touched: %+v", rows["Contoso"].Cells)
	}
	// Other integrations' links are never touched, and the import links nothing there.
	if c := rows["Northwind"].cell(cw.id); c == nil || c.ExternalOrganizationID != cwNorthwind || c.Method != "LINK_METHOD_MANUAL" {
		t.Errorf("Northwind's ConnectWise cell %+v, want the manual link to %s", c, cwNorthwind)
	}
	for _, name := range []string{"contoso", "Fabrikam", "Brand New"} {
		if c := rows[name].cell(cw.id); c != nil {
			t.Errorf("%s was linked in ConnectWise: %+v", name, c)
		}
	}

	// Imported ones are no longer offered; the replaced link's IT Glue organization is free again.
	offered = m.candidates(a.adminKey, it.id, "")
	if len(offered.Candidates) != 1 || offered.Candidates[0].ExternalOrganizationID != itg["Northwind Old"] || offered.TotalSize != 1 ||
		offered.Licenses.Remaining != 20 {
		t.Errorf("candidates after the import: %+v", offered)
	}

	// The same request id returns the same import and creates nothing.
	again := m.startImport(a.adminKey, it.id, request, selected)
	if again.code != http.StatusOK || decode[importOp](t, again).ID != op.ID {
		t.Fatalf("repeated request: %d %s, want import %s", again.code, again.body, op.ID)
	}
	time.Sleep(300 * time.Millisecond) // time for a second run, were there one
	if after := m.waitImport(op.ID, 5*time.Second); after.Counts != op.Counts || after.ItemsDone != 4 {
		t.Errorf("the repeat changed the import: %+v, was %+v", after, op)
	}
	if got := m.organizationNames(); len(got) != 5 {
		t.Errorf("the repeat created organizations: %v", got)
	}
}

func TestImportOverTheLicensesWritesNothing(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	m := newMapper(w, a)
	m.licensed(5)
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprintf("Capped Client %02d", i+1))
	}
	itg := seedITGlue(sims, names...)
	it := itGlueIntegration(w, a, sims)
	it.refresh("REFRESH_MODE_FULL")
	if c := m.waitCandidates(it.id, 8); c.Licenses.Remaining != 5 || c.Licenses.Limit != 5 || c.Licenses.Unlimited {
		t.Fatalf("candidates say licenses %+v, want 5 of 5 remaining", c.Licenses)
	}
	var all []string
	for _, n := range names {
		all = append(all, itg[n])
	}

	request := uuid.NewString()
	r := m.startImport(a.adminKey, it.id, request, all)
	msg, reasons := refusal(t, r)
	if r.code != http.StatusBadRequest || !slices.Contains(reasons, "LICENSE_LIMIT") || !strings.Contains(msg, "8") || !strings.Contains(msg, "5") {
		t.Fatalf("8 to create with 5 licenses: %d %s, want 400 LICENSE_LIMIT saying 8 and 5", r.code, r.body)
	}
	time.Sleep(300 * time.Millisecond) // time for a worker to create something, were anything written
	if got := m.organizationNames(); len(got) != 0 {
		t.Errorf("the refused import created %v", got)
	}
	if _, used, _ := w.usage(a); used != 0 {
		t.Errorf("the refused import used %v licenses", used)
	}
	if c := m.candidates(a.adminKey, it.id, ""); c.TotalSize != 8 {
		t.Errorf("after the refusal %d candidates, want 8", c.TotalSize)
	}
	if g := m.grid(a.adminKey, nil); g.TotalSize != 0 {
		t.Errorf("after the refusal the grid has %v", g.names())
	}

	// Nothing was recorded under the request id either: the same id now starts the 5 that fit.
	op := m.importAll(it.id, request, all[:5])
	if op.ItemsTotal != 5 || op.State != "IMPORT_STATE_SUCCEEDED" || op.Counts.Created != 5 || op.Counts.Failed != 0 {
		t.Fatalf("5 of 5 licenses: %+v, want all 5 created", op)
	}
	if got := m.organizationNames(); strings.Join(got, ",") != strings.Join(names[:5], ",") {
		t.Errorf("org has %v", got)
	}
	if _, used, remaining := w.usage(a); used != 5 || remaining != 0 {
		t.Errorf("usage %v used, %v remaining", used, remaining)
	}
	if c := m.candidates(a.adminKey, it.id, ""); c.TotalSize != 3 || c.Licenses.Remaining != 0 {
		t.Errorf("after the import: %d candidates, licenses %+v", c.TotalSize, c.Licenses)
	}
}

// batchWorld is an account with n organizations and n IT Glue organizations, known to mapping.
func batchWorld(t *testing.T, n int) (mapper, integrationFixture, mappingGrid, map[string]string) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	m := newMapper(w, a)
	m.licensed(max(n, 25))
	var orgs, exts []string
	for i := range n {
		orgs = append(orgs, fmt.Sprintf("Batch Client %02d", i+1))
		exts = append(exts, fmt.Sprintf("Glue Client %02d", i+1))
	}
	m.bulkCreate(orgs)
	itg := seedITGlue(sims, exts...)
	it := itGlueIntegration(w, a, sims)
	it.refresh("REFRESH_MODE_FULL")
	m.waitCandidates(it.id, n)
	g := m.waitGrid(fmt.Sprint(n, " organizations"), nil, func(g mappingGrid) bool { return int(g.TotalSize) == n })
	return m, it, g, itg
}

func TestBatchSaveAppliesAllOrNothing(t *testing.T) {
	m, it, g, itg := batchWorld(t, 50)
	var changes []mappingChange
	for i, r := range g.Rows {
		changes = append(changes, change(r, it.id, itg[fmt.Sprintf("Glue Client %02d", i+1)]))
	}
	bad := slices.Clone(changes)
	bad[24].ExternalOrganizationID = "987654321" // no such IT Glue organization
	r := m.save(m.a.adminKey, bad...)
	if msg, _ := refusal(t, r); r.code != http.StatusNotFound || !strings.Contains(msg, "changes[24].externalOrganizationId") {
		t.Fatalf("a batch with one unknown external organization: %d %s, want 404 naming changes[24].externalOrganizationId", r.code, r.body)
	}
	after := m.grid(m.a.adminKey, nil)
	for i, row := range after.Rows {
		if len(row.Cells) != 0 || row.Version != g.Rows[i].Version {
			t.Fatalf("the refused batch changed %s: %+v (version %d, was %d)", row.OrganizationName, row.Cells, row.Version, g.Rows[i].Version)
		}
	}
	if mapped := m.grid(m.a.adminKey, url.Values{"filter": {"GRID_FILTER_MAPPED"}}); mapped.TotalSize != 0 {
		t.Fatalf("the refused batch mapped %v", mapped.names())
	}

	valid := slices.Delete(slices.Clone(changes), 24, 25)
	r = m.save(m.a.adminKey, valid...)
	if r.code != http.StatusOK {
		t.Fatalf("the 49 valid changes: %d %s", r.code, r.body)
	}
	saved := decode[struct {
		Rows []gridRow `json:"rows"`
	}](t, r).Rows
	if len(saved) != 49 {
		t.Fatalf("the save answered %d rows, want 49", len(saved))
	}
	for _, row := range saved {
		if len(row.Cells) != 1 || row.Version <= g.byName()[row.OrganizationName].Version {
			t.Errorf("saved row %+v: want one link and a newer version", row)
		}
	}
	// One mapping.linked per link made, through the outbox; none for the refused batch.
	deadline := time.Now().Add(60 * time.Second) // an upper bound: events arrive in ms, a loaded CI machine is slower
	for len(linkedEvents(m.w, m.a.id)) < 49 && time.Now().Before(deadline) {
		time.Sleep(25 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // time for more, were there more
	evs := linkedEvents(m.w, m.a.id)
	linkedOrgs := map[string]bool{}
	for _, ev := range evs {
		if ev.GetLink().GetIntegrationId() != it.id || ev.GetLink().GetMethod() != mappingv1.LinkMethod_LINK_METHOD_MANUAL {
			t.Errorf("mapping.linked %v", ev)
		}
		linkedOrgs[ev.GetLink().GetOrganizationId()] = true
	}
	if len(evs) != 49 || len(linkedOrgs) != 49 || linkedOrgs[g.Rows[24].OrganizationID] {
		t.Errorf("%d mapping.linked events for %d organizations, want 49 for the 49 saved rows", len(evs), len(linkedOrgs))
	}

	mapped := m.grid(m.a.adminKey, url.Values{"filter": {"GRID_FILTER_MAPPED"}, "integrationId": {it.id}})
	if mapped.TotalSize != 49 {
		t.Fatalf("%d rows mapped, want 49", mapped.TotalSize)
	}
	for i, row := range g.Rows {
		c := mapped.byName()[row.OrganizationName].cell(it.id)
		wantExt := itg[fmt.Sprintf("Glue Client %02d", i+1)]
		if i == 24 && c != nil || i != 24 && (c == nil || c.ExternalOrganizationID != wantExt || c.Method != "LINK_METHOD_MANUAL") {
			t.Errorf("%s: cell %+v", row.OrganizationName, c)
		}
	}
}

func TestOverlappingSavesConflictNamingTheRows(t *testing.T) {
	m, it, _, itg := batchWorld(t, 6)
	_, keyA := m.w.keyFor(m.a, "alice@contoso.example", "vCIO")
	_, keyB := m.w.keyFor(m.a, "bob@contoso.example", "vCIO")
	readA, readB := m.grid(keyA, nil), m.grid(keyB, nil)
	if len(readA.Rows) != 6 || len(readB.Rows) != 6 {
		t.Fatalf("the users read %d and %d rows", len(readA.Rows), len(readB.Rows))
	}
	ext := func(i int) string { return itg[fmt.Sprintf("Glue Client %02d", i)] }
	// Alice saves rows 0-2; Bob, from his older read, rows 1-3 (and a fresh row 4).
	if r := m.save(keyA, change(readA.Rows[0], it.id, ext(1)), change(readA.Rows[1], it.id, ext(2)), change(readA.Rows[2], it.id, ext(3))); r.code != 200 {
		t.Fatalf("alice's save: %d %s", r.code, r.body)
	}
	r := m.save(keyB, change(readB.Rows[1], it.id, ext(4)), change(readB.Rows[2], it.id, ext(5)), change(readB.Rows[3], it.id, ext(6)),
		change(readB.Rows[4], it.id, ""))
	msg, reasons := refusal(t, r)
	if r.code != http.StatusConflict || !slices.Contains(reasons, "ROWS_CHANGED") {
		t.Fatalf("bob's overlapping save: %d %s, want 409 ROWS_CHANGED", r.code, r.body)
	}
	for i, row := range readB.Rows {
		named := strings.Contains(msg, row.OrganizationID)
		if named != (i == 1 || i == 2) {
			t.Errorf("the conflict names %s (%s): %v; want rows 1 and 2 only: %s", row.OrganizationName, row.OrganizationID, named, msg)
		}
	}
	// A client marks the rows from the ErrorInfo, without reading the message.
	wantIDs := []string{readB.Rows[1].OrganizationID, readB.Rows[2].OrganizationID}
	slices.Sort(wantIDs)
	if got := errorInfo(t, r, "ROWS_CHANGED")["organizationIds"]; got != strings.Join(wantIDs, ",") {
		t.Errorf("ROWS_CHANGED metadata organizationIds %q, want %q", got, strings.Join(wantIDs, ","))
	}
	now := m.grid(m.a.adminKey, nil)
	for i, row := range now.Rows {
		c := row.cell(it.id)
		switch {
		case i <= 2 && (c == nil || c.ExternalOrganizationID != ext(i+1)):
			t.Errorf("%s: %+v, want alice's link to %s", row.OrganizationName, c, ext(i+1))
		case i > 2 && c != nil:
			t.Errorf("%s: bob's refused batch linked %+v", row.OrganizationName, c)
		}
	}
	// Read again, Bob's batch applies.
	fresh := m.grid(keyB, nil)
	if r := m.save(keyB, change(fresh.Rows[1], it.id, ext(4)), change(fresh.Rows[2], it.id, ext(5)), change(fresh.Rows[3], it.id, ext(6))); r.code != 200 {
		t.Fatalf("bob's save after reading again: %d %s", r.code, r.body)
	}

	// An external organization another row holds: refused, naming the change and the holder.
	fresh = m.grid(keyB, nil)
	r = m.save(keyB, change(fresh.Rows[4], it.id, ext(4)))
	if _, reasons := refusal(t, r); r.code != http.StatusConflict || !slices.Contains(reasons, "EXTERNAL_ORGANIZATION_LINKED") {
		t.Fatalf("linking row 4 to row 1's twin: %d %s, want 409 EXTERNAL_ORGANIZATION_LINKED", r.code, r.body)
	}
	md := errorInfo(t, r, "EXTERNAL_ORGANIZATION_LINKED")
	if md["change"] != "0" || md["organizationId"] != fresh.Rows[1].OrganizationID || md["externalOrganizationId"] != ext(4) {
		t.Errorf("EXTERNAL_ORGANIZATION_LINKED metadata %v, want change 0, organizationId %s, externalOrganizationId %s",
			md, fresh.Rows[1].OrganizationID, ext(4))
	}
	// Moved in one batch: the holder lets go (relinked to the twin row 1 had before) as row 4 takes it.
	if r := m.save(keyB, change(fresh.Rows[4], it.id, ext(4)), change(fresh.Rows[1], it.id, ext(2))); r.code != 200 {
		t.Fatalf("moving row 1's twin to row 4 in one batch: %d %s", r.code, r.body)
	}
	now = m.grid(m.a.adminKey, nil)
	if c := now.Rows[4].cell(it.id); c == nil || c.ExternalOrganizationID != ext(4) {
		t.Errorf("after the move, row 4 is %+v, want %s", c, ext(4))
	}
	if c := now.Rows[1].cell(it.id); c == nil || c.ExternalOrganizationID != ext(2) {
		t.Errorf("after the move, row 1 is %+v, want %s", c, ext(2))
	}
}

// errorInfo is the metadata of a refusal's google.rpc.ErrorInfo with reason.
func errorInfo(t testing.TB, r response, reason string) map[string]string {
	t.Helper()
	for _, d := range decode[restError](t, r).Details {
		if d.Reason == reason {
			return d.Metadata
		}
	}
	t.Fatalf("no ErrorInfo %s in %s", reason, r.body)
	return nil
}

func TestConcurrentImportsOfOneITGlueOrganizationLinkItOnce(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	m := newMapper(w, a)
	m.licensed(25)
	existing := m.bulkCreate([]string{"Shared Existing"})["Shared Existing"]
	itg := seedITGlue(sims, "Shared Existing", "Shared New")
	it := itGlueIntegration(w, a, sims)
	it.refresh("REFRESH_MODE_FULL")
	m.waitCandidates(it.id, 2)
	m.waitGrid("the organization", nil, func(g mappingGrid) bool { return g.TotalSize == 1 })

	const n = 4
	body := func() string {
		b, _ := json.Marshal(map[string]any{"requestId": uuid.NewString(), "externalOrganizationIds": []string{itg["Shared Existing"], itg["Shared New"]}})
		return string(b)
	}
	var reqs []func() response
	var mu sync.Mutex
	var started []response
	for range n {
		b := body()
		reqs = append(reqs, func() response {
			r := w.suite.doQuiet("POST", m.acct+"/integrations/"+it.id+":import", a.adminKey, b)
			mu.Lock()
			started = append(started, r)
			mu.Unlock()
			return r
		})
	}
	codes := w.burst(reqs)
	if count(codes, http.StatusOK) != n {
		t.Fatalf("%d concurrent imports answered %v, want all 200", n, codes)
	}
	created, linked := 0, 0
	var outcomes []string
	for _, r := range started {
		op := m.waitImport(decode[importOp](t, r).ID, 20*time.Second)
		if op.State != "IMPORT_STATE_SUCCEEDED" || op.ItemsDone != 2 {
			t.Errorf("import ended %+v", op)
		}
		created += op.Counts.Created
		linked += op.Counts.Linked + op.Counts.Relinked
		for _, item := range m.items(op.ID) {
			outcomes = append(outcomes, item.Name+": "+strings.TrimPrefix(item.Outcome, "IMPORT_OUTCOME_")+" "+item.Reason)
			if item.Outcome == "IMPORT_OUTCOME_FAILED" && item.Reason == "" {
				t.Errorf("a failed item without a reason: %+v", item)
			}
		}
	}
	if created != 1 || linked != 1 {
		// Only one import made each link; the others must not report it as theirs.
		t.Errorf("%d imports of the same two IT Glue organizations created %d and linked %d, want 1 and 1 (items %q)", n, created, linked, outcomes)
	}
	if got := m.organizationNames(); strings.Join(got, ",") != "Shared Existing,Shared New" {
		t.Errorf("org has %v", got)
	}
	g := m.waitGrid("the created organization", nil, func(g mappingGrid) bool { return g.TotalSize == 2 })
	links := map[string]int{}
	for _, row := range g.Rows {
		for _, c := range row.Cells {
			links[c.ExternalOrganizationID]++
		}
	}
	if links[itg["Shared Existing"]] != 1 || links[itg["Shared New"]] != 1 || len(links) != 2 {
		t.Errorf("links by IT Glue organization %v, want one each", links)
	}
	if c := g.byName()["Shared Existing"].cell(it.id); c == nil || c.ExternalOrganizationID != itg["Shared Existing"] {
		t.Errorf("Shared Existing (%s): %+v", existing, c)
	}
}

func TestSuggestionsFindThePlantedTwinsAndLinkNothing(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	m := newMapper(w, a)
	base := simkit.BaseNames(60, 42)
	m.licensed(60)
	orgIDs := m.bulkCreate(base)

	// Each tool spells the clients its own way, as the simulators' seeds do, beside unrelated ones.
	itVariants := []simkit.Variant{simkit.UpperFirst, simkit.Lower, simkit.Suffix, simkit.NoPunct}
	cwVariants := []simkit.Variant{simkit.Suffix, simkit.NoPunct, simkit.Lower, simkit.UpperFirst}
	planted := map[string]map[string]string{} // integration kind → organization id → external id
	planted["itglue"], planted["connectwise"] = map[string]string{}, map[string]string{}
	for i, name := range base {
		itName := simkit.Vary(name, itVariants[i%len(itVariants)], i)
		planted["itglue"][orgIDs[name]] = fmt.Sprint(sims.ITGlue.Sim.Store.Add(simkit.Company{Name: itName, Active: true}).ID)
		cwName := simkit.Vary(name, cwVariants[i%len(cwVariants)], i+3)
		planted["connectwise"][orgIDs[name]] = fmt.Sprint(sims.ConnectWise.Sim.Store.Add(simkit.Company{Name: cwName, Active: true,
			Identifier: fmt.Sprintf("SUG%03d", i)}).ID)
	}
	for _, n := range []string{"Zephyr Aerospace", "Quantum Bakery", "Obsidian Shipping Co."} {
		sims.ITGlue.Sim.Store.Add(simkit.Company{Name: n, Active: true})
		sims.ConnectWise.Sim.Store.Add(simkit.Company{Name: n, Active: true, Identifier: "X" + strings.ToUpper(n[:3])})
	}
	it := itGlueIntegration(w, a, sims)
	cw := connectWiseIntegration(w, a, sims)
	it.refresh("REFRESH_MODE_FULL")
	cw.refresh("REFRESH_MODE_FULL")
	m.waitCandidates(it.id, 63)
	m.waitGrid("the 60 organizations", nil, func(g mappingGrid) bool { return g.TotalSize == 60 })
	names := map[string]string{}
	every := url.Values{}
	for n, id := range orgIDs {
		names[id] = n
		every.Add("organizationIds", id)
	}

	for _, fx := range []struct {
		kind string
		id   string
	}{{"itglue", it.id}, {"connectwise", cw.id}} {
		// Mapping learns the external organizations from events: poll until every organization has
		// suggestions, then judge.
		var list []suggestion
		deadline := time.Now().Add(60 * time.Second) // an upper bound: events arrive in ms, a loaded CI machine is slower
		for {
			r := w.do("GET", m.acct+"/integrations/"+fx.id+"/matchSuggestions?perOrganization=3&"+every.Encode(), a.adminKey, "")
			if r.code == http.StatusOK {
				list = decode[struct {
					Suggestions []suggestion `json:"suggestions"`
				}](t, r).Suggestions
				orgs := map[string]bool{}
				for _, s := range list {
					orgs[s.OrganizationID] = true
				}
				if len(orgs) == 60 && len(list) >= 60 {
					break
				}
			} else if r.code != http.StatusNotFound {
				t.Fatalf("%s suggestions: %d %s", fx.kind, r.code, r.body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s suggestions never covered the 60 organizations: %d suggestions", fx.kind, len(list))
			}
			time.Sleep(50 * time.Millisecond)
		}
		top := map[string]suggestion{}
		for _, s := range list {
			if _, seen := top[s.OrganizationID]; !seen { // best first within each organization
				top[s.OrganizationID] = s
			}
		}
		misses := 0
		for orgID, ext := range planted[fx.kind] {
			s := top[orgID]
			if s.ExternalOrganizationID != ext || s.Score <= 0 || s.Score > 1 || s.Reason == "" || s.OrganizationName != names[orgID] {
				misses++
				t.Errorf("%s: the top suggestion for %q is %q (%s, score %.2f, %q), want its planted twin %s",
					fx.kind, names[orgID], s.ExternalName, s.ExternalOrganizationID, s.Score, s.Reason, ext)
			}
		}
		if misses > 0 {
			t.Errorf("%s: %d of 60 planted pairs were not the top suggestion", fx.kind, misses)
		}
		// Without organizationIds the route means every unmapped organization: the same answer.
		r := w.do("GET", m.acct+"/integrations/"+fx.id+"/matchSuggestions?perOrganization=3", a.adminKey, "")
		if r.code != http.StatusOK || len(decode[struct {
			Suggestions []suggestion `json:"suggestions"`
		}](t, r).Suggestions) != len(list) {
			t.Errorf("%s suggestions without organizationIds: %d %.300s, want the %d suggestions of all 60 organizations", fx.kind, r.code, r.body, len(list))
		}
	}

	// Suggestions are never applied.
	g := m.grid(a.adminKey, nil)
	for _, row := range g.Rows {
		if len(row.Cells) != 0 {
			t.Errorf("%s was linked: %+v", row.OrganizationName, row.Cells)
		}
	}
	if mapped := m.grid(a.adminKey, url.Values{"filter": {"GRID_FILTER_MAPPED"}}); mapped.TotalSize != 0 {
		t.Errorf("mapped rows after suggestions: %v", mapped.names())
	}
}

func TestMappingRoutesKeepGroupsAndTenants(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a, b := w.newMSP("Contoso MSP"), w.newMSP("Fabrikam IT")
	m := newMapper(w, a)
	m.licensed(25)
	east := w.must(200, "POST", m.acct+"/groups", a.adminKey, `{"name":"East"}`)["id"].(string)
	acme := w.createOrg(a, a.adminKey, `{"name":"Acme East","groupIds":["`+east+`"]}`)["id"].(string)
	globex := w.createOrg(a, a.adminKey, `{"name":"Globex West"}`)["id"].(string)
	itg := seedITGlue(sims, "ACME East", "Globex West", "Initech North")
	it := itGlueIntegration(w, a, sims)
	it.refresh("REFRESH_MODE_FULL")
	m.waitCandidates(it.id, 3)
	full := m.waitGrid("both organizations", nil, func(g mappingGrid) bool { return g.TotalSize == 2 })
	_, eastKey := w.keyFor(a, "eve@contoso.example", "vCIO", east)

	// The grid: only the group's organization.
	if g := m.grid(eastKey, nil); g.TotalSize != 1 || len(g.Rows) != 1 || g.Rows[0].OrganizationID != acme {
		t.Errorf("the East user's grid: %d rows %v", g.TotalSize, g.names())
	}
	if g := m.grid(eastKey, url.Values{"query": {"globex"}}); g.TotalSize != 0 || len(g.Rows) != 0 {
		t.Errorf("the East user's search for globex: %v", g.names())
	}
	// Suggestions: only for the group's organization, even when asked for the other.
	sug := func(key, query string) (int, []suggestion) {
		r := w.do("GET", m.acct+"/integrations/"+it.id+"/matchSuggestions"+query, key, "")
		if r.code != 200 {
			return r.code, nil
		}
		return r.code, decode[struct {
			Suggestions []suggestion `json:"suggestions"`
		}](t, r).Suggestions
	}
	both := "?organizationIds=" + globex + "&organizationIds=" + acme
	if code, list := sug(a.adminKey, both); code != 200 || len(list) < 2 {
		t.Fatalf("the admin's suggestions: %d %+v", code, list)
	}
	if code, list := sug(eastKey, "?organizationIds="+acme); code != 200 || len(list) == 0 || list[0].ExternalOrganizationID != itg["ACME East"] {
		t.Errorf("the East user's suggestions for its organization: %d %+v", code, list)
	}
	for _, q := range []string{"", "?organizationIds=" + globex, both} {
		code, list := sug(eastKey, q)
		if code != 200 {
			t.Errorf("the East user's suggestions%s: %d", q, code)
		}
		for _, s := range list {
			if s.OrganizationID != acme {
				t.Errorf("the East user's suggestions%s name %q", q, s.OrganizationName)
			}
		}
	}
	// A batch on a row out of the group is refused as if the row did not exist.
	if r := m.save(eastKey, change(full.byName()["Globex West"], it.id, itg["Globex West"])); r.code != http.StatusNotFound ||
		!strings.Contains(string(r.body), "changes[0].organizationId") {
		t.Errorf("the East user saving Globex: %d %s, want 404 naming changes[0].organizationId", r.code, r.body)
	}
	// An import by the group's user does not link an organization the user cannot see.
	op := decode[importOp](t, m.startImport(eastKey, it.id, uuid.NewString(), []string{itg["Globex West"]}))
	if op.ID == "" {
		t.Fatalf("the East user's import was not started")
	}
	op = m.waitImport(op.ID, 20*time.Second)
	if c := m.grid(a.adminKey, nil).byName()["Globex West"].cell(it.id); c != nil {
		t.Errorf("the East user's import linked Globex West, which the user cannot see: %+v (import %+v)", c, op)
	}

	// Another account: the first account's integration and imports do not exist for it.
	imported := m.importAll(it.id, uuid.NewString(), []string{itg["Initech North"]})
	importBody, _ := json.Marshal(map[string]any{"requestId": uuid.NewString(), "externalOrganizationIds": []string{itg["ACME East"]}})
	for _, acct := range []string{b.id, a.id} {
		base := "/v1/accounts/" + acct
		for _, c := range []struct{ method, path, body string }{
			{"GET", base + "/mappingGrid", ""},
			{"GET", base + "/integrations/" + it.id + "/importCandidates", ""},
			{"POST", base + "/integrations/" + it.id + ":import", string(importBody)},
			{"GET", base + "/integrations/" + it.id + "/matchSuggestions", ""},
			{"GET", base + "/imports/" + imported.ID, ""},
			{"GET", base + "/imports/" + imported.ID + "/items", ""},
			{"POST", base + "/mappings:batchSave", `{"changes":[{"organizationId":"` + acme + `","version":"0","integrationId":"` + it.id + `","externalOrganizationId":"` + itg["ACME East"] + `"}]}`},
		} {
			if acct == b.id && c.path == base+"/mappingGrid" {
				continue // its own grid, empty, below
			}
			if r := w.do(c.method, c.path, b.adminKey, c.body); r.code != http.StatusNotFound {
				t.Errorf("another account's admin: %s %s = %d %s, want 404", c.method, c.path, r.code, r.body)
			}
		}
	}
	if g := newMapper(w, b).grid(b.adminKey, nil); g.TotalSize != 0 || len(g.Integrations) != 0 {
		t.Errorf("the other account's grid shows %v and %d integrations", g.names(), len(g.Integrations))
	}
	if c := m.grid(a.adminKey, nil).byName()["Acme East"].cell(it.id); c != nil {
		t.Errorf("the other account linked Acme East: %+v", c)
	}
}

func TestGridColumnsFiltersOrphansAndDeletions(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	m := newMapper(w, a)
	m.licensed(25)
	ids := m.bulkCreate([]string{"Alpha Dental", "Beta Law", "Gamma Foods"})
	itg := seedITGlue(sims, "ALPHA Dental", "Beta Law")
	cws := seedConnectWise(sims, "Alpha Dental LLC", "Beta Law LLP", "Gamma Foods Inc.")
	cwID := func(i int) string { return fmt.Sprint(cws[i].ID) }
	it := itGlueIntegration(w, a, sims)
	cw := connectWiseIntegration(w, a, sims)
	it.refresh("REFRESH_MODE_FULL")
	cw.refresh("REFRESH_MODE_FULL")
	m.waitCandidates(it.id, 2)
	g := m.waitGrid("the three organizations and both columns refreshed", nil, func(g mappingGrid) bool {
		if g.TotalSize != 3 || len(g.Integrations) != 2 {
			return false
		}
		for _, c := range g.Integrations {
			if c.LastRefreshTime == "" || c.Refreshing {
				return false
			}
		}
		return true
	})
	cols := map[string]string{}
	for _, c := range g.Integrations {
		cols[c.ID] = c.Kind
	}
	if cols[it.id] != "itglue" || cols[cw.id] != "connectwise" {
		t.Errorf("columns %+v", g.Integrations)
	}
	if g.Licenses != (licenses{Limit: 25, Used: 3, Remaining: 22}) {
		t.Errorf("licenses %+v, want 22 of 25 remaining", g.Licenses)
	}

	rows := g.byName()
	m.saveWhenKnown(change(rows["Alpha Dental"], it.id, itg["ALPHA Dental"]), change(rows["Alpha Dental"], cw.id, cwID(0)),
		change(rows["Beta Law"], cw.id, cwID(1)))
	names := func(params url.Values) string { return strings.Join(m.grid(a.adminKey, params).names(), ",") }
	for _, c := range []struct {
		params url.Values
		want   string
	}{
		{url.Values{"filter": {"GRID_FILTER_UNMAPPED"}, "integrationId": {it.id}}, "Beta Law,Gamma Foods"},
		{url.Values{"filter": {"GRID_FILTER_UNMAPPED"}, "integrationId": {cw.id}}, "Gamma Foods"},
		{url.Values{"filter": {"GRID_FILTER_UNMAPPED"}}, "Beta Law,Gamma Foods"},
		{url.Values{"filter": {"GRID_FILTER_MAPPED"}, "integrationId": {it.id}}, "Alpha Dental"},
		{url.Values{"filter": {"GRID_FILTER_MAPPED"}}, "Alpha Dental,Beta Law"},
		{url.Values{"filter": {"GRID_FILTER_ORPHANED"}}, ""},
		{url.Values{"query": {"LAW"}}, "Beta Law"},
		{url.Values{"query": {"a"}, "filter": {"GRID_FILTER_UNMAPPED"}, "integrationId": {cw.id}}, "Gamma Foods"},
	} {
		if got := names(c.params); got != c.want {
			t.Errorf("grid %v: %q, want %q", c.params, got, c.want)
		}
	}
	alpha := m.grid(a.adminKey, url.Values{"query": {"alpha"}}).Rows[0]
	if c := alpha.cell(it.id); c == nil || c.State != "EXTERNAL_STATE_SYNCING" || c.ExternalName != "ALPHA Dental" {
		t.Errorf("Alpha's IT Glue cell %+v, want ALPHA Dental syncing", c)
	}

	// The linked IT Glue organization vanishes; a full refresh orphans it and the grid says so.
	gone, _ := strconv.ParseInt(itg["ALPHA Dental"], 10, 64)
	if _, ok := sims.ITGlue.Sim.Store.Remove(gone); !ok {
		t.Fatal("remove")
	}
	it.refresh("REFRESH_MODE_FULL")
	m.waitGrid("Alpha's IT Glue link orphaned", url.Values{"query": {"alpha"}}, func(g mappingGrid) bool {
		c := g.Rows[0].cell(it.id)
		return c != nil && c.State == "EXTERNAL_STATE_ORPHANED"
	})
	if got := names(url.Values{"filter": {"GRID_FILTER_ORPHANED"}}); got != "Alpha Dental" {
		t.Errorf("orphaned rows: %q", got)
	}
	if got := names(url.Values{"filter": {"GRID_FILTER_ORPHANED"}, "integrationId": {cw.id}}); got != "" {
		t.Errorf("orphaned rows in ConnectWise: %q", got)
	}
	if c := m.grid(a.adminKey, url.Values{"query": {"alpha"}}).Rows[0].cell(cw.id); c == nil || c.State != "EXTERNAL_STATE_SYNCING" {
		t.Errorf("Alpha's ConnectWise cell %+v, want syncing", c)
	}

	// Deleting an organization removes its row and its links: its ConnectWise company is free.
	w.must(200, "DELETE", m.acct+"/organizations/"+ids["Beta Law"], a.adminKey, "")
	g = m.waitGrid("Beta Law gone", nil, func(g mappingGrid) bool { return g.TotalSize == 2 })
	if got := strings.Join(g.names(), ","); got != "Alpha Dental,Gamma Foods" || g.Licenses.Used != 2 {
		t.Errorf("after the deletion: %q, licenses %+v", got, g.Licenses)
	}
	if r := m.save(a.adminKey, change(g.byName()["Gamma Foods"], cw.id, cwID(1))); r.code != http.StatusOK {
		t.Errorf("linking the deleted organization's ConnectWise company elsewhere: %d %s", r.code, r.body)
	}
}

func TestImportOfTwoThousandITGlueOrganizations(t *testing.T) {
	const n = 2000
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	m := newMapper(w, a)
	m.licensed(n + 2)
	m.bulkCreate([]string{"Existing One", "Existing Two"})
	for i := range n {
		sims.ITGlue.Sim.Store.Add(simkit.Company{Name: fmt.Sprintf("Imported Client %04d", i+1), Active: true})
	}
	it := itGlueIntegration(w, a, sims)
	start := time.Now()
	it.refresh("REFRESH_MODE_FULL")
	c := m.waitCandidates(it.id, n)
	t.Logf("refresh and %d candidates in %v", n, time.Since(start))
	if len(c.Candidates) != n || c.Licenses.Remaining != n {
		t.Fatalf("%d candidates listed, licenses %+v", len(c.Candidates), c.Licenses)
	}
	ids := make([]string, len(c.Candidates))
	for i, cand := range c.Candidates {
		ids[i] = cand.ExternalOrganizationID
	}
	start = time.Now()
	op := m.importAll(it.id, uuid.NewString(), ids)
	t.Logf("import of %d in %v", n, time.Since(start))
	if op.State != "IMPORT_STATE_SUCCEEDED" || op.Counts.Created != n || op.Counts.Linked != 0 || op.Counts.Failed != 0 || op.ItemsDone != n {
		t.Fatalf("import ended %+v, want %d created", op, n)
	}
	g := m.waitGrid("every imported organization", nil, func(g mappingGrid) bool { return g.TotalSize == n+2 })
	if g.Licenses.Remaining != 0 || g.Licenses.Used != n+2 {
		t.Errorf("licenses %+v", g.Licenses)
	}
	if mapped := m.grid(a.adminKey, url.Values{"filter": {"GRID_FILTER_MAPPED"}, "integrationId": {it.id}}); int(mapped.TotalSize) != n {
		t.Errorf("%d rows mapped, want %d", mapped.TotalSize, n)
	}
	if got := m.organizationNames(); len(got) != n+2 || len(slices.Compact(slices.Clone(got))) != n+2 {
		t.Errorf("org has %d organizations (%d distinct), want %d", len(got), len(slices.Compact(slices.Clone(got))), n+2)
	}
	if c := m.candidates(a.adminKey, it.id, ""); c.TotalSize != 0 {
		t.Errorf("%d candidates after importing all", c.TotalSize)
	}
}
