package stack_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
)

// Issue 15's two-way PSA sync as a REST caller meets it: the real gateway, org, mapping and
// integration-sync, against the ConnectWise and Autotask simulators, whose write logs count what
// the sync wrote. The sync's rules (the three-way reconcile, backoff, exactly-once creates) are
// tested beside integration-sync; what stays here is what needs the whole suite: org's events
// reaching the PSA, the PSA's changes reaching org without an echo, org's deletion guard learning
// from integration-sync's events, licenses from billing, and links in mapping.

// psaSync is one organization's sync with one PSA integration, as .../syncs says.
type psaSync struct {
	IntegrationID  string `json:"integrationId"`
	ExternalID     string `json:"externalId"`
	State          string `json:"state"`
	Reason         string `json:"reason"`
	LastResult     string `json:"lastResult"`
	BlocksDeletion bool   `json:"blocksDeletion"`
}

// psaLogEntry is one entry of an integration's sync log.
type psaLogEntry struct {
	Side           string   `json:"side"`
	Action         string   `json:"action"`
	OrganizationID string   `json:"organizationId"`
	ExternalID     string   `json:"externalId"`
	Fields         []string `json:"fields"`
	Message        string   `json:"message"`
}

// psaAutotaskIntegration creates an Autotask integration pointed at the simulator.
func psaAutotaskIntegration(w *world, a msp, sims *simulators.Set) integrationFixture {
	w.t.Helper()
	body, _ := json.Marshal(map[string]any{"kind": "autotask", "displayName": "Autotask (simulated)", "endpoint": sims.Autotask.URL,
		"credentials": map[string]string{"apiUser": simulators.AutotaskAPIUser, "secret": simulators.AutotaskSecret,
			"integrationCode": simulators.AutotaskIntegrationCode, "webhookSecret": simulators.WebhookSecret}})
	id, _ := w.must(200, "POST", "/v1/accounts/"+a.id+"/integrations", a.adminKey, string(body))["id"].(string)
	if id == "" {
		w.t.Fatal("created integration has no id")
	}
	return integrationFixture{w: w, a: a, id: id, base: "/v1/accounts/" + a.id + "/integrations/" + id}
}

// psaSetSync saves an integration's sync settings; the saved direction must be the one asked.
func psaSetSync(fx integrationFixture, settings map[string]any) {
	fx.w.t.Helper()
	b, _ := json.Marshal(settings)
	got := fx.w.must(200, "PUT", fx.base+"/syncSettings", fx.a.adminKey, string(b))
	if got["direction"] != settings["direction"] {
		fx.w.t.Fatalf("saved sync settings %v, asked %s", got, b)
	}
}

// psaTwoWay is two-way sync of the organizations with the given Orgplane statuses (all: none).
func psaTwoWay(statusIDs ...string) map[string]any {
	return map[string]any{"direction": "SYNC_DIRECTION_TWO_WAY", "scope": map[string]any{"organizationStatusIds": statusIDs}}
}

// psaStatus is the id of the account's organization status of that name, created when the
// account lacks it (every account starts with Active and Inactive).
func psaStatus(w *world, a msp, name string) string {
	w.t.Helper()
	path := "/v1/accounts/" + a.id + "/organizationStatuses"
	for _, s := range w.must(200, "GET", path, a.adminKey, "")["organizationStatuses"].([]any) {
		if s.(map[string]any)["name"] == name {
			return s.(map[string]any)["id"].(string)
		}
	}
	return w.must(200, "POST", path, a.adminKey, `{"name":"`+name+`"}`)["id"].(string)
}

// psaCreateOrg creates an organization over REST and returns its id.
func psaCreateOrg(w *world, a msp, name, statusID, parentID string) string {
	w.t.Helper()
	body := map[string]string{"name": name}
	if statusID != "" {
		body["statusId"] = statusID
	}
	if parentID != "" {
		body["parentId"] = parentID
	}
	b, _ := json.Marshal(body)
	return w.createOrg(a, a.adminKey, string(b))["id"].(string)
}

