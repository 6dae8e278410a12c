package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	simcw "github.com/orgplane/orgplane/deploy/simulators/connectwise"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	authzv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/authz/v1"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
)

// Integration-sync as a REST caller meets it: through the real gateway, against the vendor
// simulators, with the account's own API keys. The connectors' wire formats, budgets and
// resumption are tested beside the service (services/integration-sync/internal/app); what stays
// here is what only the whole suite shows: the routes, what the responses never say, the public
// webhook route and tenant isolation.

// connectWiseCredentials are the simulator's credentials as an integration takes them.
func connectWiseCredentials() map[string]string {
	return map[string]string{"site": "api-na.myconnectwise.net", "companyId": simulators.ConnectWiseCompanyID,
		"publicKey": simulators.ConnectWisePublicKey, "privateKey": simulators.ConnectWisePrivateKey,
		"clientId": simulators.ConnectWiseClientID, "webhookSecret": simulators.WebhookSecret}
}

// startSimulators runs the four simulators, empty, until the test ends.
func startSimulators(t *testing.T) *simulators.Set {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sims, err := simulators.Start(ctx, simulators.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return sims
}

// integrationFixture is an account's ConnectWise integration over REST.
type integrationFixture struct {
	w    *world
	a    msp
	base string // /v1/accounts/{a}/integrations/{id}
	id   string
}

// connectWiseIntegration creates a ConnectWise integration pointed at the simulator.
func connectWiseIntegration(w *world, a msp, sims *simulators.Set) integrationFixture {
	w.t.Helper()
	body, err := json.Marshal(map[string]any{"kind": "connectwise", "displayName": "ConnectWise (simulated)",
		"endpoint": sims.ConnectWise.URL, "credentials": connectWiseCredentials()})
	if err != nil {
		w.t.Fatal(err)
	}
	r := w.do("POST", "/v1/accounts/"+a.id+"/integrations", a.adminKey, string(body))
	if r.code != http.StatusOK {
		w.t.Fatalf("create integration: %d %s", r.code, r.body)
	}
	noCredentialIn(w.t, "create", r.body)
	id, _ := r.json(w.t)["id"].(string)
	if id == "" {
		w.t.Fatalf("created integration has no id: %s", r.body)
	}
	return integrationFixture{w: w, a: a, id: id, base: "/v1/accounts/" + a.id + "/integrations/" + id}
}

// noCredentialIn fails when a response body carries any credential value, in any field.
func noCredentialIn(t testing.TB, what string, body []byte) {
	t.Helper()
	for name, v := range connectWiseCredentials() {
		if bytes.Contains(body, []byte(v)) {
			t.Errorf("%s: the response echoes credential %s", what, name)
		}
	}
}

// num reads a JSON number that protojson may write as a string (64-bit integers).
func num(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

// refresh starts a refresh of mode and waits for it to end, returning the operation; a refresh of
// another mode already running (the scheduler's) is waited out and the request repeated.
func (fx integrationFixture) refresh(mode string) map[string]any {
	fx.w.t.Helper()
	for range 3 {
		op := fx.w.must(200, "POST", fx.base+":refresh", fx.a.adminKey, `{"mode":"`+mode+`"}`)
		id, _ := op["id"].(string)
		if id == "" || op["integrationId"] != fx.id {
			fx.w.t.Fatalf("refresh answered %v", op)
		}
		done := fx.waitOperation(id)
		if done["mode"] == mode {
			return done
		}
	}
	fx.w.t.Fatalf("no %s refresh ran", mode)
	return nil
}

// waitOperation polls GET .../operations/{id} until the operation ends; it must succeed with its
// progress reported.
func (fx integrationFixture) waitOperation(id string) map[string]any {
	fx.w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		op := fx.w.must(200, "GET", "/v1/accounts/"+fx.a.id+"/operations/"+id, fx.a.adminKey, "")
		switch op["state"] {
		case "OPERATION_STATE_RUNNING":
		case "OPERATION_STATE_SUCCEEDED":
			return op
		default:
			fx.w.t.Fatalf("operation %s ended %v", id, op)
		}
		if time.Now().After(deadline) {
			fx.w.t.Fatalf("operation %s still running: %v", id, op)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// externals lists the integration's cached organizations matching query, page by page.
func (fx integrationFixture) externals(query string, pageSize int) (orgs []map[string]any, pages, total int) {
	fx.w.t.Helper()
	token := ""
	for {
		q := url.Values{"query": {query}, "pageSize": {fmt.Sprint(pageSize)}, "pageToken": {token}}
		page := fx.w.must(200, "GET", fx.base+"/externalOrganizations?"+q.Encode(), fx.a.adminKey, "")
		pages++
		if pages > 50 {
			fx.w.t.Fatal("paging does not end")
		}
		list, _ := page["externalOrganizations"].([]any)
		for _, o := range list {
			orgs = append(orgs, o.(map[string]any))
		}
		total = num(page["totalSize"])
		token, _ = page["nextPageToken"].(string)
		if token == "" {
			return orgs, pages, total
		}
	}
}

// cachedName is the name the cache holds for a company of the simulator ("" when not cached).
func (fx integrationFixture) cachedName(externalID int64, query string) string {
	fx.w.t.Helper()
	orgs, _, _ := fx.externals(query, 1000)
	for _, o := range orgs {
		if o["externalId"] == fmt.Sprint(externalID) {
			name, _ := o["name"].(string)
			return name
		}
	}
	return ""
}

func seedConnectWise(sims *simulators.Set, names ...string) []simkit.Company {
	var out []simkit.Company
	for i, n := range names {
		out = append(out, sims.ConnectWise.Sim.Store.Add(simkit.Company{Name: n, Identifier: fmt.Sprintf("SEED%03d", i), Active: true}))
	}
	return out
}

func TestIntegrationStoryOverREST(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	var names []string
	for i := range 12 {
		names = append(names, fmt.Sprintf("Harbor Dental %02d", i+1))
	}
	for i := range 18 {
		names = append(names, fmt.Sprintf("Summit Logistics %02d", i+1))
	}
	companies := seedConnectWise(sims, names...)

	fx := connectWiseIntegration(w, a, sims)
	got := w.do("GET", fx.base, a.adminKey, "")
	if got.code != 200 {
		t.Fatalf("get: %d %s", got.code, got.body)
	}
	noCredentialIn(t, "get", got.body)
	var integ struct {
		Kind             string `json:"kind"`
		State            string `json:"state"`
		Credentials      any    `json:"credentials"`
		CredentialStatus []struct {
			Name       string `json:"name"`
			Set        bool   `json:"set"`
			UpdateTime string `json:"updateTime"`
		} `json:"credentialStatus"`
	}
	if err := json.Unmarshal(got.body, &integ); err != nil {
		t.Fatal(err)
	}
	if m, _ := integ.Credentials.(map[string]any); integ.Kind != "connectwise" || integ.State != "INTEGRATION_STATE_UNTESTED" || len(m) != 0 {
		t.Errorf("created integration: %s", got.body)
	}
	set := map[string]bool{}
	for _, c := range integ.CredentialStatus {
		set[c.Name] = c.Set && c.UpdateTime != ""
	}
	for name := range connectWiseCredentials() {
		if !set[name] {
			t.Errorf("credentialStatus does not say %s is set (with when): %s", name, got.body)
		}
	}
	list := w.do("GET", "/v1/accounts/"+a.id+"/integrations", a.adminKey, "")
	if list.code != 200 || !bytes.Contains(list.body, []byte(fx.id)) {
		t.Fatalf("list: %d %s", list.code, list.body)
	}
	noCredentialIn(t, "list", list.body)

	// Test connection: the simulator accepts the credentials.
	tested := w.do("POST", fx.base+":test", a.adminKey, `{}`)
	noCredentialIn(t, "test", tested.body)
	if tested.code != 200 || tested.json(t)["ok"] != true ||
		tested.json(t)["integration"].(map[string]any)["state"] != "INTEGRATION_STATE_CONNECTED" {
		t.Fatalf("test connection: %d %s", tested.code, tested.body)
	}

	// A full refresh, watched through the operation resource.
	op := fx.refresh("REFRESH_MODE_FULL")
	progress, _ := op["progress"].(map[string]any)
	result, _ := op["result"].(map[string]any)
	if num(progress["pagesDone"]) < 1 || num(progress["itemsDone"]) != len(companies) || num(result["created"]) != len(companies) || op["endTime"] == nil {
		t.Errorf("finished refresh reports progress %v, result %v, want %d items read and created", progress, result, len(companies))
	}
	after := w.must(200, "GET", fx.base, a.adminKey, "")
	if num(after["externalOrganizationCount"]) != len(companies) || after["lastFullRefreshTime"] == nil {
		t.Errorf("integration after the refresh: %v", after)
	}

	// Search and paging: every match once, across pages, and nothing else.
	orgs, pages, total := fx.externals("dental", 5)
	var seen []string
	for _, o := range orgs {
		name, _ := o["name"].(string)
		if !strings.Contains(name, "Dental") || o["state"] != "EXTERNAL_ORGANIZATION_STATE_SYNCING" || o["integrationId"] != fx.id {
			t.Errorf("search for dental listed %v", o)
		}
		seen = append(seen, o["externalId"].(string))
	}
	slices.Sort(seen)
	if len(seen) != 12 || len(slices.Compact(seen)) != 12 || pages != 3 || total != 12 {
		t.Errorf("search for dental: %d organizations (%d distinct) over %d pages, total %d; want 12 over 3 pages", len(orgs), len(slices.Compact(seen)), pages, total)
	}
	if all, _, total := fx.externals("", 1000); len(all) != len(companies) || total != len(companies) {
		t.Errorf("unfiltered list: %d (total %d), want %d", len(all), total, len(companies))
	}

	// ConnectWise's pitfall: deleted with deletedFlag, status and lastUpdated untouched. The
	// next full refresh orphans it.
	gone := companies[3]
	if _, ok := sims.ConnectWise.Sim.Store.SoftDelete(gone.ID); !ok {
		t.Fatal("soft delete")
	}
	fx.refresh("REFRESH_MODE_FULL")
	orphans := w.must(200, "GET", "/v1/accounts/"+a.id+"/orphans", a.adminKey, "")
	rows, _ := orphans["orphans"].([]any)
	if len(rows) != 1 || num(orphans["totalSize"]) != 1 {
		t.Fatalf("orphans after the soft delete: %v", orphans)
	}
	o := rows[0].(map[string]any)
	if o["externalId"] != fmt.Sprint(gone.ID) || o["name"] != gone.Name || o["integrationId"] != fx.id ||
		o["state"] != "EXTERNAL_ORGANIZATION_STATE_ORPHANED" || o["stateReason"] == "" || o["stateTime"] == nil ||
		o["stateChangedBy"] == "" || o["integrationKind"] != "connectwise" {
		t.Errorf("orphan: %v", o)
	}
}

// webhookPost posts a delivery to the gateway's public webhook route, without any credential.
func webhookPost(t *testing.T, s *suite, integrationID string, header http.Header, body []byte) response {
	t.Helper()
	req, err := http.NewRequest("POST", s.st.GatewayURL+"/v1/webhooks/"+integrationID, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

// recordedDelivery is one webhook delivery a simulator made.
type recordedDelivery struct {
	header http.Header
	body   []byte
}

// deliveryRecorder stands where the gateway would, keeping the simulator's deliveries so the
// test can replay and forge them.
func deliveryRecorder(t *testing.T) (*httptest.Server, func() []recordedDelivery) {
	t.Helper()
	var mu sync.Mutex
	var got []recordedDelivery
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, recordedDelivery{header: r.Header.Clone(), body: b})
		mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []recordedDelivery { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
}

// companyFetches counts the simulator's requests for one company (what a delivery triggers).
func companyFetches(sims *simulators.Set) int {
	n := 0
	for route, c := range sims.ConnectWise.Sim.Acct.Snapshot().Requests {
		if strings.HasPrefix(route, "GET ") && strings.HasSuffix(route, "/company/companies/{id}") {
			n += c
		}
	}
	return n
}

// changedEvents counts the external_organization.changed events that name a company as name.
func changedEvents(w *world, accountID, externalID, name string) int {
	w.mu.Lock()
	msgs := slices.Clone(w.events)
	w.mu.Unlock()
	n := 0
	for _, m := range msgs {
		if m.Subject != "orgplane.integrationsync.v1."+accountID+".external_organization.changed" {
			continue
		}
		var ev integrationsyncv1.ExternalOrganizationChanged
		if err := proto.Unmarshal(m.Data, &ev); err != nil {
			w.t.Fatalf("%s: %v", m.Subject, err)
		}
		if ev.GetExternalOrganization().GetExternalId() == externalID && ev.GetExternalOrganization().GetName() == name {
			n++
		}
	}
	return n
}

func TestWebhooksThroughTheGateway(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	companies := seedConnectWise(sims, "Blue Harbor Clinic", "Cedar Ridge Law", "Maple Street Bakery")
	fx := connectWiseIntegration(w, a, sims)
	fx.refresh("REFRESH_MODE_FULL")
	cw := sims.ConnectWise.Sim

	// A real callback, from the simulator straight to the gateway, updates the cache in 2 s.
	cw.SetWebhook(w.st.GatewayURL+"/v1/webhooks/"+fx.id, simulators.WebhookSecret)
	first := companies[0]
	start := time.Now()
	if _, ok := cw.Store.Update(first.ID, false, func(c *simkit.Company) { c.Name = "Blue Harbor Medical Group" }); !ok {
		t.Fatal("rename")
	}
	for fx.cachedName(first.ID, "Blue Harbor") != "Blue Harbor Medical Group" {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the cache still says %q 2 s after the rename", fx.cachedName(first.ID, "Blue Harbor"))
		}
		time.Sleep(25 * time.Millisecond)
	}
	cw.WaitWebhooks()

	// Capture a delivery instead, to forge and replay it.
	rec, recorded := deliveryRecorder(t)
	cw.SetWebhook(rec.URL, simulators.WebhookSecret)
	second := companies[1]
	if _, ok := cw.Store.Update(second.ID, false, func(c *simkit.Company) { c.Name = "Cedar Ridge Legal LLP" }); !ok {
		t.Fatal("rename")
	}
	cw.WaitWebhooks()
	cw.SetWebhook("", "")
	deliveries := recorded()
	if len(deliveries) != 1 || deliveries[0].header.Get("x-content-signature") == "" {
		t.Fatalf("recorded %d deliveries: %+v", len(deliveries), deliveries)
	}
	good := deliveries[0]
	fetches := companyFetches(sims)
	unchanged := func(why string) {
		t.Helper()
		if name := fx.cachedName(second.ID, "Cedar"); name != "Cedar Ridge Law" {
			t.Errorf("%s: the cache says %q", why, name)
		}
		if n := companyFetches(sims); n != fetches {
			t.Errorf("%s: the simulator was asked for the company %d times", why, n-fetches)
		}
	}

	forged := good.header.Clone()
	// Well formed (ConnectWise's HMAC-SHA256, base64) under a key that is not the integration's.
	forged.Set("x-content-signature", simcw.Sign(good.body, "not-the-webhook-secret"))
	unsigned := good.header.Clone()
	unsigned.Del("x-content-signature")
	for _, c := range []struct {
		name        string
		integration string
		header      http.Header
	}{
		{"a forged signature", fx.id, forged},
		{"no signature", fx.id, unsigned},
		{"an unknown integration", uuid.NewString(), good.header},
		{"not an integration id", "not-a-uuid", good.header},
	} {
		r := webhookPost(t, w.suite, c.integration, c.header, good.body)
		if r.code != http.StatusUnauthorized || !strings.Contains(string(r.body), `"code"`) {
			t.Errorf("%s: %d %s, want 401", c.name, r.code, r.body)
		}
		unchanged(c.name)
	}

	// The good delivery, twice: both accepted, applied once.
	for i := range 2 {
		if r := webhookPost(t, w.suite, fx.id, good.header, good.body); r.code != http.StatusNoContent {
			t.Fatalf("delivery %d: %d %s", i+1, r.code, r.body)
		}
	}
	if name := fx.cachedName(second.ID, "Cedar"); name != "Cedar Ridge Legal LLP" {
		t.Errorf("after the delivery the cache says %q", name)
	}
	if n := companyFetches(sims) - fetches; n != 1 {
		t.Errorf("two copies of one delivery fetched the company %d times, want 1", n)
	}
	event(w, "orgplane.integrationsync.v1.*.external_organization.changed", func() *integrationsyncv1.ExternalOrganizationChanged {
		return &integrationsyncv1.ExternalOrganizationChanged{}
	}, func(ev *integrationsyncv1.ExternalOrganizationChanged) bool {
		return ev.GetExternalOrganization().GetExternalId() == fmt.Sprint(second.ID)
	})
	time.Sleep(300 * time.Millisecond) // time for a second event, were there one
	if n := changedEvents(w, a.id, fmt.Sprint(second.ID), "Cedar Ridge Legal LLP"); n != 1 {
		t.Errorf("%d external_organization.changed events for the delivery, want 1", n)
	}
}

// integrationRoute is one route of the integration service in the published API document.
type integrationRoute struct {
	verb, template string
	caller         authzv1.Caller
}

// integrationRoutes reads integration-sync's routes from the gateway's /openapi.json, with the
// caller each one's rule admits (from the protos, as the permission matrix reads them).
func integrationRoutes(t *testing.T, s *suite) []integrationRoute {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			Tags []string `json:"tags"`
		} `json:"paths"`
	}
	if r := s.do("GET", "/openapi.json", "", ""); r.code != 200 || json.Unmarshal(r.body, &doc) != nil {
		t.Fatalf("openapi.json: %d", r.code)
	}
	rules := map[string]authzv1.Caller{}
	for _, r := range matrixRoutes(t) {
		rules[shape(r.verb, r.template)] = r.caller
	}
	var out []integrationRoute
	for path, ops := range doc.Paths {
		for verb, op := range ops {
			if !slices.Contains(op.Tags, "IntegrationService") {
				continue
			}
			caller, ok := rules[shape(verb, path)]
			if !ok {
				t.Fatalf("%s %s is documented but no proto declares it", verb, path)
			}
			out = append(out, integrationRoute{verb: strings.ToUpper(verb), template: path, caller: caller})
		}
	}
	slices.SortFunc(out, func(a, b integrationRoute) int { return strings.Compare(a.template+a.verb, b.template+b.verb) })
	return out
}

func TestIntegrationRoutesAreTenantIsolated(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a, b := w.newMSP("Contoso MSP"), w.newMSP("Fabrikam IT")
	seedConnectWise(sims, "Blue Harbor Clinic", "Cedar Ridge Law")
	fx := connectWiseIntegration(w, a, sims)
	// Tested first: a refresh records CONNECTED only after its operation reads SUCCEEDED, which
	// would race with the comparison below.
	w.must(200, "POST", fx.base+":test", a.adminKey, `{}`)
	op := fx.refresh("REFRESH_MODE_FULL")
	opID := op["id"].(string)
	before := w.must(200, "GET", fx.base, a.adminKey, "")
	opsBefore := w.must(200, "GET", "/v1/accounts/"+a.id+"/operations", a.adminKey, "")

	cachedList := w.must(200, "GET", fx.base+"/externalOrganizations", a.adminKey, "")["externalOrganizations"].([]any)
	externalID := cachedList[0].(map[string]any)["externalId"].(string)
	orgID := w.must(200, "POST", "/v1/accounts/"+a.id+"/organizations", a.adminKey, `{"name":"Blue Harbor Clinic"}`)["id"].(string)
	ids := map[string]string{"integrationId": fx.id, "integration.id": fx.id, "operationId": opID, "externalId": externalID,
		"organizationId": orgID}
	var withID, lists int
	for _, rt := range integrationRoutes(t, w.suite) {
		var named []string
		for _, m := range pathVar.FindAllStringSubmatch(rt.template, -1) {
			if m[1] != "accountId" {
				named = append(named, m[1])
			}
		}
		body := ""
		switch rt.verb {
		case "POST":
			body = `{}`
			if strings.HasSuffix(rt.template, ":disconnect") {
				// Valid, so that what answers is the lookup, not validation.
				body = `{"mode":"DISCONNECT_MODE_PAUSE"}`
			}
		case "PATCH":
			body = `{"displayName":"Taken over"}`
		case "PUT":
			body = `{"direction":"SYNC_DIRECTION_OFF"}`
		}
		query := ""
		if rt.verb == "PATCH" {
			query = "?updateMask=displayName"
		}
		fill := func(account string) string {
			path := strings.Replace(rt.template, "{accountId}", account, 1)
			for _, n := range named {
				path = strings.Replace(path, "{"+n+"}", ids[n], 1)
			}
			return path + query
		}
		if len(named) == 0 {
			// A route over the whole account: the other account sees only its own.
			if rt.verb != "GET" {
				continue
			}
			lists++
			r := w.do("GET", fill(b.id), b.adminKey, "")
			if r.code != 200 || bytes.Contains(r.body, []byte(fx.id)) || bytes.Contains(r.body, []byte(opID)) {
				t.Errorf("%s %s as the other account: %d %s", rt.verb, rt.template, r.code, r.body)
			}
			continue
		}
		for _, n := range named {
			if _, ok := ids[n]; !ok {
				t.Fatalf("%s %s: no id for {%s}; add the new kind of id to the test", rt.verb, rt.template, n)
			}
		}
		withID++
		// The other account's path with this account's id: as if it did not exist.
		if r := w.do(rt.verb, fill(b.id), b.adminKey, body); r.code != http.StatusNotFound {
			t.Errorf("%s %s in its own account with another's id: %d %s, want 404", rt.verb, rt.template, r.code, r.body)
		}
		// This account's path: refused as the permission matrix refuses another tenant.
		want := http.StatusForbidden
		if rt.caller == authzv1.Caller_CALLER_MEMBER || rt.caller == authzv1.Caller_CALLER_OPERATOR_OR_MEMBER {
			want = http.StatusNotFound
		}
		if r := w.do(rt.verb, fill(a.id), b.adminKey, body); r.code != want {
			t.Errorf("%s %s in another account's path: %d %s, want %d", rt.verb, rt.template, r.code, r.body, want)
		}
	}
	if withID < 8 || lists < 3 {
		t.Fatalf("%d routes with an integration or operation id and %d account lists: the document changed", withID, lists)
	}

	// Nothing the other account tried changed anything.
	after := w.must(200, "GET", fx.base, a.adminKey, "")
	if after["displayName"] != before["displayName"] || after["state"] != "INTEGRATION_STATE_CONNECTED" || after["updateTime"] != before["updateTime"] ||
		after["runningOperationId"] != "" || num(after["externalOrganizationCount"]) != 2 {
		t.Errorf("the integration changed: %v, was %v", after, before)
	}
	if got := w.must(200, "GET", "/v1/accounts/"+a.id+"/operations/"+opID, a.adminKey, ""); got["state"] != "OPERATION_STATE_SUCCEEDED" || got["cancelRequested"] != false {
		t.Errorf("the operation changed: %v", got)
	}
	opsAfter := w.must(200, "GET", "/v1/accounts/"+a.id+"/operations", a.adminKey, "")
	if len(opsAfter["operations"].([]any)) != len(opsBefore["operations"].([]any)) {
		t.Errorf("operations were started: %v, was %v", opsAfter, opsBefore)
	}
}

func TestIntegrationBadInputIsA400NamingTheField(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	const leaked = "itg-should-never-be-echoed-5150"
	endpoint := sims.ITGlue.URL
	for _, c := range []struct {
		name, body, field string
	}{
		{"an unknown kind", `{"kind":"salesforce","endpoint":"` + endpoint + `","credentials":{"apiKey":"` + leaked + `"}}`, "kind"},
		{"a missing required credential", `{"kind":"itglue","endpoint":"` + endpoint + `","credentials":{}}`, "credentials.apiKey"},
		{"a blank required credential", `{"kind":"itglue","endpoint":"` + endpoint + `","credentials":{"apiKey":""}}`, "credentials.apiKey"},
		{"a credential given as a setting", `{"kind":"itglue","endpoint":"` + endpoint + `","settings":{"apiKey":"` + leaked + `"},"credentials":{"apiKey":"` + leaked + `"}}`, "settings.apiKey"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := w.do("POST", "/v1/accounts/"+a.id+"/integrations", a.adminKey, c.body)
			var st restError
			if r.code != http.StatusBadRequest || json.Unmarshal(r.body, &st) != nil || st.Code != 3 {
				t.Fatalf("%d %s, want 400", r.code, r.body)
			}
			var fields []string
			for _, d := range st.Details {
				if d.Type == "type.googleapis.com/google.rpc.BadRequest" {
					for _, v := range d.FieldViolations {
						fields = append(fields, v.Field)
					}
				}
			}
			if !slices.Contains(fields, c.field) {
				t.Errorf("the BadRequest names %v, want %q: %s", fields, c.field, r.body)
			}
			if bytes.Contains(r.body, []byte(leaked)) {
				t.Errorf("the refusal echoes the credential: %s", r.body)
			}
		})
	}
	if r := w.must(200, "GET", "/v1/accounts/"+a.id+"/integrations", a.adminKey, ""); len(r["integrations"].([]any)) != 0 {
		t.Errorf("refused creates left integrations: %v", r)
	}
}
