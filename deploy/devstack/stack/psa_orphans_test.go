package stack_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Issue 15's Manage Data over REST: orphans and their actions, the sync scope's preview against
// the orphans a full refresh makes, and the three ways to disconnect a PSA integration.

// psaOrphan is one entry of the account's orphans list.
type psaOrphan struct {
	IntegrationID  string `json:"integrationId"`
	ExternalID     string `json:"externalId"`
	Name           string `json:"name"`
	State          string `json:"state"`
	StateReason    string `json:"stateReason"`
	OrganizationID string `json:"organizationId"`
}

// psaOrphanResult is what orphans:resolve did to one orphan.
type psaOrphanResult struct {
	IntegrationID          string   `json:"integrationId"`
	ExternalID             string   `json:"externalId"`
	OK                     bool     `json:"ok"`
	ErrorReason            string   `json:"errorReason"`
	ErrorMessage           string   `json:"errorMessage"`
	DeletedOrganizationIDs []string `json:"deletedOrganizationIds"`
}

// psaOrphans reads the account's orphans (one page holds them all here) and their total.
func psaOrphans(w *world, a msp) (map[string]psaOrphan, int) {
	w.t.Helper()
	r := w.do("GET", "/v1/accounts/"+a.id+"/orphans?pageSize=1000", a.adminKey, "")
	if r.code != http.StatusOK {
		w.t.Fatalf("orphans: %d %s", r.code, r.body)
	}
	page := decode[struct {
		Orphans       []psaOrphan `json:"orphans"`
		NextPageToken string      `json:"nextPageToken"`
		TotalSize     wireInt     `json:"totalSize"`
	}](w.t, r)
	if page.NextPageToken != "" {
		w.t.Fatalf("orphans take more than a page: %s", r.body)
	}
	out := map[string]psaOrphan{}
	for _, o := range page.Orphans {
		out[o.ExternalID] = o
	}
	if len(out) != len(page.Orphans) {
		w.t.Errorf("the orphans list names a company twice: %s", r.body)
	}
	return out, int(page.TotalSize)
}

// psaResolve asks orphans:resolve as key to do action to the companies of integrationID.
func psaResolve(w *world, a msp, key, action, integrationID string, externalIDs ...string) response {
	w.t.Helper()
	refs := make([]map[string]string, len(externalIDs))
	for i, e := range externalIDs {
		refs[i] = map[string]string{"integrationId": integrationID, "externalId": e}
	}
	b, _ := json.Marshal(map[string]any{"action": action, "orphans": refs})
	return w.do("POST", "/v1/accounts/"+a.id+"/orphans:resolve", key, string(b))
}

// psaResolved asks orphans:resolve as the administrator and returns the results, which must be
// one per orphan in request order.
func psaResolved(w *world, a msp, action, integrationID string, externalIDs ...string) []psaOrphanResult {
	w.t.Helper()
	r := psaResolve(w, a, a.adminKey, action, integrationID, externalIDs...)
	if r.code != http.StatusOK {
		w.t.Fatalf("%s: %d %s", action, r.code, r.body)
	}
	results := decode[struct {
		Results []psaOrphanResult `json:"results"`
	}](w.t, r).Results
	if len(results) != len(externalIDs) {
		w.t.Fatalf("%s of %d orphans: %d results %s", action, len(externalIDs), len(results), r.body)
	}
	for i, res := range results {
		if res.IntegrationID != integrationID || res.ExternalID != externalIDs[i] {
			w.t.Errorf("%s result %d names %s/%s, want %s/%s in request order", action, i, res.IntegrationID, res.ExternalID, integrationID, externalIDs[i])
		}
	}
	return results
}

