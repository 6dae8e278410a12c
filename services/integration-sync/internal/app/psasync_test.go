package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// orgEvents applies organization events to a service as its consumer would.
type orgEvents struct {
	w   *world
	svc *app.Service
	st  *store.Store
}

func (w *world) orgEvents(svc *app.Service) orgEvents {
	pool, err := postgres.Open(context.Background(), w.db.Config)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(pool.Close)
	return orgEvents{w: w, svc: svc, st: store.New(pool)}
}

func (e orgEvents) changed(o domain.Organization, by string) {
	e.w.t.Helper()
	if o.AccountID == "" {
		o.AccountID = e.w.account
	}
	if o.Changed.IsZero() {
		o.Changed = time.Now()
	}
	if err := e.st.InTenant(context.Background(), o.AccountID, func(tx *store.Tx) error {
		return e.svc.OrganizationChanged(context.Background(), tx, o, by)
	}); err != nil {
		e.w.t.Fatal(err)
	}
}

// twoWay connects a PSA integration with two-way sync on and nothing in it.
func (w *world) twoWay(svc *app.Service, kind string) app.IntegrationView {
	w.t.Helper()
	integ := w.connect(svc, kind, domain.BudgetPolicy{})
	if _, err := svc.UpdateSyncSettings(w.ctx(), w.account, integ.ID, domain.SyncSettings{Direction: domain.SyncTwoWay}); err != nil {
		w.t.Fatal(err)
	}
	return integ
}

// writesOf counts a simulator's writes by action and company name.
func writesOf(tool *simkit.Tool) map[string]int {
	out := map[string]int{}
	for _, wr := range tool.Writes() {
		out[wr.Action+" "+wr.Name]++
	}
	return out
}

func eventually(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An organization created in Orgplane is created once in each two-way PSA and linked; a rename
// is patched once; the same values arriving again (an echo, a redelivery) write nothing.
func TestOrgplaneChangesReachThePSAOnce(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"connectwise", "autotask"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			svc := w.service(true)
			integ := w.twoWay(svc, kind)
			tool := w.sim(kind)
			ev := w.orgEvents(svc)
			org := domain.Organization{ID: uuid.NewString(), Name: "Contoso Pharmaceuticals", Active: true}
			ev.changed(org, "user:ada")
			eventually(t, 10*time.Second, "the company in the PSA", func() bool { return writesOf(tool)["create Contoso Pharmaceuticals"] == 1 })
			eventually(t, 10*time.Second, "the link", func() bool {
				for _, e := range w.externals(svc, integ.ID, domain.ExternalSyncing) {
					if e.OrganizationID == org.ID && e.Base != nil {
						return true
					}
				}
				return false
			})
			ev.changed(org, "user:ada") // redelivered: nothing to write
			org.Name, org.Changed = "Contoso Pharma", time.Now()
			ev.changed(org, "user:ada")
			eventually(t, 10*time.Second, "the rename in the PSA", func() bool { return writesOf(tool)["update Contoso Pharma"] == 1 })
			ev.changed(org, "user:ada")
			// Another organization created by this integration's own sync (pulled from the PSA)
			// is not sent back to it.
			ev.changed(domain.Organization{ID: uuid.NewString(), Name: "Pulled In", Active: true}, app.SyncAuthor(integ.ID))
			time.Sleep(time.Second)
			if got := writesOf(tool); len(tool.Writes()) != 2 {
				t.Fatalf("writes %v, want one create and one update", got)
			}
		})
	}
}

// With the PSA answering 503 for a while, organizations created meanwhile wait, say why, and
// all reach it exactly once after it recovers.
func TestChangesWaitForAPSAThatIsDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.service(true)
	integ := w.twoWay(svc, "connectwise")
	tool := w.sim("connectwise")
	tool.Faults.Down(503, 3*time.Second)
	ev := w.orgEvents(svc)
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev.changed(domain.Organization{ID: uuid.NewString(), Name: fmt.Sprintf("Outage %02d", i), Active: true}, "user:ada")
		}()
	}
	wg.Wait()
	eventually(t, 30*time.Second, "every company in the PSA", func() bool { return len(tool.Writes()) >= n })
	time.Sleep(500 * time.Millisecond)
	for name, c := range writesOf(tool) {
		if c != 1 || !strings.HasPrefix(name, "create Outage ") {
			t.Fatalf("write %q happened %d times", name, c)
		}
	}
	if len(tool.Writes()) != n {
		t.Fatalf("%d writes, want %d", len(tool.Writes()), n)
	}
	var entries []domain.SyncLogEntry
	if err := ev.st.InTenant(context.Background(), w.account, func(tx *store.Tx) error {
		var err error
		entries, err = tx.SyncLog(context.Background(), integ.ID, store.SyncLogFilter{Action: domain.LogError, Limit: 10})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || !strings.Contains(entries[0].Message, "unavailable") {
		t.Fatalf("the outage left no error in the sync log: %+v", entries)
	}
}
