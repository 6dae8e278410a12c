package app_test

import (
	"math"
	"testing"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// A full refresh of 5,000 companies per vendor caches each exactly once, reports progress while
// it runs, and asks the vendor for exactly the pages the listing takes.
func TestRefreshCachesEveryCompanyOnceWithNoWastedRequest(t *testing.T) {
	t.Parallel()
	const n = 5000
	for kind, pageSize := range map[string]int{"itglue": 1000, "connectwise": 1000, "autotask": 500} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			svc := w.service(true)
			integ := w.connect(svc, kind, domain.BudgetPolicy{})
			sim := w.sim(kind)
			seed(sim, n, "Client")
			sim.Faults.SetLatency(40 * time.Millisecond) // slow enough to watch progress
			sim.Acct.Reset()
			op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
			if err != nil {
				t.Fatal(err)
			}
			// Asking again while it runs returns the running one.
			again, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
			if err != nil || again.ID != op.ID {
				t.Fatalf("second refresh: %v, id %s want %s", err, again.ID, op.ID)
			}
			midway := false
			done := w.waitOperation(svc, op.ID, 60*time.Second, func(o domain.Operation) {
				if o.State == domain.OpRunning && o.Progress.PagesDone > 0 && o.Progress.ItemsDone < n {
					midway = true
				}
			})
			if done.State != domain.OpSucceeded {
				t.Fatalf("refresh ended %v: %s %s", done.State, done.ErrorReason, done.ErrorMessage)
			}
			if !midway {
				t.Error("no progress was visible while the refresh ran")
			}
			pages := int(math.Ceil(float64(n) / float64(pageSize)))
			if done.Progress.ItemsDone != n || done.Progress.PagesDone != pages || done.Result.Created != n {
				t.Errorf("progress %+v result %+v, want %d items in %d pages, all created", done.Progress, done.Result, n, pages)
			}
			if got := listRequests(kind, sim.Acct.Snapshot()); got != pages {
				t.Errorf("%d listing requests, want exactly %d", got, pages)
			}
			cached := w.externals(svc, integ.ID, 0)
			seen := map[string]bool{}
			for _, e := range cached {
				if seen[e.ExternalID] {
					t.Fatalf("external %s cached twice", e.ExternalID)
				}
				seen[e.ExternalID] = true
			}
			if len(cached) != n {
				t.Fatalf("%d cached, want %d", len(cached), n)
			}
			// A second full refresh of an unchanged tool changes nothing.
			op2, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
			if err != nil {
				t.Fatal(err)
			}
			sim.Faults.SetLatency(0)
			done2 := w.waitOperation(svc, op2.ID, 60*time.Second, nil)
			if done2.State != domain.OpSucceeded || done2.Result.Unchanged != n || done2.Result.Created+done2.Result.Changed+done2.Result.Orphaned != 0 {
				t.Fatalf("second refresh %v result %+v", done2.State, done2.Result)
			}
		})
	}
}

// ConnectWise's pitfall: a deleted company keeps status Active and its old lastUpdated, so an
// incremental refresh misses it; the next full refresh orphans it. A company gone from IT Glue's
// full listing is orphaned too, and both show in the account's orphans list.
func TestDeletedCompaniesAreOrphanedByTheNextFullRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(true)
	cw := w.connect(svc, "connectwise", domain.BudgetPolicy{})
	itg := w.connect(svc, "itglue", domain.BudgetPolicy{})
	// Companies last changed an hour ago, well before any refresh of this test.
	w.sims.ConnectWise.Sim.Store.SetClock(func() time.Time { return time.Now().Add(-time.Hour) })
	seed(w.sims.ConnectWise.Sim, 30, "CW")
	w.sims.ConnectWise.Sim.Store.SetClock(time.Now)
	seed(w.sims.ITGlue.Sim, 30, "ITG")
	refresh := func(id string, mode domain.RefreshMode) domain.Operation {
		t.Helper()
		op, err := svc.RefreshIntegration(w.ctx(), w.account, id, mode)
		if err != nil {
			t.Fatal(err)
		}
		done := w.waitOperation(svc, op.ID, 30*time.Second, nil)
		if done.State != domain.OpSucceeded {
			t.Fatalf("refresh: %+v", done)
		}
		return done
	}
	refresh(cw.ID, domain.ModeFull)
	refresh(itg.ID, domain.ModeFull)

	victim := w.sims.ConnectWise.Sim.Store.All()[4]
	if _, ok := w.sims.ConnectWise.Sim.Store.SoftDelete(victim.ID); !ok {
		t.Fatal("soft delete")
	}
	gone := w.sims.ITGlue.Sim.Store.All()[7]
	w.sims.ITGlue.Sim.Store.Remove(gone.ID)

	inc := refresh(cw.ID, domain.ModeIncremental)
	if inc.Mode != domain.ModeIncremental || inc.Result.Orphaned != 0 {
		t.Fatalf("the incremental refresh should miss the deleted company (the pitfall): %+v", inc)
	}
	full := refresh(cw.ID, domain.ModeFull)
	if full.Result.Orphaned != 1 {
		t.Fatalf("full refresh orphaned %d, want 1: %+v", full.Result.Orphaned, full.Result)
	}
	if r := refresh(itg.ID, domain.ModeFull); r.Result.Orphaned != 1 {
		t.Fatalf("IT Glue full refresh orphaned %d, want 1", r.Result.Orphaned)
	}
	orphans, _, total, err := svc.ListOrphans(w.ctx(), w.account, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(orphans) != 2 {
		t.Fatalf("orphans: %d listed, total %d, want 2", len(orphans), total)
	}
	reasons := map[string]string{}
	for _, o := range orphans {
		reasons[o.IntegrationKind] = o.StateReason
		if o.StateBy != "refresh" || o.StateAt.IsZero() {
			t.Errorf("orphan without who/when: %+v", o)
		}
	}
	if reasons["connectwise"] != domain.ReasonDeleted || reasons["itglue"] != domain.ReasonGone {
		t.Fatalf("orphan reasons: %v", reasons)
	}
	// A third full refresh does not orphan them again (no duplicate events, same counts).
	if r := refresh(cw.ID, domain.ModeFull); r.Result.Orphaned != 0 {
		t.Fatalf("an orphan was orphaned again: %+v", r.Result)
	}
}