func TestPSAOrphansAndTheirActions(t *testing.T) {
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	cwTool := sims.ConnectWise.Sim
	active, prospect := psaStatus(w, a, "Active"), psaStatus(w, a, "Prospect")
	fx := connectWiseIntegration(w, a, sims)
	psaSetSync(fx, psaTwoWay(active))

	names := map[string]string{} // organization id → name
	create := func(name, status, parent string) string {
		id := psaCreateOrg(w, a, name, status, parent)
		names[id] = name
		return id
	}
	keep := create("Keep Me Dental", active, "")
	parent := create("Drop Parent Holdings", active, "")
	// Out of the scope: never synced, so only its parent's orphan stands for it.
	child := create("Drop Child Clinic", prospect, parent)
	dismiss := create("Dismiss Me Bakery", active, "")
	bulk1 := create("Bulk One Logistics", active, "")
	bulk2 := create("Bulk Two Logistics", active, "")
	still := create("Still Syncing Law", active, "")
	ext := map[string]string{}
	for _, id := range []string{keep, parent, dismiss, bulk1, bulk2, still} {
		ext[id] = psaWaitSynced(w, a, id, 10*time.Second, fx.id)[fx.id]
	}
	if s := psaSyncs(w, a, child); s == nil || len(s) != 0 {
		t.Errorf("the out-of-scope child syncs: %v", s)
	}

	// Deleted in ConnectWise by a person (deletedFlag): orphans after the next full refresh.
	gone := []string{keep, parent, dismiss, bulk1, bulk2}
	for _, id := range gone {
		if _, ok := cwTool.Store.SoftDelete(psaCompanyID(t, ext[id])); !ok {
			t.Fatalf("soft delete of %s", ext[id])
		}
	}
	fx.refresh("REFRESH_MODE_FULL")
	orphans, total := psaOrphans(w, a)
	if len(orphans) != len(gone) || total != len(gone) {
		t.Fatalf("%d orphans (total %d) after the full refresh, want %d: %+v", len(orphans), total, len(gone), orphans)
	}
	for _, id := range gone {
		o := orphans[ext[id]]
		if o.IntegrationID != fx.id || o.Name != names[id] || o.State != "EXTERNAL_ORGANIZATION_STATE_ORPHANED" ||
			o.OrganizationID != id || o.StateReason == "" {
			t.Errorf("orphan of %s: %+v", names[id], o)
		}
		if s := psaSyncs(w, a, id)[fx.id]; s.State != "ORGANIZATION_SYNC_STATE_ORPHANED" || s.BlocksDeletion {
			t.Errorf("%s's sync once orphaned: %+v", names[id], s)
		}
		if n := psaOrgName(w, a, id); n != names[id] {
			t.Errorf("the orphan's organization %s is %q: a PSA deletion must not delete it", names[id], n)
		}
	}

	// Resolving takes integrations write permission: a vCIO reads integrations only.
	_, vcio := w.keyFor(a, "vcio@contoso.example", "vCIO")
	if r := psaResolve(w, a, vcio, "ORPHAN_ACTION_DISMISS", fx.id, ext[keep]); r.code != http.StatusForbidden {
		t.Errorf("a vCIO resolving an orphan: %d %s, want 403", r.code, r.body)
	}

	// UNLINK: the organization stays, the link goes.
	if res := psaResolved(w, a, "ORPHAN_ACTION_UNLINK", fx.id, ext[keep]); !res[0].OK {
		t.Errorf("unlink: %+v", res[0])
	}
	if n := psaOrgName(w, a, keep); n != names[keep] {
		t.Errorf("the unlinked orphan's organization is %q", n)
	}
	psaEventually(t, 10*time.Second, "the unlinked organization without its link", func() error {
		if l, s := psaLinks(w, a, keep), psaSyncs(w, a, keep); len(l) != 0 || s == nil || len(s) != 0 {
			return fmt.Errorf("links %v, syncs %v", l, s)
		}
		return nil
	})
	if o, total := psaOrphans(w, a); total != 4 || len(o) != 4 || o[ext[keep]].ExternalID != "" {
		t.Errorf("orphans after the unlink: %d %+v", total, o)
	}

	// DELETE_ORGANIZATION: the organization goes with its sub-organization.
	res := psaResolved(w, a, "ORPHAN_ACTION_DELETE_ORGANIZATION", fx.id, ext[parent])[0]
	deleted := slices.Clone(res.DeletedOrganizationIDs)
	slices.Sort(deleted)
	wantDeleted := []string{parent, child}
	slices.Sort(wantDeleted)
	if !res.OK || !slices.Equal(deleted, wantDeleted) {
		t.Errorf("delete organization: %+v, want the parent and its child deleted", res)
	}
	for _, id := range []string{parent, child} {
		if r := w.do("GET", acct+"/organizations/"+id, a.adminKey, ""); r.code != http.StatusNotFound {
			t.Errorf("%s after its orphan's DELETE_ORGANIZATION: %d %s", names[id], r.code, r.body)
		}
	}
	if o, total := psaOrphans(w, a); total != 3 || len(o) != 3 || o[ext[parent]].ExternalID != "" {
		t.Errorf("orphans after the delete: %d %+v", total, o)
	}

	// DISMISS: everything stays, off the list; a second dismissal finds no orphan.
	if res := psaResolved(w, a, "ORPHAN_ACTION_DISMISS", fx.id, ext[dismiss]); !res[0].OK {
		t.Errorf("dismiss: %+v", res[0])
	}
	if o, total := psaOrphans(w, a); total != 2 || len(o) != 2 || o[ext[dismiss]].ExternalID != "" {
		t.Errorf("orphans after the dismissal: %d %+v", total, o)
	}
	if n, l := psaOrgName(w, a, dismiss), psaLinks(w, a, dismiss); n != names[dismiss] || l[fx.id] != ext[dismiss] {
		t.Errorf("the dismissed orphan's organization %q links %v, want both kept", n, l)
	}
	if res := psaResolved(w, a, "ORPHAN_ACTION_DISMISS", fx.id, ext[dismiss]); res[0].OK || res[0].ErrorReason != "NOT_ORPHANED" {
		t.Errorf("dismissing again: %+v, want NOT_ORPHANED", res[0])
	}

	// In bulk, with a company that is no orphan and one that does not exist: each its own result.
	results := psaResolved(w, a, "ORPHAN_ACTION_UNLINK", fx.id, ext[bulk1], "999999999", ext[still], ext[bulk2])
	for i, want := range []string{"", "ORPHAN_NOT_FOUND", "NOT_ORPHANED", ""} {
		if got := results[i]; got.OK != (want == "") || got.ErrorReason != want || (want != "" && got.ErrorMessage == "") {
			t.Errorf("bulk result %d: %+v, want %q", i, got, cmp.Or(want, "ok"))
		}
	}
	if o, total := psaOrphans(w, a); total != 0 || len(o) != 0 {
		t.Errorf("orphans after the bulk unlink: %d %+v", total, o)
	}
	for _, id := range []string{bulk1, bulk2} {
		if n := psaOrgName(w, a, id); n != names[id] {
			t.Errorf("bulk-unlinked %s is %q", names[id], n)
		}
	}
	if _, err := psaSyncedWith(w, a, still, fx.id); err != nil {
		t.Errorf("the syncing organization named in the bulk: %v", err)
	}

	// The orphan actions write nothing to the PSA, and the sync log says who did what.
	if wr := cwTool.Writes(); len(wr) != 6 || len(psaWrites(cwTool, "create", "")) != 6 {
		t.Errorf("ConnectWise's writes %s, want the six creates only", psaWriteSummary(wr))
	}
	log := psaSyncLog(fx)
	for action, want := range map[string]int{"orphan_unlinked": 3, "orphan_deleted": 1, "orphan_dismissed": 1} {
		if n := psaLogCount(log, "", "", action); n != want {
			t.Errorf("%d %s entries in the sync log, want %d", n, action, want)
		}
	}
}

