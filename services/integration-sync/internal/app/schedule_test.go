package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// Scheduled refreshes: a new integration's first full refresh starts on its own, and two
// replicas' schedulers together start it once.
func TestTwoSchedulersStartOneRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	fast := func(c *app.Config) { c.IncrementalInterval, c.FullInterval = 400*time.Millisecond, time.Hour }
	a, b := w.service(true, fast), w.service(true, fast)
	seed(w.sims.ITGlue.Sim, 10, "Sched")
	integ := w.connect(a, "itglue", domain.BudgetPolicy{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, s := range []*app.Service{a, b} {
		go func() { _ = s.RunScheduler(ctx) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	var ops []domain.Operation
	for time.Now().Before(deadline) {
		var err error
		if ops, _, err = b.ListOperations(w.ctx(), w.account, integ.ID, 0, ""); err != nil {
			t.Fatal(err)
		}
		if len(ops) > 0 && ops[len(ops)-1].State == domain.OpSucceeded {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(ops) == 0 {
		t.Fatal("no scheduled refresh started")
	}
	first := ops[len(ops)-1]
	if first.CreatedBy != "scheduler" || first.Mode != domain.ModeFull {
		t.Fatalf("first scheduled refresh: by %q mode %v, want the scheduler's full refresh", first.CreatedBy, first.Mode)
	}
	// Both schedulers tick several times within a second; the one due refresh was started once,
	// and what follows are incremental ones, one at a time.
	time.Sleep(time.Second)
	ops, _, err := b.ListOperations(w.ctx(), w.account, integ.ID, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	full := 0
	for _, o := range ops {
		if o.Mode == domain.ModeFull {
			full++
		}
	}
	if full != 1 {
		t.Fatalf("%d full refreshes scheduled, want 1 (%d operations)", full, len(ops))
	}
}

// A running refresh can be cancelled; it stops at its next checkpoint.
func TestCancelStopsARefreshAtItsNextCheckpoint(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(true)
	integ := w.connect(svc, "autotask", domain.BudgetPolicy{})
	seed(w.sims.Autotask.Sim, 5000, "Cancel")
	w.sims.Autotask.Sim.Faults.SetLatency(150 * time.Millisecond)
	op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	for {
		cur, err := svc.GetOperation(w.ctx(), w.account, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Progress.PagesDone >= 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := svc.CancelOperation(w.ctx(), w.account, op.ID); err != nil {
		t.Fatal(err)
	}
	done := w.waitOperation(svc, op.ID, 10*time.Second, nil)
	if done.State != domain.OpCancelled || done.Progress.ItemsDone >= 5000 {
		t.Fatalf("after cancel: %v with %d items", done.State, done.Progress.ItemsDone)
	}
	if _, err := svc.CancelOperation(w.ctx(), w.account, op.ID); err == nil {
		t.Fatal("cancelling an ended operation succeeded")
	}
	// A new refresh may start once it ended.
	if next, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull); err != nil || next.ID == op.ID {
		t.Fatalf("refresh after cancel: %v (%s)", err, next.ID)
	}
}

// A tool that cannot be reached: the refresh is kept, postponed with its reason, not lost.
func TestAnUnreachableToolPostponesTheRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(true)
	integ, err := svc.CreateIntegration(w.ctx(), w.account, app.IntegrationInput{Kind: "itglue", Endpoint: "http://127.0.0.1:9",
		Credentials: map[string]string{"apiKey": "unreachable"}})
	if err != nil {
		t.Fatal(err)
	}
	op, err := svc.RefreshIntegration(w.ctx(), w.account, integ.ID, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cur, err := svc.GetOperation(w.ctx(), w.account, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Attempts >= 1 {
			if cur.State != domain.OpRunning || cur.ErrorMessage == "" {
				t.Fatalf("after a failed attempt: %v %q", cur.State, cur.ErrorMessage)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt recorded: %+v", cur)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
