package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// task gives an organization a sync task in state with reason, due in an hour (no worker takes
// it while the test reads it).
func (w *world) task(integrationID, organizationID string, state int16, reason string) {
	w.t.Helper()
	ctx := context.Background()
	err := store.New(w.db.Pool).InTenant(ctx, w.account, func(tx *store.Tx) error {
		if err := w.knowOrganization(tx, organizationID); err != nil {
			return err
		}
		if err := tx.TouchOrganizationTask(ctx, w.account, integrationID, organizationID, time.Now()); err != nil {
			return err
		}
		tasks, err := tx.OrganizationTasks(ctx, organizationID)
		if err != nil {
			return err
		}
		for _, k := range tasks {
			if k.IntegrationID == integrationID {
				return tx.PostponeTask(ctx, k.ID, state, reason, time.Hour, time.Now())
			}
		}
		return errors.New("no task")
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// Each organization's state with each PSA integration, from its link and its waiting change;
// an integration that neither links it nor has a change of it waiting is left out.
func TestOrganizationSyncStates(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.serviceWith(newDeletions(), true)
	cwSim, atSim := w.sims.ConnectWise.Sim, w.sims.Autotask.Sim
	seed(cwSim, 3, "Visible")
	seed(atSim, 1, "Visible")
	seed(w.sims.ITGlue.Sim, 1, "Visible")
	cw := w.connect(svc, "connectwise", domain.BudgetPolicy{}).ID
	at := w.connect(svc, "autotask", domain.BudgetPolicy{}).ID // its sync stays off
	itg := w.connect(svc, "itglue", domain.BudgetPolicy{}).ID  // not a PSA
	if _, err := svc.UpdateSyncSettings(w.ctx(), w.account, cw, domain.SyncSettings{Direction: domain.SyncTwoWay}); err != nil {
		t.Fatal(err)
	}
	w.fullRefresh(svc, cw)
	w.fullRefresh(svc, at)
	w.fullRefresh(svc, itg)
	cwExt := w.externals(svc, cw, 0)
	slices.SortFunc(cwExt, func(a, b domain.ExternalOrganization) int {
		return int(mustInt(t, a.ExternalID) - mustInt(t, b.ExternalID))
	})
	atExt := w.externals(svc, at, 0)[0].ExternalID

	syncing, orphaned, disabled := uuid.NewString(), uuid.NewString(), uuid.NewString()
	failing, licensed, queued, unknown := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	w.link(cw, cwExt[0].ExternalID, syncing, true)
	w.link(at, atExt, syncing, false)
	w.link(itg, w.externals(svc, itg, 0)[0].ExternalID, syncing, false)
	w.link(cw, cwExt[1].ExternalID, orphaned, false)
	w.link(cw, cwExt[2].ExternalID, disabled, false)
	cwSim.Store.SoftDelete(mustInt(t, cwExt[1].ExternalID))
	w.fullRefresh(svc, cw)
	if _, err := svc.SetSyncDisabled(w.ctx(), w.account, cw, cwExt[2].ExternalID, true); err != nil {
		t.Fatal(err)
	}
	w.task(cw, failing, domain.TaskFailing, "ConnectWise refused: identifier taken")
	w.task(cw, licensed, domain.TaskWaitingLicense, "no license free")
	w.task(cw, queued, domain.TaskPending, "")

	type want struct {
		integ  string
		state  app.OrganizationSyncState
		reason string
		ext    string
		blocks bool
		// Whether org's guard still counts an orphaned or disabled pair is the sync worker's
		// business (it publishes on those changes), not this list's.
		anyBlocks bool
	}
	check := func(org string, wants ...want) {
		t.Helper()
		got, _, err := svc.ListOrganizationSyncs(w.ctx(), w.account, org, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(wants) {
			t.Fatalf("organization %s: %+v, want %d", org, got, len(wants))
		}
		for i, wt := range wants {
			g := got[i]
			if g.IntegrationID != wt.integ || g.State != wt.state || g.Reason != wt.reason || g.ExternalID != wt.ext ||
				(g.BlocksDeletion != wt.blocks && !wt.anyBlocks) || g.OrganizationID != org {
				t.Errorf("organization %s, sync %d: %+v, want %+v", org, i, g, wt)
			}
		}
	}
	// By kind: autotask before connectwise.
	check(syncing, want{at, app.OrgOff, "the integration's sync is off", atExt, false, false},
		want{cw, app.OrgSyncing, "", cwExt[0].ExternalID, true, false})
	got, _, _ := svc.ListOrganizationSyncs(w.ctx(), w.account, syncing, 0, "")
	if s := got[1]; s.IntegrationKind != "connectwise" || s.LastSync.IsZero() || !strings.HasPrefix(s.LastResult, "linked") {
		t.Errorf("the last sync: %+v", s)
	}
	// A page at a time, still by kind; the token is the organization's.
	paged := walk(t, 1, func(s app.OrganizationSync) string { return s.IntegrationID }, func(size int32, token string) ([]app.OrganizationSync, string, error) {
		return svc.ListOrganizationSyncs(w.ctx(), w.account, syncing, size, token)
	})
	if !slices.Equal(paged, []string{at, cw}) {
		t.Errorf("syncs in pages of 1: %v, want autotask's then connectwise's", paged)
	}
	if _, tok, err := svc.ListOrganizationSyncs(w.ctx(), w.account, syncing, 1, ""); err != nil || tok == "" {
		t.Errorf("a first page of 1: %q %v", tok, err)
	} else {
		_, _, err := svc.ListOrganizationSyncs(w.ctx(), w.account, orphaned, 1, tok)
		badPageToken(t, "another organization's token", err)
	}
	check(orphaned, want{cw, app.OrgOrphaned, domain.ReasonDeleted, cwExt[1].ExternalID, false, true})
	check(disabled, want{cw, app.OrgDisabled, "sync disabled", cwExt[2].ExternalID, false, true})
	check(failing, want{cw, app.OrgError, "ConnectWise refused: identifier taken", "", false, false})
	check(licensed, want{cw, app.OrgPending, app.ReasonWaitingLicense, "", false, false})
	check(queued, want{cw, app.OrgPending, "waiting to be synced", "", false, false})
	// An organization integration-sync has not heard of answers as one that does not exist.
	if got, _, err := svc.ListOrganizationSyncs(w.ctx(), w.account, unknown, 0, ""); apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("an unknown organization: %v %+v", err, got)
	}

	// Paused: what syncs is off, and no longer blocks a deletion.
	if _, err := svc.DisconnectIntegration(w.ctx(), w.account, cw, app.DisconnectPause); err != nil {
		t.Fatal(err)
	}
	check(syncing, want{at, app.OrgOff, "the integration's sync is off", atExt, false, false},
		want{cw, app.OrgOff, "the integration is paused", cwExt[0].ExternalID, false, false})
	check(failing, want{cw, app.OrgOff, "the integration is paused", "", false, false})

	// A caller limited to groups sees an organization of one of its groups, and is told any
	// other does not exist; so is another account's caller.
	group := uuid.NewString()
	if err := store.New(w.db.Pool).InTenant(context.Background(), w.account, func(tx *store.Tx) error {
		return tx.UpsertOrganization(context.Background(), domain.Organization{AccountID: w.account, ID: syncing,
			Name: "Visible", Active: true, GroupIDs: []string{group}, Changed: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	member := identity.With(context.Background(), identity.Identity{Kind: identity.KindUser, PrincipalID: "m", UserID: "m",
		AccountID: w.account, Permissions: []string{domain.PermRead}, RestrictedToGroups: true, Groups: []string{group}})
	if got, _, err := svc.ListOrganizationSyncs(member, w.account, syncing, 0, ""); err != nil || len(got) != 2 {
		t.Errorf("a caller limited to the organization's group: %v %+v", err, got)
	}
	if _, _, err := svc.ListOrganizationSyncs(as(uuid.NewString()), w.account, syncing, 0, ""); apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("another account: %v", err)
	}
	limited := identity.With(context.Background(), identity.Identity{Kind: identity.KindUser, PrincipalID: "u", UserID: "u",
		AccountID: w.account, Permissions: []string{domain.PermRead}, RestrictedToGroups: true, Groups: []string{uuid.NewString()}})
	if _, _, err := svc.ListOrganizationSyncs(limited, w.account, syncing, 0, ""); apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("a group-limited caller: %v", err)
	}
	noRead := identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "none", AccountID: w.account})
	if _, _, err := svc.ListOrganizationSyncs(noRead, w.account, syncing, 0, ""); apperr.KindOf(err) != apperr.KindPermissionDenied {
		t.Errorf("without integrations:read: %v", err)
	}
}

// The sync log pages newest first with sealed tokens bound to its filters, and filters by
// organization and action.
func TestSyncLogPagesAndFilters(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := w.serviceWith(newDeletions(), false)
	integ := w.connect(svc, "connectwise", domain.BudgetPolicy{}).ID
	other := w.connect(svc, "autotask", domain.BudgetPolicy{}).ID
	orgA, orgB := uuid.NewString(), uuid.NewString()
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Microsecond)
	err := store.New(w.db.Pool).InTenant(ctx, w.account, func(tx *store.Tx) error {
		for i := range 25 {
			e := domain.SyncLogEntry{AccountID: w.account, IntegrationID: integ, At: start.Add(time.Duration(i) * time.Second),
				Side: domain.ToPSA, Action: domain.LogUpdated, OrganizationID: orgA, ExternalID: fmt.Sprint(i), Fields: []string{"name"},
				Message: fmt.Sprint("entry ", i)}
			if i%5 == 0 {
				e.Side, e.Action, e.OrganizationID = domain.FromPSA, domain.LogConflict, orgB
			}
			if err := tx.AppendSyncLog(ctx, e); err != nil {
				return err
			}
		}
		return tx.AppendSyncLog(ctx, domain.SyncLogEntry{AccountID: w.account, IntegrationID: other, At: start, Side: domain.ToPSA,
			Action: domain.LogCreated, OrganizationID: orgA})
	})
	if err != nil {
		t.Fatal(err)
	}
	list := func(q app.SyncLogQuery) ([]domain.SyncLogEntry, string, error) {
		q.AccountID = w.account
		if q.IntegrationID == "" {
			q.IntegrationID = integ
		}
		return svc.ListSyncLog(w.ctx(), q)
	}
	var all []domain.SyncLogEntry
	token := ""
	for pages := 0; ; pages++ {
		page, next, err := list(app.SyncLogQuery{PageSize: 10, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if pages > 3 || (next != "" && len(page) != 10) {
			t.Fatalf("page %d: %d entries, next %q", pages, len(page), next)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		token = next
	}
	if len(all) != 25 {
		t.Fatalf("%d entries paged, want 25", len(all))
	}
	for i, e := range all {
		if e.Message != fmt.Sprint("entry ", 24-i) || (i > 0 && e.ID >= all[i-1].ID) || e.IntegrationID != integ || !e.At.Equal(start.Add(time.Duration(24-i)*time.Second)) {
			t.Fatalf("entry %d: %+v, want newest first", i, e)
		}
	}
	if all[0].Side != domain.ToPSA || !slices.Equal(all[0].Fields, []string{"name"}) || all[0].OrganizationID != orgA {
		t.Fatalf("entry as read: %+v", all[0])
	}
	if page, _, err := list(app.SyncLogQuery{}); err != nil || len(page) != 25 {
		t.Fatalf("the default page size: %d %v", len(page), err)
	}
	byOrg, _, err := list(app.SyncLogQuery{OrganizationID: orgB})
	if err != nil || len(byOrg) != 5 {
		t.Fatalf("organization filter: %d %v", len(byOrg), err)
	}
	byAction, _, err := list(app.SyncLogQuery{Action: domain.LogConflict})
	if err != nil || len(byAction) != 5 || byAction[0].Side != domain.FromPSA || byAction[0].OrganizationID != orgB {
		t.Fatalf("action filter: %+v %v", byAction, err)
	}
	if none, _, err := list(app.SyncLogQuery{OrganizationID: orgB, Action: domain.LogUpdated}); err != nil || len(none) != 0 {
		t.Fatalf("both filters: %+v %v", none, err)
	}

	// A token is bound to its filters and integration.
	_, tok, err := list(app.SyncLogQuery{PageSize: 2, Action: domain.LogUpdated})
	if err != nil || tok == "" {
		t.Fatal(err)
	}
	if page, _, err := list(app.SyncLogQuery{PageSize: 2, Action: domain.LogUpdated, PageToken: tok}); err != nil || len(page) != 2 {
		t.Fatalf("the token's own page: %d %v", len(page), err)
	}
	for name, q := range map[string]app.SyncLogQuery{
		"another action":       {Action: domain.LogConflict, PageToken: tok},
		"another organization": {Action: domain.LogUpdated, OrganizationID: orgA, PageToken: tok},
		"another integration":  {Action: domain.LogUpdated, IntegrationID: other, PageToken: tok},
		"altered":              {Action: domain.LogUpdated, PageToken: flipLast(tok)},
	} {
		if _, _, err := list(q); !errors.Is(err, pagetoken.ErrBadToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := list(app.SyncLogQuery{IntegrationID: uuid.NewString()}); !errors.Is(err, domain.ErrIntegrationNotFound) {
		t.Errorf("an unknown integration: %v", err)
	}
	var ae *apperr.Error
	if _, _, err := list(app.SyncLogQuery{OrganizationID: "nope"}); !errors.As(err, &ae) || ae.Field != "organizationId" {
		t.Errorf("a bad organization id: %v", err)
	}
	if _, _, err := svc.ListSyncLog(as(uuid.NewString()), app.SyncLogQuery{AccountID: w.account, IntegrationID: integ}); apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("another account: %v", err)
	}
}

// flipLast changes a token's last character.
func flipLast(tok string) string {
	c := "A"
	if tok[len(tok)-1] == 'A' {
		c = "B"
	}
	return tok[:len(tok)-1] + c
}