// psaEventually polls check until it returns nil, failing with its last complaint after within.
func psaEventually(t testing.TB, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v: %v", what, within, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// psaWrites are a simulator's logged writes of action for a company named name ("" any name).
func psaWrites(tool *simkit.Tool, action, name string) []simkit.Write {
	var out []simkit.Write
	for _, wr := range tool.Writes() {
		if wr.Action == action && (name == "" || wr.Name == name) {
			out = append(out, wr)
		}
	}
	return out
}

// psaWriteSummary renders a write log for failure messages.
func psaWriteSummary(writes []simkit.Write) string {
	var parts []string
	for _, wr := range writes {
		parts = append(parts, fmt.Sprintf("%s %d %q %v", wr.Action, wr.CompanyID, wr.Name, wr.Fields))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// psaSyncs reads an organization's sync states, by integration id; nil while integration-sync
// has not heard of the organization (it answers 404 until org's event arrives).
func psaSyncs(w *world, a msp, orgID string) map[string]psaSync {
	w.t.Helper()
	r := w.do("GET", "/v1/accounts/"+a.id+"/organizations/"+orgID+"/syncs", a.adminKey, "")
	if r.code == http.StatusNotFound {
		return nil
	}
	if r.code != http.StatusOK {
		w.t.Fatalf("syncs of %s: %d %s", orgID, r.code, r.body)
	}
	out := map[string]psaSync{}
	for _, s := range decode[struct {
		Syncs []psaSync `json:"syncs"`
	}](w.t, r).Syncs {
		out[s.IntegrationID] = s
	}
	return out
}

// psaLinks reads an organization's links in mapping: external id by integration id.
func psaLinks(w *world, a msp, orgID string) map[string]string {
	w.t.Helper()
	r := w.do("GET", "/v1/accounts/"+a.id+"/organizations/"+orgID+"/links", a.adminKey, "")
	if r.code != http.StatusOK {
		w.t.Fatalf("links of %s: %d %s", orgID, r.code, r.body)
	}
	out := map[string]string{}
	for _, l := range decode[struct {
		Links []struct {
			IntegrationID          string `json:"integrationId"`
			ExternalOrganizationID string `json:"externalOrganizationId"`
		} `json:"links"`
	}](w.t, r).Links {
		out[l.IntegrationID] = l.ExternalOrganizationID
	}
	return out
}

// psaSyncedWith checks that an organization syncs with each integration: SYNCING with a
// company, and linked to that company in mapping. It returns the companies by integration.
func psaSyncedWith(w *world, a msp, orgID string, integrationIDs ...string) (map[string]string, error) {
	syncs, links := psaSyncs(w, a, orgID), psaLinks(w, a, orgID)
	out := map[string]string{}
	for _, id := range integrationIDs {
		s := syncs[id]
		if s.State != "ORGANIZATION_SYNC_STATE_SYNCING" || s.ExternalID == "" {
			return nil, fmt.Errorf("sync with %s: %+v", id, s)
		}
		if links[id] != s.ExternalID {
			return nil, fmt.Errorf("mapping links %v, the sync says %s in %s", links, s.ExternalID, id)
		}
		out[id] = s.ExternalID
	}
	return out, nil
}

// psaWaitSynced waits until an organization syncs with each integration (psaSyncedWith).
func psaWaitSynced(w *world, a msp, orgID string, within time.Duration, integrationIDs ...string) map[string]string {
	w.t.Helper()
	var out map[string]string
	psaEventually(w.t, within, "organization "+orgID+" synced", func() error {
		var err error
		out, err = psaSyncedWith(w, a, orgID, integrationIDs...)
		return err
	})
	return out
}

// psaSyncLog reads every page of an integration's sync log, newest first.
func psaSyncLog(fx integrationFixture) []psaLogEntry {
	fx.w.t.Helper()
	var out []psaLogEntry
	token := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			fx.w.t.Fatal("sync log paging does not end")
		}
		r := fx.w.do("GET", fx.base+"/syncLog?pageSize=1000&pageToken="+url.QueryEscape(token), fx.a.adminKey, "")
		if r.code != http.StatusOK {
			fx.w.t.Fatalf("sync log: %d %s", r.code, r.body)
		}
		page := decode[struct {
			Entries       []psaLogEntry `json:"entries"`
			NextPageToken string        `json:"nextPageToken"`
		}](fx.w.t, r)
		out = append(out, page.Entries...)
		if token = page.NextPageToken; token == "" {
			return out
		}
	}
}

// psaLogCount counts the entries of an organization with side and action ("" any side).
func psaLogCount(entries []psaLogEntry, orgID, side, action string) int {
	n := 0
	for _, e := range entries {
		if (orgID == "" || e.OrganizationID == orgID) && (side == "" || e.Side == side) && e.Action == action {
			n++
		}
	}
	return n
}

// psaCompanyID reads a simulator company id as the sync reports it.
func psaCompanyID(t testing.TB, externalID string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(externalID, 10, 64)
	if err != nil {
		t.Fatalf("external id %q is not a simulator company id", externalID)
	}
	return id
}

// psaOrgName reads an organization's name ("" when it is gone).
func psaOrgName(w *world, a msp, orgID string) string {
	w.t.Helper()
	r := w.do("GET", "/v1/accounts/"+a.id+"/organizations/"+orgID, a.adminKey, "")
	if r.code == http.StatusNotFound {
		return ""
	}
	if r.code != http.StatusOK {
		w.t.Fatalf("get organization %s: %d %s", orgID, r.code, r.body)
	}
	name, _ := r.json(w.t)["name"].(string)
	return name
}

func TestPSATwoWaySyncOverREST(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	active, prospect := psaStatus(w, a, "Active"), psaStatus(w, a, "Prospect")
	cw, at := connectWiseIntegration(w, a, sims), psaAutotaskIntegration(w, a, sims)
	cwTool, atTool := sims.ConnectWise.Sim, sims.Autotask.Sim
	for _, fx := range []integrationFixture{cw, at} {
		psaSetSync(fx, psaTwoWay(active))
		// A full refresh of the empty tool, so that the one after the PSA's rename is incremental.
		fx.refresh("REFRESH_MODE_FULL")
	}

	// Out of the scope, created first: by the time the in-scope one has arrived, it would have too.
	outside := psaCreateOrg(w, a, "Summit Prospect Holdings", prospect, "")
	start := time.Now()
	org := psaCreateOrg(w, a, "Harbor Dental", active, "")
	var ext map[string]string
	psaEventually(t, 5*time.Second-time.Since(start), "the in-scope organization in both PSAs and linked", func() error {
		for _, tool := range []*simkit.Tool{cwTool, atTool} {
			if n := len(psaWrites(tool, "create", "Harbor Dental")); n != 1 {
				return fmt.Errorf("%d creates in a simulator: %s", n, psaWriteSummary(tool.Writes()))
			}
		}
		var err error
		ext, err = psaSyncedWith(w, a, org, cw.id, at.id)
		return err
	})
	t.Logf("created in both PSAs and linked in %v", time.Since(start))
	if got := psaWrites(cwTool, "create", "")[0]; fmt.Sprint(got.CompanyID) != ext[cw.id] {
		t.Errorf("ConnectWise created %d, the sync linked %s", got.CompanyID, ext[cw.id])
	}
	if got := psaWrites(atTool, "create", "")[0]; fmt.Sprint(got.CompanyID) != ext[at.id] {
		t.Errorf("Autotask created %d, the sync linked %s", got.CompanyID, ext[at.id])
	}
	time.Sleep(time.Second) // the out-of-scope one's second to arrive, were it to
	for _, tool := range []*simkit.Tool{cwTool, atTool} {
		if n := len(psaWrites(tool, "create", "Summit Prospect Holdings")); n != 0 {
			t.Errorf("the out-of-scope organization reached a PSA: %s", psaWriteSummary(tool.Writes()))
		}
	}
	if s, l := psaSyncs(w, a, outside), psaLinks(w, a, outside); s == nil || len(s) != 0 || len(l) != 0 {
		t.Errorf("the out-of-scope organization syncs %v, links %v", s, l)
	}

	// Orgplane's rename: one update in each PSA, carrying the name and nothing else.
	w.must(200, "PATCH", acct+"/organizations/"+org+"?updateMask=name", a.adminKey, `{"name":"Harbor Dental Group"}`)
	psaEventually(t, 10*time.Second, "Orgplane's rename in both PSAs", func() error {
		for _, tool := range []*simkit.Tool{cwTool, atTool} {
			if len(psaWrites(tool, "update", "Harbor Dental Group")) == 0 {
				return fmt.Errorf("writes %s", psaWriteSummary(tool.Writes()))
			}
		}
		return nil
	})
	for _, tool := range []*simkit.Tool{cwTool, atTool} {
		if u := psaWrites(tool, "update", "Harbor Dental Group"); len(u) != 1 || !slices.Equal(u[0].Fields, []string{"name"}) {
			t.Errorf("Orgplane's rename wrote %s, want one update of the name", psaWriteSummary(u))
		}
	}

	// The PSA's rename, by a person in ConnectWise (not a write through the API), reaches
	// Orgplane with the next (incremental) refresh.
	if _, ok := cwTool.Store.Update(psaCompanyID(t, ext[cw.id]), false, func(c *simkit.Company) { c.Name = "Harbor Dental Partners" }); !ok {
		t.Fatal("rename in ConnectWise")
	}
	cw.refresh("REFRESH_MODE_INCREMENTAL")
	psaEventually(t, 10*time.Second, "ConnectWise's rename in Orgplane", func() error {
		if name := psaOrgName(w, a, org); name != "Harbor Dental Partners" {
			return fmt.Errorf("the organization is named %q", name)
		}
		return nil
	})
	// Orgplane's change goes on to the other PSA; its arrival also says integration-sync has
	// handled org's event, the one that would have echoed back to ConnectWise.
	psaEventually(t, 10*time.Second, "ConnectWise's rename in Autotask", func() error {
		if len(psaWrites(atTool, "update", "Harbor Dental Partners")) == 0 {
			return fmt.Errorf("Autotask writes %s", psaWriteSummary(atTool.Writes()))
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // time for an echo, were there one

	// No echo: ConnectWise holds exactly the test's create and rename; Autotask those and the
	// PSA's rename once.
	cwWrites, atWrites := cwTool.Writes(), atTool.Writes()
	want := func(writes []simkit.Write, expected ...string) {
		t.Helper()
		var got []string
		for _, wr := range writes {
			got = append(got, wr.Action+" "+wr.Name)
		}
		if !slices.Equal(got, expected) {
			t.Errorf("write log %s, want %q", psaWriteSummary(writes), expected)
		}
	}
	want(cwWrites, "create Harbor Dental", "update Harbor Dental Group")
	want(atWrites, "create Harbor Dental", "update Harbor Dental Group", "update Harbor Dental Partners")

	// The sync logs say what went where.
	cwLog, atLog := psaSyncLog(cw), psaSyncLog(at)
	for _, c := range []struct {
		name          string
		log           []psaLogEntry
		side, action  string
		want          int
		externalMatch string
	}{
		{"ConnectWise created", cwLog, "SYNC_SIDE_TO_PSA", "created", 1, ext[cw.id]},
		{"ConnectWise updated to the PSA", cwLog, "SYNC_SIDE_TO_PSA", "updated", 1, ext[cw.id]},
		{"ConnectWise updated from the PSA", cwLog, "SYNC_SIDE_FROM_PSA", "updated", 1, ext[cw.id]},
		{"Autotask created", atLog, "SYNC_SIDE_TO_PSA", "created", 1, ext[at.id]},
		{"Autotask updated to the PSA", atLog, "SYNC_SIDE_TO_PSA", "updated", 2, ext[at.id]},
		{"Autotask updated from the PSA", atLog, "SYNC_SIDE_FROM_PSA", "updated", 0, ext[at.id]},
	} {
		if n := psaLogCount(c.log, org, c.side, c.action); n != c.want {
			t.Errorf("%s: %d sync log entries, want %d: %+v", c.name, n, c.want, c.log)
		}
		for _, e := range c.log {
			if e.OrganizationID == org && e.ExternalID != c.externalMatch {
				t.Errorf("%s: an entry names company %s, want %s: %+v", c.name, e.ExternalID, c.externalMatch, e)
			}
		}
	}
	for _, e := range append(slices.Clone(cwLog), atLog...) {
		if e.OrganizationID == outside || e.Action == "error" || e.Action == "conflict" {
			t.Errorf("unexpected sync log entry %+v", e)
		}
	}
}

func TestPSAChangesSurviveAnOutage(t *testing.T) {
	const (
		n      = 100
		budget = 100
		window = 2 * time.Second
		outage = 30 * time.Second
	)
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	newMapper(w, a).licensed(n + 5)
	cwTool := sims.ConnectWise.Sim
	fx := connectWiseIntegration(w, a, sims)
	w.must(200, "PATCH", fx.base+"?updateMask=budgetPolicy", a.adminKey,
		fmt.Sprintf(`{"budgetPolicy":{"requests":%d,"window":"%s"}}`, budget, window))
	psaSetSync(fx, psaTwoWay())
	// ConnectWise's quota is the integration's budget. The simulator measures it over a window
	// 250 ms shorter, which absorbs the time a request takes from the budget (Postgres's clock)
	// to the simulator on a loaded machine; every request it counts is one the budget let through.
	measured := window - 250*time.Millisecond
	cwTool.SetQuota(budget, measured)
	cwTool.Acct.Reset()

	cwTool.Faults.Down(http.StatusServiceUnavailable, outage)
	back := time.Now().Add(outage)
	names := make([]string, n)
	ids := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("Outage Client %03d", i+1)
	}
	// A few at a time, as a busy office would.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	next := make(chan int)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := w.doQuiet("POST", acct+"/organizations", a.adminKey, `{"name":"`+names[i]+`"}`)
				var o struct {
					ID string `json:"id"`
				}
				if r.code != http.StatusOK || json.Unmarshal(r.body, &o) != nil || o.ID == "" {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %d %s", names[i], r.code, r.body))
					mu.Unlock()
					continue
				}
				ids[i] = o.ID
			}
		}()
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("creates failed: %v", failures)
	}
	if time.Until(back) < 2*time.Second {
		t.Fatalf("the creates took until %v before the end of the outage; the test needs the outage to last", time.Until(back))
	}

	// During the outage the organization's sync says why it waits.
	psaEventually(t, time.Until(back)-time.Second, "the first organization's sync state during the outage", func() error {
		s := psaSyncs(w, a, ids[0])[fx.id]
		if s.State != "ORGANIZATION_SYNC_STATE_ERROR" && s.State != "ORGANIZATION_SYNC_STATE_PENDING" || !strings.Contains(s.Reason, "unavailable") {
			return fmt.Errorf("%+v", s)
		}
		return nil
	})
	if wr := cwTool.Writes(); len(wr) != 0 {
		t.Fatalf("writes during the outage: %s", psaWriteSummary(wr))
	}

	// After it: every organization reaches ConnectWise once.
	psaEventually(t, outage+3*time.Minute, "100 creates in ConnectWise", func() error {
		if c := len(psaWrites(cwTool, "create", "")); c < n {
			return fmt.Errorf("%d creates", c)
		}
		return nil
	})
	t.Logf("the last create reached ConnectWise %v after the outage", time.Since(back))
	time.Sleep(500 * time.Millisecond) // time for a duplicate, were there one
	writes := cwTool.Writes()
	var created []string
	for _, wr := range writes {
		if wr.Action != "create" {
			t.Errorf("a write other than a create: %+v", wr)
			continue
		}
		if wr.At.Before(back) {
			t.Errorf("a create during the outage: %+v", wr)
		}
		created = append(created, wr.Name)
	}
	slices.Sort(created)
	if !slices.Equal(created, names) {
		t.Errorf("ConnectWise got %d creates (%d distinct), want each of the %d organizations once", len(created), len(slices.Compact(slices.Clone(created))), n)
	}

	// Each is linked to its company. (Not whether each still syncs: the scheduler's first full
	// refresh may run among the pushes, and TestPSAFullRefreshDuringPushesOrphansNothing is
	// about what it does to them.)
	orgOf := map[string]string{}
	for i, id := range ids {
		orgOf[id] = names[i]
	}
	psaEventually(t, 30*time.Second, "every organization linked to its company", func() error {
		cached, _, _ := fx.externals("", 1000)
		linked := map[string]bool{}
		var odd []string
		for _, e := range cached {
			org, _ := e["organizationId"].(string)
			if name, ok := orgOf[org]; ok && name == e["name"] {
				linked[org] = true
			} else {
				odd = append(odd, fmt.Sprint(e))
			}
		}
		if len(cached) != n || len(linked) != n {
			return fmt.Errorf("%d cached companies, %d linked to their organization; the others: %v", len(cached), len(linked), odd)
		}
		return nil
	})

	// Within the budget: the vendor refused nothing for its quota, and never saw more than the
	// budget in a window.
	stats := cwTool.Acct.Snapshot()
	t.Logf("ConnectWise served %d requests, at most %d in a window of %v", stats.Total, stats.MaxInWindow, measured)
	if stats.Refused != 0 || stats.MaxInWindow > budget {
		t.Errorf("ConnectWise refused %d requests for its quota and saw up to %d in a window; the budget is %d per %v",
			stats.Refused, stats.MaxInWindow, budget, window)
	}
}

