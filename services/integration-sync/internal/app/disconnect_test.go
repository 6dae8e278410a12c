package app_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

// refreshes lists an integration's refresh operations, newest first.
func (w *world) refreshes(svc *app.Service, integrationID string) []domain.Operation {
	w.t.Helper()
	ops, _, err := svc.ListOperations(w.ctx(), w.account, integrationID, 500, "")
	if err != nil {
		w.t.Fatal(err)
	}
	return slices.DeleteFunc(ops, func(o domain.Operation) bool { return o.Type != domain.OpRefresh })
}

// Pausing stops the scheduled refreshes (a refresh asked for meanwhile ends without calling the
// tool) and the sync: org hears that no pair syncs, so their organizations may be deleted.
// Resuming undoes both.
func TestPauseStopsRefreshesAndSyncUntilResumed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	fast := func(c *app.Config) { c.IncrementalInterval, c.FullInterval = 300*time.Millisecond, time.Hour }
	svc := w.serviceWith(newDeletions(), true, fast)
	seed(w.sims.ConnectWise.Sim, 3, "Paused")
	integ := w.connect(svc, "connectwise", domain.BudgetPolicy{}).ID
	if _, err := svc.UpdateSyncSettings(w.ctx(), w.account, integ, domain.SyncSettings{Direction: domain.SyncTwoWay}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = svc.RunScheduler(ctx) }()
	waitFor(t, "scheduled refreshes", func() bool { return len(w.refreshes(svc, integ)) >= 2 })
	o := &orphanWorld{world: w, integ: integ}
	org := uuid.NewString()
	w.link(integ, w.externals(svc, integ, 0)[0].ExternalID, org, false)
	if got := o.lastSyncing(org); got != "syncing" {
		t.Fatalf("linked: org was told %q", got)
	}

	op, err := svc.DisconnectIntegration(w.ctx(), w.account, integ, app.DisconnectPause)
	if err != nil || op.State != domain.OpSucceeded || op.Type != domain.OpDisconnect {
		t.Fatalf("pause: %v %+v", err, op)
	}
	if got, err := svc.GetOperation(w.ctx(), w.account, op.ID); err != nil || got.Type != domain.OpDisconnect || got.State != domain.OpSucceeded {
		t.Fatalf("the pause's operation as read: %v %+v", err, got)
	}
	if v, err := svc.GetIntegration(w.ctx(), w.account, integ); err != nil || !v.Paused {
		t.Fatalf("paused integration: %v %+v", err, v.Integration)
	}
	if got := o.lastSyncing(org); got != "not syncing" {
		t.Fatalf("paused: org was last told %q", got)
	}
	// A refresh running at the pause ended; none starts while paused.
	before := w.refreshes(svc, integ)
	for _, r := range before {
		if r.State == domain.OpRunning {
			r = w.waitOperation(svc, r.ID, 10*time.Second, nil)
			if r.State == domain.OpRunning {
				t.Fatalf("a refresh still runs after the pause: %+v", r)
			}
		}
	}
	time.Sleep(time.Second)
	if after := w.refreshes(svc, integ); len(after) != len(before) {
		t.Fatalf("%d refreshes scheduled while paused", len(after)-len(before))
	}
	// Asked for by a person while paused, a refresh ends without calling the tool.
	sim := w.sims.ConnectWise.Sim
	sim.Acct.Reset()
	manual, err := svc.RefreshIntegration(w.ctx(), w.account, integ, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	if done := w.waitOperation(svc, manual.ID, 10*time.Second, nil); done.State != domain.OpCancelled {
		t.Fatalf("a refresh of a paused integration: %+v", done)
	}
	if n := listRequests("connectwise", sim.Acct.Snapshot()); n != 0 {
		t.Fatalf("a paused integration's refresh called the tool %d times", n)
	}
	// Pausing again changes nothing but records the request.
	if again, err := svc.DisconnectIntegration(w.ctx(), w.account, integ, app.DisconnectPause); err != nil || again.State != domain.OpSucceeded {
		t.Fatalf("pausing again: %v %+v", err, again)
	}

	v, err := svc.ResumeIntegration(w.ctx(), w.account, integ)
	if err != nil || v.Paused {
		t.Fatalf("resume: %v %+v", err, v.Integration)
	}
	if got := o.lastSyncing(org); got != "syncing" {
		t.Fatalf("resumed: org was last told %q", got)
	}
	// What changed while paused is caught up: the pair is reconciled (pending until the sync
	// workers get to it).
	if syncs, _, err := svc.ListOrganizationSyncs(w.ctx(), w.account, org, 0, ""); err != nil || len(syncs) != 1 ||
		(syncs[0].State != app.OrgPending && syncs[0].State != app.OrgSyncing) {
		t.Fatalf("resumed, the pair: %v %+v", err, syncs)
	}
	n := len(w.refreshes(svc, integ))
	waitFor(t, "a scheduled refresh after resuming", func() bool { return len(w.refreshes(svc, integ)) > n })
	if _, err := svc.ResumeIntegration(w.ctx(), w.account, integ); err != nil {
		t.Fatalf("resuming a running integration: %v", err)
	}
}