func TestPSAScopePreviewEqualsOrphans(t *testing.T) {
	const statusActive, statusNotApproved = 1, 3 // the ConnectWise simulator's company statuses
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	m := newMapper(w, a)
	cwTool := sims.ConnectWise.Sim
	notApproved := map[string]bool{}
	for i := range 12 {
		c := simkit.Company{Name: fmt.Sprintf("Scoped Client %02d", i+1), Identifier: fmt.Sprintf("SCOPE%02d", i+1), Active: true, StatusID: statusActive}
		if i%3 == 0 {
			c.StatusID = statusNotApproved
			notApproved[c.Name] = true
		}
		cwTool.Store.Add(c)
	}
	fx := connectWiseIntegration(w, a, sims)
	psaSetSync(fx, psaTwoWay())
	fx.refresh("REFRESH_MODE_FULL")
	// Pulled in and linked: the companies that fall out of the scope are organizations' links.
	psaEventually(t, 30*time.Second, "the twelve companies pulled in and linked", func() error {
		cached, _, _ := fx.externals("", 1000)
		linked := 0
		for _, e := range cached {
			if id, _ := e["organizationId"].(string); id != "" {
				linked++
			}
		}
		if n := len(m.organizationNames()); n != 12 || linked != 12 {
			return fmt.Errorf("%d organizations, %d of %d companies linked", n, linked, len(cached))
		}
		return nil
	})

	excluding := map[string]any{"direction": "SYNC_DIRECTION_TWO_WAY",
		"scope": map[string]any{"psaStatusIds": []string{fmt.Sprint(statusActive)}}}
	body, _ := json.Marshal(excluding)
	preview := w.must(200, "POST", fx.base+"/syncSettings:preview", a.adminKey, string(body))
	stop := num(preview["stopSyncing"])
	if stop != len(notApproved) || num(preview["startSyncing"]) != 0 || num(preview["inScope"]) != 12-len(notApproved) {
		t.Errorf("preview %v, want %d to stop syncing and %d in scope", preview, len(notApproved), 12-len(notApproved))
	}
	// A preview changes nothing.
	if o, total := psaOrphans(w, a); total != 0 {
		t.Fatalf("orphans after a preview: %+v", o)
	}
	psaSetSync(fx, excluding)
	fx.refresh("REFRESH_MODE_FULL")
	orphans, _ := psaOrphans(w, a)
	outOfScope := 0
	for _, o := range orphans {
		if o.StateReason != "out of the sync scope" || o.IntegrationID != fx.id {
			t.Errorf("orphan %+v", o)
			continue
		}
		outOfScope++
		if !notApproved[o.Name] || o.OrganizationID == "" {
			t.Errorf("orphaned for the scope: %+v", o)
		}
		if s := psaSyncs(w, a, o.OrganizationID)[fx.id]; s.State != "ORGANIZATION_SYNC_STATE_ORPHANED" || s.Reason != "out of the sync scope" {
			t.Errorf("%s's sync: %+v", o.Name, s)
		}
	}
	if outOfScope != stop {
		t.Errorf("the preview said %d would stop syncing; the full refresh orphaned %d for the scope", stop, outOfScope)
	}

	// And back: the preview of the old scope takes them in again.
	body, _ = json.Marshal(psaTwoWay())
	if back := w.must(200, "POST", fx.base+"/syncSettings:preview", a.adminKey, string(body)); num(back["startSyncing"]) != stop ||
		num(back["stopSyncing"]) != 0 || num(back["inScope"]) != 12 {
		t.Errorf("preview of the whole scope again: %v, want %d to start syncing", back, stop)
	}
	if wr := cwTool.Writes(); len(wr) != 0 {
		t.Errorf("ConnectWise's writes %s, want none", psaWriteSummary(wr))
	}
}

