package app_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// orphanWorld is a ConnectWise integration syncing two ways, with companies linked to
// organizations, some deleted in the tool and orphaned by a full refresh.
type orphanWorld struct {
	*world
	svc   *app.Service
	orgs  *deletions
	integ string
	ids   map[string]string // company name -> external id
	links map[string]string // company name -> organization id
}

func newOrphanWorld(t *testing.T, names, linked, deleted []string) *orphanWorld {
	t.Helper()
	w := newWorld(t)
	o := &orphanWorld{world: w, orgs: newDeletions(), ids: map[string]string{}, links: map[string]string{}}
	o.svc = w.serviceWith(o.orgs, true)
	o.integ = w.connect(o.svc, "connectwise", domain.BudgetPolicy{}).ID
	if _, err := o.svc.UpdateSyncSettings(w.ctx(), w.account, o.integ, domain.SyncSettings{Direction: domain.SyncTwoWay}); err != nil {
		t.Fatal(err)
	}
	sim := w.sims.ConnectWise.Sim
	simIDs := map[string]int64{}
	for _, n := range names {
		simIDs[n] = sim.Store.Add(simkitCompany{Name: n, Identifier: n, Active: true}).ID
		o.ids[n] = itoa(simIDs[n])
	}
	w.fullRefresh(o.svc, o.integ)
	for _, n := range linked {
		o.links[n] = uuid.NewString()
		w.link(o.integ, o.ids[n], o.links[n], false)
	}
	for _, n := range deleted {
		sim.Store.SoftDelete(simIDs[n])
	}
	if got := w.fullRefresh(o.svc, o.integ).Result.Orphaned; got != len(deleted) {
		t.Fatalf("%d orphaned, want %d", got, len(deleted))
	}
	return o
}

func (o *orphanWorld) resolve(action app.OrphanAction, names ...string) []app.OrphanResult {
	o.t.Helper()
	refs := make([]app.OrphanRef, len(names))
	for i, n := range names {
		refs[i] = app.OrphanRef{IntegrationID: o.integ, ExternalID: o.ids[n]}
	}
	res, err := o.svc.ResolveOrphans(o.ctx(), o.account, action, refs)
	if err != nil {
		o.t.Fatal(err)
	}
	if len(res) != len(names) {
		o.t.Fatalf("%d results for %d orphans", len(res), len(names))
	}
	return res
}

// cached is the integration's cached companies by external id.
func (o *orphanWorld) cached() map[string]domain.ExternalOrganization {
	out := map[string]domain.ExternalOrganization{}
	for _, e := range o.externals(o.svc, o.integ, 0) {
		out[e.ExternalID] = e
	}
	return out
}

// logOf is the sync log entries of an action.
func (o *orphanWorld) logOf(action string) []domain.SyncLogEntry {
	o.t.Helper()
	list, _, err := o.svc.ListSyncLog(o.ctx(), app.SyncLogQuery{AccountID: o.account, IntegrationID: o.integ, Action: action, PageSize: 1000})
	if err != nil {
		o.t.Fatal(err)
	}
	return list
}

// lastSyncing is what organization_sync.changed last said of an organization ("" when nothing).
func (o *orphanWorld) lastSyncing(orgID string) string {
	said := ""
	for _, ev := range published[*integrationsyncv1.OrganizationSyncChanged](o.world) {
		if ev.GetOrganizationId() == orgID && ev.GetIntegrationId() == o.integ {
			said = map[bool]string{true: "syncing", false: "not syncing"}[ev.GetSyncing()]
		}
	}
	return said
}

func (o *orphanWorld) removed(externalID string) []*integrationsyncv1.ExternalOrganizationRemoved {
	var out []*integrationsyncv1.ExternalOrganizationRemoved
	for _, ev := range published[*integrationsyncv1.ExternalOrganizationRemoved](o.world) {
		if ev.GetExternalId() == externalID {
			out = append(out, ev)
		}
	}
	return out
}

const actor = "api_key:key-" // as(account).Actor() starts so