func TestPSADeleteRefusedWhileSyncing(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	cwTool := sims.ConnectWise.Sim
	fx := connectWiseIntegration(w, a, sims)
	psaSetSync(fx, psaTwoWay())
	parent := psaCreateOrg(w, a, "Blue Harbor Holdings", "", "")
	child := psaCreateOrg(w, a, "Blue Harbor Clinic", "", parent)
	ext := map[string]string{}
	for _, id := range []string{parent, child} {
		ext[id] = psaWaitSynced(w, a, id, 10*time.Second, fx.id)[fx.id]
	}
	// org learns which organizations sync from integration-sync's events: the test waits for
	// them to be published, and gives org's consumer a moment to apply them.
	for _, id := range []string{parent, child} {
		event(w, "orgplane.integrationsync.v1.*.organization_sync.changed", func() *integrationsyncv1.OrganizationSyncChanged {
			return &integrationsyncv1.OrganizationSyncChanged{}
		}, func(ev *integrationsyncv1.OrganizationSyncChanged) bool {
			return ev.GetOrganizationId() == id && ev.GetIntegrationId() == fx.id && ev.GetSyncing()
		})
	}
	time.Sleep(500 * time.Millisecond)

	refused := func(orgID, says string) {
		t.Helper()
		r := w.do("DELETE", acct+"/organizations/"+orgID, a.adminKey, "")
		if r.code != http.StatusConflict {
			t.Fatalf("delete of %s: %d %s, want 409", orgID, r.code, r.body)
		}
		msg, reasons := refusal(t, r)
		if !strings.Contains(msg, "disable sync first") || !strings.Contains(msg, says) || !slices.Contains(reasons, "SYNC_ENABLED") {
			t.Errorf("delete of %s refused with %q %v, want %q and disable sync first", orgID, msg, reasons, says)
		}
	}
	refused(child, "while it is kept in sync")
	refused(parent, "")
	if s := psaSyncs(w, a, child)[fx.id]; !s.BlocksDeletion {
		t.Errorf("the child's sync does not say it blocks deletion: %+v", s)
	}

	// Sync disabled for the parent's company: its child still syncs, so the parent stays. The
	// guard learns through an event; until it does, it refuses for the parent itself.
	disabled := w.must(200, "POST", fx.base+"/externalOrganizations/"+ext[parent]+":disableSync", a.adminKey, `{}`)
	if disabled["state"] != "EXTERNAL_ORGANIZATION_STATE_SYNC_DISABLED" || disabled["organizationId"] != parent {
		t.Errorf("disable sync answered %v", disabled)
	}
	psaEventually(t, 10*time.Second, "the parent refused for its syncing child", func() error {
		r := w.do("DELETE", acct+"/organizations/"+parent, a.adminKey, "")
		if r.code != http.StatusConflict {
			t.Fatalf("delete of the parent whose child syncs: %d %s, want 409", r.code, r.body)
		}
		if msg, _ := refusal(t, r); !strings.Contains(msg, `sub-organization "Blue Harbor Clinic"`) || !strings.Contains(msg, "disable sync first") {
			return fmt.Errorf("refused with %q", msg)
		}
		return nil
	})
	if s := psaSyncs(w, a, parent)[fx.id]; s.State != "ORGANIZATION_SYNC_STATE_DISABLED" || s.BlocksDeletion {
		t.Errorf("the parent's sync after disable sync: %+v", s)
	}

	// Sync disabled for the child too: both can go, and the companies stay in the PSA.
	w.must(200, "POST", fx.base+"/externalOrganizations/"+ext[child]+":disableSync", a.adminKey, `{}`)
	for _, id := range []string{child, parent} {
		psaEventually(t, 10*time.Second, "the delete of "+id+" accepted", func() error {
			r := w.do("DELETE", acct+"/organizations/"+id, a.adminKey, "")
			switch r.code {
			case http.StatusOK:
				return nil
			case http.StatusConflict:
				return errors.New(string(r.body))
			}
			t.Fatalf("delete of %s: %d %s", id, r.code, r.body)
			return nil
		})
		if r := w.do("GET", acct+"/organizations/"+id, a.adminKey, ""); r.code != http.StatusNotFound {
			t.Errorf("organization %s after its delete: %d", id, r.code)
		}
	}
	// integration-sync hears of the deletions and forgets the links, keeping the companies.
	psaEventually(t, 10*time.Second, "the companies unlinked", func() error {
		cached, _, _ := fx.externals("", 1000)
		for _, e := range cached {
			if e["organizationId"] != "" && e["organizationId"] != nil {
				return fmt.Errorf("still linked: %v", e)
			}
		}
		if len(cached) != 2 {
			return fmt.Errorf("%d cached companies", len(cached))
		}
		return nil
	})
	for _, id := range []string{parent, child} {
		if c, ok := cwTool.Store.Get(psaCompanyID(t, ext[id])); !ok || c.Deleted {
			t.Errorf("company %s of a deleted organization: present %v, %+v", ext[id], ok, c)
		}
	}
	if wr := cwTool.Writes(); len(wr) != 2 || len(psaWrites(cwTool, "create", "")) != 2 {
		t.Errorf("ConnectWise's writes %s, want the two creates only", psaWriteSummary(wr))
	}
}