// The scheduler's pause flag holds both stops: resuming does not lift a credential stop, and
// new credentials (or a good connection test) do not lift a pause.
func TestResumeLeavesACredentialStopAndCredentialsLeaveAPause(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.serviceWith(newDeletions(), false)
	integ := w.connect(svc, "connectwise", domain.BudgetPolicy{}).ID
	stopped := func() bool {
		t.Helper()
		var paused bool
		w.superQuery(t, `SELECT paused FROM integration_sync.integration_directory WHERE integration_id = $1`, []any{integ}, &paused)
		return paused
	}
	pause := func() {
		t.Helper()
		if _, err := svc.DisconnectIntegration(w.ctx(), w.account, integ, app.DisconnectPause); err != nil {
			t.Fatal(err)
		}
	}
	resume := func() {
		t.Helper()
		if _, err := svc.ResumeIntegration(w.ctx(), w.account, integ); err != nil {
			t.Fatal(err)
		}
	}
	test := func() {
		t.Helper()
		if _, err := svc.TestIntegration(w.ctx(), w.account, integ); err != nil {
			t.Fatal(err)
		}
	}
	if stopped() {
		t.Fatal("a new integration's refreshes are stopped")
	}
	pause()
	test() // connected: the credential stop, which there is none of, is lifted
	if !stopped() {
		t.Fatal("a good connection test restarted a paused integration's refreshes")
	}
	resume()
	if stopped() {
		t.Fatal("resumed, its refreshes are still stopped")
	}

	w.sims.ConnectWise.Sim.Faults.SetRejectCredentials(true)
	test()
	if !stopped() {
		t.Fatal("rejected credentials did not stop the refreshes")
	}
	pause()
	resume()
	if !stopped() {
		t.Fatal("resuming lifted the credential stop")
	}
	pause()
	if _, err := svc.UpdateIntegration(w.ctx(), w.account, integ, app.IntegrationInput{Credentials: map[string]string{"privateKey": "new"}},
		[]string{"credentials.privateKey"}); err != nil {
		t.Fatal(err)
	}
	if !stopped() {
		t.Fatal("new credentials restarted a paused integration's refreshes")
	}
	resume()
	if stopped() {
		t.Fatal("new credentials, resumed: its refreshes are still stopped")
	}
}

// Disconnecting and keeping the data removes the integration at once, as deleting it does.
func TestDisconnectKeepingTheData(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	orgs := newDeletions()
	svc := w.serviceWith(orgs, true)
	seed(w.sims.ConnectWise.Sim, 2, "Kept")
	integ := w.connect(svc, "connectwise", domain.BudgetPolicy{}).ID
	w.fullRefresh(svc, integ)
	w.link(integ, w.externals(svc, integ, 0)[0].ExternalID, uuid.NewString(), true)

	op, err := svc.DisconnectIntegration(w.ctx(), w.account, integ, app.DisconnectKeepData)
	if err != nil || op.State != domain.OpSucceeded || op.Type != domain.OpDisconnect || op.Ended.IsZero() {
		t.Fatalf("disconnect: %v %+v", err, op)
	}
	if _, err := svc.GetIntegration(w.ctx(), w.account, integ); !errors.Is(err, domain.ErrIntegrationNotFound) {
		t.Fatalf("the disconnected integration: %v", err)
	}
	del := published[*integrationsyncv1.IntegrationDeleted](w)
	if len(del) != 1 || del[0].GetIntegrationId() != integ || !strings.HasPrefix(del[0].GetDeletedBy(), actor) {
		t.Fatalf("integration.deleted events: %v", del)
	}
	if synced, deleted := orgs.calls(); len(synced)+len(deleted) > 0 {
		t.Fatalf("keeping the data deleted %v %v", synced, deleted)
	}
	if _, err := svc.DisconnectIntegration(w.ctx(), w.account, integ, app.DisconnectKeepData); !errors.Is(err, domain.ErrIntegrationNotFound) {
		t.Fatalf("disconnecting again: %v", err)
	}
}