// Unlinking an orphan forgets the company and its link and keeps the organization: org hears the
// pair no longer syncs, mapping that the link is gone, and the log says who did it.
func TestUnlinkingAnOrphanForgetsTheCompanyAndKeepsTheOrganization(t *testing.T) {
	t.Parallel()
	o := newOrphanWorld(t, []string{"Gone Ltd"}, []string{"Gone Ltd"}, []string{"Gone Ltd"})
	ext, org := o.ids["Gone Ltd"], o.links["Gone Ltd"]
	if r := o.resolve(app.OrphanUnlink, "Gone Ltd")[0]; !r.OK || r.ErrorReason != "" {
		t.Fatalf("unlink: %+v", r)
	}
	if _, ok := o.cached()[ext]; ok {
		t.Fatal("the unlinked orphan is still cached")
	}
	rm := o.removed(ext)
	if len(rm) != 1 || rm[0].GetOrganizationId() != org || rm[0].GetIntegrationId() != o.integ || !strings.HasPrefix(rm[0].GetRemovedBy(), actor) {
		t.Fatalf("external_organization.removed events: %v", rm)
	}
	if got := o.lastSyncing(org); got != "not syncing" {
		t.Fatalf("after unlinking, org was last told %q", got)
	}
	if synced, deleted := o.orgs.calls(); len(synced)+len(deleted) != 0 {
		t.Fatalf("unlinking asked org to delete %v %v", synced, deleted)
	}
	log := o.logOf(app.LogOrphanUnlinked)
	if len(log) != 1 || log[0].OrganizationID != org || log[0].ExternalID != ext || log[0].Side != domain.FromPSA {
		t.Fatalf("sync log: %+v", log)
	}
	// Asked again: it is gone.
	if r := o.resolve(app.OrphanUnlink, "Gone Ltd")[0]; r.OK || r.ErrorReason != app.ReasonOrphanNotFound {
		t.Fatalf("unlinking again: %+v", r)
	}
	// The company alive again in the tool: the next refresh caches it anew, unlinked.
	o.sims.ConnectWise.Sim.Store.Update(mustInt(t, ext), false, func(c *simkitCompany) { c.Deleted = false })
	o.fullRefresh(o.svc, o.integ)
	if e, ok := o.cached()[ext]; !ok || e.State != domain.ExternalSyncing || e.OrganizationID != "" {
		t.Fatalf("after it came back: %+v %v", e, ok)
	}
}

// Deleting an orphan's organization asks org as the caller, returns what org deleted, and
// forgets the company; a sub-organization's orphan in the same call is resolved with it.
func TestDeletingAnOrphansOrganization(t *testing.T) {
	t.Parallel()
	names := []string{"Parent Co", "Child Co"}
	o := newOrphanWorld(t, names, names, names)
	parent, child := o.links["Parent Co"], o.links["Child Co"]
	grandchild := uuid.NewString()
	o.orgs.children[parent] = []string{child, grandchild}

	res := o.resolve(app.OrphanDeleteOrganization, "Parent Co", "Child Co")
	if !res[0].OK || !slices.Equal(res[0].DeletedOrganizationIDs, []string{parent, child, grandchild}) {
		t.Fatalf("parent: %+v", res[0])
	}
	if !res[1].OK || len(res[1].DeletedOrganizationIDs) != 0 {
		t.Fatalf("child, deleted with its parent: %+v", res[1])
	}
	_, deleted := o.orgs.calls()
	if !slices.Equal(deleted, []string{parent}) {
		t.Fatalf("org was asked to delete %v, want the parent once", deleted)
	}
	if c := o.orgs.callers[0]; c.Kind != identity.KindAPIKey || c.AccountID != o.account {
		t.Fatalf("org was asked as %+v, want the caller", c)
	}
	cached := o.cached()
	for _, n := range names {
		if _, ok := cached[o.ids[n]]; ok {
			t.Fatalf("%s is still cached", n)
		}
		if rm := o.removed(o.ids[n]); len(rm) != 1 || rm[0].GetOrganizationId() != o.links[n] {
			t.Fatalf("%s: removed events %v", n, rm)
		}
	}
	if log := o.logOf(app.LogOrphanDeleted); len(log) != 2 {
		t.Fatalf("sync log: %+v", log)
	}
}

