package app_test

import (
	"errors"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// Excluding a status from a PSA integration's scope: the preview's count is exactly the number of
// companies the next full refresh orphans, for being out of the scope; widening it again takes
// them back.
func TestScopePreviewEqualsTheOrphansOfTheNextFullRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(true)
	integ := w.connect(svc, "connectwise", domain.BudgetPolicy{})
	sim := w.sims.ConnectWise.Sim
	active, _ := simkit.OptionByName(sim.Store.Statuses, "Active")
	inactive, _ := simkit.OptionByName(sim.Store.Statuses, "Inactive")
	for i := range 40 {
		status := active.ID
		if i%4 == 0 {
			status = inactive.ID
		}
		sim.Store.Add(simkit.Company{Name: "Scoped " + itoa(int64(i)), Identifier: "SC" + itoa(int64(i)), StatusID: status, Active: status == active.ID})
	}
	refresh := func() domain.Operation {
		t.Helper()
		op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
		if err != nil {
			t.Fatal(err)
		}
		done := w.waitOperation(svc, op.ID, 30*time.Second, nil)
		if done.State != domain.OpSucceeded {
			t.Fatalf("refresh: %+v", done)
		}
		return done
	}
	refresh()

	onlyActive := domain.SyncSettings{Direction: domain.SyncTwoWay, Scope: domain.SyncScope{PSAStatusIDs: []string{itoa(active.ID)}}}
	p, err := svc.PreviewSyncSettings(w.ctx(), w.account, integ.ID, onlyActive)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stop != 10 || p.In != 30 || p.Start != 0 {
		t.Fatalf("preview %+v, want 10 stopping and 30 in scope", p)
	}
	if _, err := svc.UpdateSyncSettings(w.ctx(), w.account, integ.ID, onlyActive); err != nil {
		t.Fatal(err)
	}
	if got := refresh().Result.Orphaned; got != p.Stop {
		t.Fatalf("the full refresh orphaned %d, the preview said %d", got, p.Stop)
	}
	orphans := w.externals(svc, integ.ID, domain.ExternalOrphaned)
	for _, o := range orphans {
		if o.StateReason != domain.ReasonOutOfScope || o.StatusID != itoa(inactive.ID) {
			t.Fatalf("orphan %+v, want the inactive ones, out of the sync scope", o)
		}
	}
	v, err := svc.GetIntegration(w.ctx(), w.account, integ.ID)
	if err != nil || v.Sync.Direction != domain.SyncTwoWay || len(v.Sync.Scope.PSAStatusIDs) != 1 {
		t.Fatalf("settings as read: %v %+v", err, v.Sync)
	}

	// Widening the scope: the preview says they come back, and the next refresh brings them.
	all := domain.SyncSettings{Direction: domain.SyncTwoWay}
	if p, err := svc.PreviewSyncSettings(w.ctx(), w.account, integ.ID, all); err != nil || p.Start != 10 || p.Stop != 0 {
		t.Fatalf("widening preview %+v %v", p, err)
	}
	if _, err := svc.UpdateSyncSettings(w.ctx(), w.account, integ.ID, all); err != nil {
		t.Fatal(err)
	}
	if r := refresh().Result; r.Changed != 10 || r.Orphaned != 0 {
		t.Fatalf("after widening: %+v", r)
	}

	// Sync settings are for PSAs only.
	itg := w.connect(svc, "itglue", domain.BudgetPolicy{})
	if _, err := svc.UpdateSyncSettings(w.ctx(), w.account, itg.ID, all); !errors.Is(err, domain.ErrNotPSA) {
		t.Fatalf("IT Glue sync settings: %v", err)
	}
}

// Disabling sync for one organization keeps it out of sync across refreshes; a deletion in the
// tool still orphans it; enabling brings it back.
func TestDisableSyncSurvivesRefreshes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(true)
	integ := w.connect(svc, "connectwise", domain.BudgetPolicy{})
	sim := w.sims.ConnectWise.Sim
	seed(sim, 3, "Quiet")
	refresh := func() domain.Operation {
		t.Helper()
		op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
		if err != nil {
			t.Fatal(err)
		}
		return w.waitOperation(svc, op.ID, 30*time.Second, nil)
	}
	refresh()
	all := sim.Store.All()
	one, two := itoa(all[0].ID), itoa(all[1].ID)
	for _, id := range []string{one, two} {
		e, err := svc.SetSyncDisabled(w.ctx(), w.account, integ.ID, id, true)
		if err != nil || e.State != domain.ExternalSyncDisabled {
			t.Fatalf("disable %s: %v %+v", id, err, e)
		}
	}
	sim.Store.Update(all[0].ID, false, func(c *simkitCompany) { c.Name = "Quiet Renamed" })
	sim.Store.SoftDelete(all[1].ID)
	refresh()
	states := map[string]domain.ExternalOrganization{}
	for _, e := range w.externals(svc, integ.ID, 0) {
		states[e.ExternalID] = e
	}
	if e := states[one]; e.State != domain.ExternalSyncDisabled || e.Name != "Quiet Renamed" {
		t.Fatalf("a disabled company after a refresh: %+v", e)
	}
	if e := states[two]; e.State != domain.ExternalOrphaned {
		t.Fatalf("a disabled company deleted in the tool: %+v", e)
	}
	if _, err := svc.SetSyncDisabled(w.ctx(), w.account, integ.ID, two, true); err == nil {
		t.Fatal("disabling an orphan succeeded")
	}
	if e, err := svc.SetSyncDisabled(w.ctx(), w.account, integ.ID, one, false); err != nil || e.State != domain.ExternalSyncing {
		t.Fatalf("enable: %v %+v", err, e)
	}
	if _, err := svc.SetSyncDisabled(w.ctx(), w.account, integ.ID, "no-such", true); !errors.Is(err, domain.ErrExternalNotFound) {
		t.Fatalf("unknown external organization: %v", err)
	}
}