func TestPSADisconnectModes(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id

	// PAUSE keeps changes until resumed; KEEP_DATA keeps the organizations. (No subtests: the
	// world's helpers fail the test that started it.)
	{
		sims := startSimulators(t)
		cwTool := sims.ConnectWise.Sim
		fx := connectWiseIntegration(w, a, sims)
		psaSetSync(fx, psaTwoWay())
		org := psaCreateOrg(w, a, "Granite Peak Dental", "", "")
		ext := psaWaitSynced(w, a, org, 10*time.Second, fx.id)[fx.id]

		op := w.must(200, "POST", fx.base+":disconnect", a.adminKey, `{"mode":"DISCONNECT_MODE_PAUSE"}`)
		if op["state"] != "OPERATION_STATE_SUCCEEDED" || op["integrationId"] != fx.id {
			t.Errorf("pause answered %v", op)
		}
		if got := w.must(200, "GET", fx.base, a.adminKey, ""); got["paused"] != true {
			t.Errorf("the paused integration: %v", got)
		}
		if s := psaSyncs(w, a, org)[fx.id]; s.State != "ORGANIZATION_SYNC_STATE_OFF" {
			t.Errorf("the organization's sync while paused: %+v", s)
		}
		w.must(200, "PATCH", acct+"/organizations/"+org+"?updateMask=name", a.adminKey, `{"name":"Granite Peak Dental Group"}`)
		// integration-sync hears of the rename with the rest of org's events; a second of them is
		// time enough for a push, were there one.
		event(w, "orgplane.org.v1.*.organization.updated", func() *orgv1.OrganizationUpdated { return &orgv1.OrganizationUpdated{} },
			func(ev *orgv1.OrganizationUpdated) bool {
				return ev.GetOrganization().GetName() == "Granite Peak Dental Group"
			})
		time.Sleep(time.Second)
		if u := psaWrites(cwTool, "update", ""); len(u) != 0 {
			t.Errorf("pushed while paused: %s", psaWriteSummary(u))
		}

		resumed := w.must(200, "POST", fx.base+":resume", a.adminKey, `{}`)
		if resumed["paused"] == true {
			t.Errorf("resume answered %v", resumed)
		}
		psaEventually(t, 10*time.Second, "the rename pushed once resumed", func() error {
			if len(psaWrites(cwTool, "update", "Granite Peak Dental Group")) == 0 {
				return fmt.Errorf("writes %s", psaWriteSummary(cwTool.Writes()))
			}
			return nil
		})
		time.Sleep(500 * time.Millisecond) // time for a second push, were there one
		if u := psaWrites(cwTool, "update", ""); len(u) != 1 || fmt.Sprint(u[0].CompanyID) != ext {
			t.Errorf("updates after the resume %s, want one of company %s", psaWriteSummary(u), ext)
		}
		psaWaitSynced(w, a, org, 10*time.Second, fx.id)

		op = w.must(200, "POST", fx.base+":disconnect", a.adminKey, `{"mode":"DISCONNECT_MODE_KEEP_DATA"}`)
		if op["state"] != "OPERATION_STATE_SUCCEEDED" {
			t.Errorf("keep data answered %v", op)
		}
		if r := w.do("GET", fx.base, a.adminKey, ""); r.code != http.StatusNotFound {
			t.Errorf("the integration after KEEP_DATA: %d %s", r.code, r.body)
		}
		if n := psaOrgName(w, a, org); n != "Granite Peak Dental Group" {
			t.Errorf("the organization after KEEP_DATA is %q", n)
		}
		psaEventually(t, 10*time.Second, "the organization's links gone", func() error {
			if l, s := psaLinks(w, a, org), psaSyncs(w, a, org); len(l) != 0 || s == nil || len(s) != 0 {
				return fmt.Errorf("links %v, syncs %v", l, s)
			}
			return nil
		})
		if c, ok := cwTool.Store.Get(psaCompanyID(t, ext)); !ok || c.Deleted {
			t.Errorf("the company after KEEP_DATA: %v %+v", ok, c)
		}
	}

	// DELETE_DATA deletes what the sync created, in another account with its own ConnectWise.
	{
		sims := startSimulators(t)
		cwTool := sims.ConnectWise.Sim
		b := w.newMSP("Fabrikam IT")
		bAcct := "/v1/accounts/" + b.id
		// A person's organization of a company's name: the pull links it.
		personLinked := psaCreateOrg(w, b, "Riverbend Law", "", "")
		seedConnectWise(sims, "Riverbend Law", "Pulled Alpha Clinic", "Pulled Beta Bakery")
		fx := connectWiseIntegration(w, b, sims)
		psaSetSync(fx, psaTwoWay())
		fx.refresh("REFRESH_MODE_FULL")
		pulled := map[string]string{}
		psaEventually(t, 30*time.Second, "the companies pulled in", func() error {
			for _, o := range w.must(200, "GET", bAcct+"/organizations?pageSize=100", b.adminKey, "")["organizations"].([]any) {
				name := o.(map[string]any)["name"].(string)
				if strings.HasPrefix(name, "Pulled ") {
					pulled[name] = o.(map[string]any)["id"].(string)
				}
			}
			if len(pulled) != 2 {
				return fmt.Errorf("pulled %v", pulled)
			}
			return nil
		})
		// A person's organization the sync pushed: the company is the sync's, the organization not.
		personPushed := psaCreateOrg(w, b, "Lakeside Accounting", "", "")
		for _, id := range []string{personLinked, personPushed, pulled["Pulled Alpha Clinic"], pulled["Pulled Beta Bakery"]} {
			psaWaitSynced(w, b, id, 10*time.Second, fx.id)
		}
		log := psaSyncLog(fx)
		if c, l := psaLogCount(log, "", "SYNC_SIDE_FROM_PSA", "created"), psaLogCount(log, personLinked, "SYNC_SIDE_FROM_PSA", "linked"); c != 2 || l != 1 {
			t.Errorf("sync log: %d created in Orgplane, %d linked, want 2 and 1: %+v", c, l, log)
		}

		op := w.must(200, "POST", fx.base+":disconnect", b.adminKey, `{"mode":"DISCONNECT_MODE_DELETE_DATA"}`)
		if op["state"] != "OPERATION_STATE_RUNNING" || num(op["progress"].(map[string]any)["itemsTotal"]) != 2 {
			t.Errorf("delete data answered %v, want a running operation over the 2 organizations the sync created", op)
		}
		psaEventually(t, 30*time.Second, "the integration removed", func() error {
			r := w.do("GET", fx.base, b.adminKey, "")
			if r.code != http.StatusNotFound {
				return fmt.Errorf("%d %s", r.code, r.body)
			}
			return nil
		})
		for name, id := range pulled {
			if r := w.do("GET", bAcct+"/organizations/"+id, b.adminKey, ""); r.code != http.StatusNotFound {
				t.Errorf("%s, which the sync created, after DELETE_DATA: %d %s", name, r.code, r.body)
			}
		}
		for name, id := range map[string]string{"Riverbend Law": personLinked, "Lakeside Accounting": personPushed} {
			if n := psaOrgName(w, b, id); n != name {
				t.Errorf("%s, which a person created, after DELETE_DATA is %q", name, n)
			}
		}
		psaEventually(t, 10*time.Second, "the remaining organizations' links gone", func() error {
			for _, id := range []string{personLinked, personPushed} {
				if l := psaLinks(w, b, id); len(l) != 0 {
					return fmt.Errorf("%s links %v", id, l)
				}
			}
			return nil
		})
		// The PSA keeps every company: the one create the push made, no delete.
		if wr := cwTool.Writes(); len(wr) != 1 || len(psaWrites(cwTool, "create", "Lakeside Accounting")) != 1 {
			t.Errorf("ConnectWise's writes %s, want the one create", psaWriteSummary(wr))
		}
		for _, c := range cwTool.Store.All() {
			if c.Deleted {
				t.Errorf("company %q deleted", c.Name)
			}
		}
	}
}