// A dismissed orphan leaves the orphans list and its count, stays cached as it is, and is listed
// again once it has stopped being an orphan and become one again.
func TestDismissedOrphanLeavesTheListUntilOrphanedAgain(t *testing.T) {
	t.Parallel()
	names := []string{"Quiet One", "Quiet Two"}
	o := newOrphanWorld(t, names, names, names)
	ext := o.ids["Quiet One"]
	orphans := func() (map[string]bool, int64, int) {
		t.Helper()
		list, _, total, err := o.svc.ListOrphans(o.ctx(), o.account, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		v, err := o.svc.GetIntegration(o.ctx(), o.account, o.integ)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, e := range list {
			ids[e.ExternalID] = true
		}
		return ids, total, v.OrphanCount
	}
	if ids, total, count := orphans(); !ids[ext] || total != 2 || count != 2 {
		t.Fatalf("before: %v %d %d", ids, total, count)
	}
	if r := o.resolve(app.OrphanDismiss, "Quiet One")[0]; !r.OK {
		t.Fatalf("dismiss: %+v", r)
	}
	if ids, total, count := orphans(); ids[ext] || total != 1 || count != 1 {
		t.Fatalf("after dismissing: listed %v, total %d, integration count %d", ids, total, count)
	}
	if e := o.cached()[ext]; e.State != domain.ExternalOrphaned || e.Dismissed.IsZero() || e.OrganizationID != o.links["Quiet One"] {
		t.Fatalf("the dismissed orphan as cached: %+v", e)
	}
	if r := o.resolve(app.OrphanUnlink, "Quiet One")[0]; r.ErrorReason != app.ReasonNotOrphaned {
		t.Fatalf("unlinking a dismissed orphan: %+v", r)
	}
	if log := o.logOf(app.LogOrphanDismissed); len(log) != 1 || log[0].ExternalID != ext {
		t.Fatalf("sync log: %+v", log)
	}
	// A refresh that still finds it deleted keeps it dismissed.
	o.fullRefresh(o.svc, o.integ)
	if ids, total, _ := orphans(); ids[ext] || total != 1 {
		t.Fatalf("after a refresh: %v %d", ids, total)
	}
	// Back alive, then deleted again: an orphan again, listed again.
	sim := o.sims.ConnectWise.Sim.Store
	sim.Update(mustInt(t, ext), false, func(c *simkitCompany) { c.Deleted = false })
	o.fullRefresh(o.svc, o.integ)
	if e := o.cached()[ext]; e.State != domain.ExternalSyncing || !e.Dismissed.IsZero() {
		t.Fatalf("back alive: %+v", e)
	}
	sim.SoftDelete(mustInt(t, ext))
	o.fullRefresh(o.svc, o.integ)
	if ids, total, count := orphans(); !ids[ext] || total != 2 || count != 2 {
		t.Fatalf("orphaned again: listed %v, total %d, count %d", ids, total, count)
	}
}

// In bulk, each orphan gets its own result, in request order: one refused leaves the others done.
func TestBulkOrphanActionsHaveIndependentResults(t *testing.T) {
	t.Parallel()
	names := []string{"Refused", "Unlinked", "Alive", "Dismissed", "Deleted"}
	o := newOrphanWorld(t, names, []string{"Refused", "Alive", "Dismissed", "Deleted"}, []string{"Refused", "Unlinked", "Dismissed", "Deleted"})
	o.orgs.refuse[o.links["Refused"]] = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "ORGANIZATION_SYNCING",
		Message: "the organization syncs with another integration: disable sync first"}
	if r := o.resolve(app.OrphanDismiss, "Dismissed")[0]; !r.OK {
		t.Fatal(r)
	}
	o.ids["Unknown"] = "no-such-company"

	refs := []app.OrphanRef{}
	for _, n := range []string{"Refused", "Unlinked", "Alive", "Unknown", "Dismissed", "Deleted"} {
		refs = append(refs, app.OrphanRef{IntegrationID: o.integ, ExternalID: o.ids[n]})
	}
	refs = append(refs, app.OrphanRef{IntegrationID: uuid.NewString(), ExternalID: o.ids["Deleted"]}, app.OrphanRef{IntegrationID: "not-a-uuid", ExternalID: "x"})
	res, err := o.svc.ResolveOrphans(o.ctx(), o.account, app.OrphanDeleteOrganization, refs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ORGANIZATION_SYNCING", app.ReasonNotLinked, app.ReasonNotOrphaned, app.ReasonOrphanNotFound,
		app.ReasonNotOrphaned, "", app.ReasonOrphanNotFound, app.ReasonOrphanNotFound}
	for i, r := range res {
		if r.ExternalID != refs[i].ExternalID || r.IntegrationID != refs[i].IntegrationID || r.ErrorReason != want[i] || r.OK != (want[i] == "") {
			t.Errorf("result %d: %+v, want reason %q", i, r, want[i])
		}
	}
	if res[0].ErrorMessage != "the organization syncs with another integration: disable sync first" {
		t.Errorf("org's refusal in other words: %q", res[0].ErrorMessage)
	}
	cached := o.cached()
	if e, ok := cached[o.ids["Refused"]]; !ok || e.OrganizationID != o.links["Refused"] || e.State != domain.ExternalOrphaned {
		t.Errorf("the refused orphan: %+v %v", e, ok)
	}
	if _, ok := cached[o.ids["Deleted"]]; ok {
		t.Error("the deleted orphan is still cached")
	}
	if _, deleted := o.orgs.calls(); !slices.Equal(deleted, []string{o.links["Refused"], o.links["Deleted"]}) {
		t.Errorf("org was asked to delete %v", deleted)
	}

	// Changing orphans takes integrations:write; the action must be one of the three.
	reader := identity.With(o.ctx(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "reader", AccountID: o.account,
		Permissions: []string{domain.PermRead}})
	if _, err := o.svc.ResolveOrphans(reader, o.account, app.OrphanDismiss, refs[:1]); apperr.KindOf(err) != apperr.KindPermissionDenied {
		t.Errorf("a reader dismissing: %v", err)
	}
	if _, err := o.svc.ResolveOrphans(o.ctx(), o.account, 0, refs[:1]); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("no action: %v", err)
	}
	var ae *apperr.Error
	if _, err := o.svc.ResolveOrphans(as(uuid.NewString()), o.account, app.OrphanDismiss, refs[:1]); !errors.As(err, &ae) || ae.Kind != apperr.KindNotFound {
		t.Errorf("another account: %v", err)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a simulator id", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