// Disconnecting and deleting the data pauses the integration, deletes exactly the organizations
// its sync created (as the sync; one org already deleted is fine), waits out an org that does not
// answer and goes on from its checkpoint, and fails naming what org refused, the integration
// kept; asked again once org agrees, it removes the integration.
func TestDisconnectDeletingTheDataDeletesWhatTheSyncCreated(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	orgs := newDeletions()
	svc := w.serviceWith(orgs, true)
	seed(w.sims.ConnectWise.Sim, 6, "Data")
	integ := w.connect(svc, "connectwise", domain.BudgetPolicy{}).ID
	if _, err := svc.UpdateSyncSettings(w.ctx(), w.account, integ, domain.SyncSettings{Direction: domain.SyncTwoWay}); err != nil {
		t.Fatal(err)
	}
	w.fullRefresh(svc, integ)
	var ext []string
	for _, e := range w.externals(svc, integ, 0) {
		ext = append(ext, e.ExternalID)
	}
	slices.Sort(ext) // the order the disconnect goes in
	created := map[string]string{}
	for _, e := range ext[:4] {
		created[e] = uuid.NewString()
		w.link(integ, e, created[e], true)
	}
	mine := uuid.NewString() // linked, but not created by the sync
	w.link(integ, ext[4], mine, false)
	first, second, refused, gone := created[ext[0]], created[ext[1]], created[ext[2]], created[ext[3]]
	orgs.fail[second] = []error{apperr.Unavailable("org is restarting")}
	orgs.refuse[refused] = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "ORGANIZATION_SYNCING", Message: "disable sync first"}
	orgs.gone[gone] = true

	op, err := svc.DisconnectIntegration(w.ctx(), w.account, integ, app.DisconnectDeleteData)
	if err != nil || op.State != domain.OpRunning || op.Type != domain.OpDisconnect || op.Progress.ItemsTotal != 4 {
		t.Fatalf("disconnect: %v %+v", err, op)
	}
	if again, err := svc.DisconnectIntegration(w.ctx(), w.account, integ, app.DisconnectDeleteData); err != nil || again.ID != op.ID {
		t.Fatalf("asked again while it runs: %v %+v, want %s", err, again, op.ID)
	}
	if _, err := svc.ResumeIntegration(w.ctx(), w.account, integ); !errors.Is(err, domain.ErrDeletingData) {
		t.Fatalf("resuming while it deletes: %v", err)
	}
	done := w.waitOperation(svc, op.ID, 30*time.Second, nil)
	if done.State != domain.OpFailed || done.ErrorReason != domain.ReasonOrganizationsNotDeleted ||
		!strings.Contains(done.ErrorMessage, "1 organizations") || !strings.Contains(done.ErrorMessage, "disable sync first") {
		t.Fatalf("with a refusal: %+v", done)
	}
	if done.Progress.ItemsDone != 4 || done.Progress.ItemsTotal != 4 {
		t.Fatalf("progress %+v", done.Progress)
	}
	synced, deleted := orgs.calls()
	if !slices.Equal(synced, []string{first, second, second, refused, gone}) || len(deleted) != 0 {
		t.Fatalf("org was asked to delete %v (as the caller: %v), want each once in order, the one unavailable twice", synced, deleted)
	}
	v, err := svc.GetIntegration(w.ctx(), w.account, integ)
	if err != nil || !v.Paused {
		t.Fatalf("after the refusal the integration is kept, paused: %v %+v", err, v.Integration)
	}
	cached := map[string]domain.ExternalOrganization{}
	for _, e := range w.externals(svc, integ, 0) {
		cached[e.ExternalID] = e
	}
	for _, e := range ext[:4] {
		if _, ok := cached[e]; ok != (created[e] == refused) {
			t.Errorf("company %s (organization %s) cached: %v", e, created[e], ok)
		}
	}
	if e := cached[ext[4]]; e.OrganizationID != mine {
		t.Errorf("the organization the sync did not create lost its link: %+v", e)
	}
	if rm := published[*integrationsyncv1.ExternalOrganizationRemoved](w); len(rm) != 3 {
		t.Errorf("%d external_organization.removed events, want 3", len(rm))
	}

	delete(orgs.refuse, refused)
	op, err = svc.DisconnectIntegration(w.ctx(), w.account, integ, app.DisconnectDeleteData)
	if err != nil || op.Progress.ItemsTotal != 1 {
		t.Fatalf("again: %v %+v", err, op)
	}
	waitFor(t, "the integration removed", func() bool {
		_, err := svc.GetIntegration(w.ctx(), w.account, integ)
		return errors.Is(err, domain.ErrIntegrationNotFound)
	})
	if synced, _ := orgs.calls(); synced[len(synced)-1] != refused || slices.Contains(synced, mine) {
		t.Fatalf("org was asked to delete %v", synced)
	}
	if del := published[*integrationsyncv1.IntegrationDeleted](w); len(del) != 1 {
		t.Fatalf("integration.deleted events: %v", del)
	}
}

// Disconnecting takes integrations:write and one of the three modes.
func TestDisconnectIsRefusedToReaders(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.serviceWith(newDeletions(), false)
	integ := w.connect(svc, "itglue", domain.BudgetPolicy{}).ID
	reader := identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "reader",
		AccountID: w.account, Permissions: []string{domain.PermRead}})
	for _, m := range []app.DisconnectMode{app.DisconnectPause, app.DisconnectKeepData, app.DisconnectDeleteData} {
		if _, err := svc.DisconnectIntegration(reader, w.account, integ, m); apperr.KindOf(err) != apperr.KindPermissionDenied {
			t.Errorf("a reader disconnecting (%d): %v", m, err)
		}
	}
	if _, err := svc.ResumeIntegration(reader, w.account, integ); apperr.KindOf(err) != apperr.KindPermissionDenied {
		t.Errorf("a reader resuming: %v", err)
	}
	if _, err := svc.DisconnectIntegration(w.ctx(), w.account, integ, 0); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("no mode: %v", err)
	}
	if _, err := svc.DisconnectIntegration(w.ctx(), w.account, uuid.NewString(), app.DisconnectPause); !errors.Is(err, domain.ErrIntegrationNotFound) {
		t.Errorf("an unknown integration: %v", err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