// A full refresh lists the PSA's companies page by page; the companies the sync creates in the
// meantime are not on the pages it read, yet they are neither deleted nor out of the scope: it
// must not orphan them.
func TestPSAFullRefreshDuringPushesOrphansNothing(t *testing.T) {
	const pushes = 60
	w := startWorld(t)
	sims := startSimulators(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	newMapper(w, a).licensed(pushes + 5)
	cwTool := sims.ConnectWise.Sim
	// An MSP's other companies, out of the scope, make each listing page take a while to record.
	for i := range 900 {
		cwTool.Store.Add(simkit.Company{Name: fmt.Sprintf("Bystander %03d", i+1), Identifier: fmt.Sprintf("BY%03d", i+1), Active: true, StatusID: 3})
	}
	fx := connectWiseIntegration(w, a, sims)
	psaSetSync(fx, map[string]any{"direction": "SYNC_DIRECTION_TWO_WAY", "scope": map[string]any{"psaStatusIds": []string{"1"}}})
	fx.refresh("REFRESH_MODE_FULL")

	// Organizations created a few at a time while full refreshes follow one another.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for g := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range pushes / 5 {
				name := fmt.Sprintf("Pushed Client %d-%02d", g+1, i+1)
				if r := w.doQuiet("POST", acct+"/organizations", a.adminKey, `{"name":"`+name+`"}`); r.code != http.StatusOK {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %d %s", name, r.code, r.body))
					mu.Unlock()
				}
			}
		}()
	}
	created := make(chan struct{})
	go func() { wg.Wait(); close(created) }()
	refreshes := 0
	for waiting := true; waiting; refreshes++ {
		select {
		case <-created:
			waiting = false
		default:
		}
		fx.refresh("REFRESH_MODE_FULL")
	}
	if len(failures) > 0 {
		t.Fatalf("creates failed: %v", failures)
	}
	psaEventually(t, 30*time.Second, "every pushed company recorded and linked", func() error {
		cached, _, _ := fx.externals("Pushed Client", 1000)
		linked := 0
		for _, e := range cached {
			if id, _ := e["organizationId"].(string); id != "" {
				linked++
			}
		}
		if len(cached) != pushes || linked != pushes {
			return fmt.Errorf("%d cached, %d linked", len(cached), linked)
		}
		return nil
	})
	t.Logf("%d full refreshes ran among %d pushes", refreshes, pushes)
	cached, _, _ := fx.externals("Pushed Client", 1000)
	wrongly := 0
	for _, e := range cached {
		if e["state"] != "EXTERNAL_ORGANIZATION_STATE_SYNCING" {
			wrongly++
			t.Errorf("%s, in ConnectWise and in the scope: %s (%s by %s)", e["name"], e["state"], e["stateReason"], e["stateChangedBy"])
		}
	}
	orphans, _ := psaOrphans(w, a)
	for _, o := range orphans {
		if o.StateReason != "out of the sync scope" {
			t.Errorf("orphan %+v", o)
		}
	}
	if wrongly > 0 {
		t.Errorf("%d of %d companies the sync created were orphaned by a full refresh that ran meanwhile", wrongly, pushes)
	}
	if c := psaWrites(cwTool, "create", ""); len(c) != pushes {
		t.Errorf("%d creates in ConnectWise, want %d", len(c), pushes)
	}
}