func TestPSAPullCreatesOrganizationsWithinTheLicense(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	m := newMapper(w, a)
	// An organization a person made, of the same name as a company: linked, not duplicated.
	existing := psaCreateOrg(w, a, "Cedar Ridge Law", "", "")
	// Three licenses: the existing organization's and two for the four new companies.
	m.licensed(3)
	companies := seedConnectWise(sims, "Blue Harbor Clinic", "Cedar Ridge Law", "Maple Street Bakery", "Summit Logistics", "Northwind Traders")
	cwTool := sims.ConnectWise.Sim
	fx := connectWiseIntegration(w, a, sims)
	psaSetSync(fx, map[string]any{"direction": "SYNC_DIRECTION_FROM_PSA"})
	fx.refresh("REFRESH_MODE_FULL")

	// Two are created, two wait for a license, visibly.
	psaEventually(t, 30*time.Second, "two companies waiting for a license", func() error {
		log := psaSyncLog(fx)
		if n := psaLogCount(log, "", "SYNC_SIDE_FROM_PSA", "waiting"); n != 2 {
			return fmt.Errorf("%d waiting entries: %+v", n, log)
		}
		if got := m.organizationNames(); len(got) != 3 {
			return fmt.Errorf("organizations %v", got)
		}
		return nil
	})
	for _, e := range psaSyncLog(fx) {
		if e.Action == "waiting" && !strings.Contains(e.Message, "license") {
			t.Errorf("a waiting entry does not say it waits for a license: %+v", e)
		}
	}
	if limit, used, _ := w.usage(a); limit != 3 || used != 3 {
		t.Errorf("licenses: %v of %v used, want all 3", used, limit)
	}
	if l := psaLinks(w, a, existing); l[fx.id] != fmt.Sprint(companies[1].ID) {
		t.Errorf("Cedar Ridge Law links %v, want its company %d", l, companies[1].ID)
	}
	time.Sleep(time.Second)
	if got := m.organizationNames(); len(got) != 3 {
		t.Errorf("over the license, organizations %v", got)
	}

	// Two more licenses: the waiting companies are created (their retry comes within a minute).
	w.must(200, "POST", w.subscribed(a)+":addLicenses", a.adminKey, `{"count":2}`)
	want := []string{"Blue Harbor Clinic", "Cedar Ridge Law", "Maple Street Bakery", "Northwind Traders", "Summit Logistics"}
	psaEventually(t, 90*time.Second, "every company an organization", func() error {
		if got := m.organizationNames(); !slices.Equal(got, want) {
			return fmt.Errorf("organizations %v", got)
		}
		return nil
	})
	orgIDs := map[string]string{}
	for _, o := range w.must(200, "GET", acct+"/organizations?pageSize=100", a.adminKey, "")["organizations"].([]any) {
		orgIDs[o.(map[string]any)["name"].(string)] = o.(map[string]any)["id"].(string)
	}
	if orgIDs["Cedar Ridge Law"] != existing {
		t.Errorf("Cedar Ridge Law is %s, want the existing %s", orgIDs["Cedar Ridge Law"], existing)
	}
	for _, c := range companies {
		got := psaWaitSynced(w, a, orgIDs[c.Name], 10*time.Second, fx.id)
		if got[fx.id] != fmt.Sprint(c.ID) {
			t.Errorf("%s is linked to %s, want company %d", c.Name, got[fx.id], c.ID)
		}
	}
	log := psaSyncLog(fx)
	if c, l := psaLogCount(log, "", "SYNC_SIDE_FROM_PSA", "created"), psaLogCount(log, existing, "SYNC_SIDE_FROM_PSA", "linked"); c != 4 || l != 1 {
		t.Errorf("sync log: %d created and %d linked, want 4 and 1: %+v", c, l, log)
	}
	// Pulling writes nothing to the PSA.
	if wr := cwTool.Writes(); len(wr) != 0 {
		t.Errorf("ConnectWise writes %s", psaWriteSummary(wr))
	}
}
