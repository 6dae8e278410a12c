package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
	"github.com/orgplane/orgplane/services/billing/internal/store"
)

func TestATrialStartsWithTheAccountAndIsAppliedByTheWorker(t *testing.T) {
	h := newHarness(t, testConfig())
	acc := uuid.NewString()
	created := &orgv1.AccountCreated{AccountId: acc, OccurredAt: timestamppb.New(h.now)}
	if !h.deliver("billing-subscriptions", created, "00000000-0000-0000-0000-0000000000e1") {
		t.Fatal("account.created not applied")
	}
	// The consumer only decided: nothing is recorded before org enforces the trial.
	if _, err := h.svc.GetSubscription(adminOf(acc), acc); !errors.Is(err, domain.ErrNoSubscription) {
		t.Fatalf("subscription before org applied the trial: %v", err)
	}
	if h.org.callsOf(acc, 1) != 0 {
		t.Fatal("the consumer called org inside its transaction")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.RunIntentWorker(ctx) }()
	eventually(t, "the worker applies the trial", func() bool { return len(h.changed(acc)) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	sub := h.subscription(acc)
	if sub.PlanName != "Trial" || sub.Limit != 25 || sub.State != domain.StateTrialing || !sub.PeriodEnd.Equal(h.now.AddDate(0, 0, 30)) {
		t.Fatalf("subscription = %+v", sub)
	}
	if u := h.org.usage(acc); u.GetUnlimited() || u.GetOrganizationLimit() != 25 || !u.GetWritable() || u.GetGeneration() != 1 {
		t.Fatalf("org enforces %v", u)
	}
	changes, _, err := h.svc.LicenseChanges(adminOf(acc), acc, 0, "")
	if err != nil || len(changes) != 1 || changes[0].Delta != 25 || changes[0].Limit != 25 || changes[0].ChangedBy != "service:billing" {
		t.Fatalf("changes = %+v, %v", changes, err)
	}
	ev := h.changed(acc)[0]
	if ev.GetLicenseDelta() != 25 || ev.GetChangedBy() != "service:billing" || ev.GetSubscription().GetOrganizationLimit() != 25 ||
		!ev.GetOccurredAt().AsTime().Equal(h.now) {
		t.Fatalf("subscription.changed = %v", ev)
	}

	// A replay of account.created under another event id (the ledger cannot catch it) changes
	// nothing: the subscription exists.
	h.deliver("billing-subscriptions", created, "00000000-0000-0000-0000-0000000000e2")
	if n := h.count(`SELECT count(*) FROM billing.license_intents WHERE account_id = $1`, acc); n != 1 {
		t.Fatalf("%d intents after a replay", n)
	}
}

func TestLicenseChangesAreAppliedToOrgThenRecorded(t *testing.T) {
	h := newHarness(t, testConfig())
	acc := h.newAccount()
	ctx := adminOf(acc)

	sub, err := h.svc.RemoveLicenses(ctx, acc, 15)
	if err != nil || sub.Limit != 10 {
		t.Fatalf("remove 15: %+v %v", sub, err)
	}
	sub, err = h.svc.AddLicenses(ctx, acc, 3)
	if err != nil || sub.Limit != 13 {
		t.Fatalf("add 3: %+v %v", sub, err)
	}
	if u := h.org.usage(acc); u.GetOrganizationLimit() != 13 || u.GetGeneration() != 3 {
		t.Fatalf("org enforces %v", u)
	}
	changes, _, _ := h.svc.LicenseChanges(ctx, acc, 0, "")
	if len(changes) != 3 || changes[0].Delta != 3 || changes[0].Limit != 13 || changes[0].ChangedBy != "user-"+acc[:8] ||
		changes[1].Delta != -15 || changes[1].Limit != 10 {
		t.Fatalf("changes = %+v", changes)
	}
	if evs := h.changed(acc); len(evs) != 3 || evs[2].GetLicenseDelta() != 3 || evs[2].GetSubscription().GetOrganizationLimit() != 13 {
		t.Fatalf("events = %v", evs)
	}

	// Org refuses a limit below use: the caller gets org's answer and nothing changes anywhere.
	h.org.setUsed(acc, 12)
	_, err = h.svc.RemoveLicenses(ctx, acc, 2)
	if st, _ := status.FromError(err); st.Code() != codes.FailedPrecondition || st.Message() != "12 organizations are active; the limit cannot go below that (deactivate some first)" {
		t.Fatalf("remove below use: %v", err)
	}
	if h.intentStatus(acc, 4) != "rejected" || h.subscription(acc).Limit != 13 || h.org.usage(acc).GetOrganizationLimit() != 13 ||
		len(h.changed(acc)) != 3 {
		t.Fatal("a refused change left a trace")
	}
	// The next change takes the next generation.
	if _, err := h.svc.AddLicenses(ctx, acc, 1); err != nil || h.org.usage(acc).GetGeneration() != 5 {
		t.Fatalf("after a refusal: %v, org %v", err, h.org.usage(acc))
	}

	// Refusals of billing's own rules happen before anything is written.
	if _, err := h.svc.RemoveLicenses(ctx, acc, 100); apperr.KindOf(err) != apperr.KindInvalid {
		t.Fatalf("remove more than there are: %v", err)
	}
	if n := h.count(`SELECT count(*) FROM billing.license_intents WHERE account_id = $1`, acc); n != 5 {
		t.Fatalf("%d intents", n)
	}

	// Canceling makes the account read-only at org; the operator's change carries no delta.
	sub, err = h.svc.UpdateSubscription(operator, acc, domain.Subscription{State: domain.StateCanceled}, []string{"state"})
	if err != nil || sub.State != domain.StateCanceled || sub.Limit != 14 {
		t.Fatalf("cancel: %+v %v", sub, err)
	}
	if u := h.org.usage(acc); u.GetWritable() || u.GetOrganizationLimit() != 14 {
		t.Fatalf("org after cancel: %v", u)
	}
	if evs := h.changed(acc); evs[len(evs)-1].GetLicenseDelta() != 0 || evs[len(evs)-1].GetChangedBy() != "operator:op" {
		t.Fatalf("cancel event = %v", evs[len(evs)-1])
	}
	if _, err := h.svc.UpdateSubscription(ctx, acc, domain.Subscription{State: domain.StateActive}, []string{"state"}); apperr.KindOf(err) != apperr.KindPermissionDenied {
		t.Fatalf("a tenant updating: %v", err)
	}
}

// A request whose org call got no answer leaves its intent pending and says so; the worker
// applies it once org answers, and records it exactly once.
func TestAChangeOrgDidNotAnswerIsAppliedByTheWorker(t *testing.T) {
	h := newHarness(t, testConfig())
	acc := h.newAccount()
	ctx := adminOf(acc)

	failed := false
	h.org.setFault(func(string, int64) (bool, error) {
		if !failed {
			failed = true
			return false, unavailable
		}
		return true, nil
	})
	_, err := h.svc.AddLicenses(ctx, acc, 5)
	if !errors.Is(err, domain.ErrChangePending) || apperr.KindOf(err) != apperr.KindUnavailable {
		t.Fatalf("add while org is down: %v", err)
	}
	if h.subscription(acc).Limit != 25 || h.intentStatus(acc, 2) != "pending" {
		t.Fatal("an unconfirmed change was recorded")
	}
	// A second change meanwhile is refused as a conflict, not queued behind.
	if _, err := h.svc.RemoveLicenses(ctx, acc, 1); !errors.Is(err, domain.ErrChangeInProgress) || apperr.KindOf(err) != apperr.KindConflict {
		t.Fatalf("a change while one is pending: %v", err)
	}

	// The worker retries after the backoff.
	eventually(t, "the worker applies the pending change", func() bool {
		_, err := h.svc.ApplyDueIntents(context.Background())
		return err == nil && h.intentStatus(acc, 2) == "applied"
	})
	if sub := h.subscription(acc); sub.Limit != 30 {
		t.Fatalf("limit = %d", sub.Limit)
	}
	if u := h.org.usage(acc); u.GetOrganizationLimit() != 30 || u.GetGeneration() != 2 {
		t.Fatalf("org enforces %v", u)
	}
	if n := h.count(`SELECT count(*) FROM billing.license_changes WHERE account_id = $1 AND delta = 5`, acc); n != 1 {
		t.Fatalf("recorded %d times", n)
	}
	if n := h.count(`SELECT count(*) FROM billing.license_intent_queue`); n != 0 {
		t.Fatalf("%d intents left on the worker's list", n)
	}
	if _, err := h.svc.RemoveLicenses(ctx, acc, 1); err != nil {
		t.Fatalf("the next change: %v", err)
	}
}

// Org applied the change but its answer was lost: the retry carries the same generation, org
// ignores it as already applied and answers with the usage, and billing records the change once.
func TestALostAnswerIsRetriedWithTheSameGeneration(t *testing.T) {
	h := newHarness(t, testConfig())
	acc := h.newAccount()
	lost := false
	h.org.setFault(func(string, int64) (bool, error) {
		if !lost {
			lost = true
			return true, status.Error(codes.DeadlineExceeded, "context deadline exceeded")
		}
		return true, nil
	})
	if _, err := h.svc.AddLicenses(adminOf(acc), acc, 7); !errors.Is(err, domain.ErrChangePending) {
		t.Fatalf("add with a lost answer: %v", err)
	}
	if u := h.org.usage(acc); u.GetOrganizationLimit() != 32 || u.GetGeneration() != 2 {
		t.Fatalf("org = %v", u)
	}
	eventually(t, "the worker records the change", func() bool {
		_, err := h.svc.ApplyDueIntents(context.Background())
		return err == nil && h.intentStatus(acc, 2) == "applied"
	})
	if h.org.callsOf(acc, 2) != 2 || h.subscription(acc).Limit != 32 || len(h.changed(acc)) != 2 {
		t.Fatalf("calls %d, limit %d, events %d", h.org.callsOf(acc, 2), h.subscription(acc).Limit, len(h.changed(acc)))
	}
}

// A billing process that died between committing an intent and calling org leaves the intent
// leased to nobody; once the lease runs out, the worker of any replica applies it.
func TestAnIntentWhoseRequestDiedIsAppliedWhenItsLeaseRunsOut(t *testing.T) {
	cfg := testConfig()
	cfg.Lease = 300 * time.Millisecond
	h := newHarness(t, cfg)
	acc := h.newAccount()

	// Transaction A of a request, and then nothing: the process is gone.
	st := store.New(h.db.Pool)
	err := st.InTenant(context.Background(), acc, func(tx *store.Tx) error {
		sub, err := tx.SubscriptionForUpdate(context.Background())
		if err != nil {
			return err
		}
		desired, _ := sub.AddLicenses(4)
		i, err := domain.NextIntent(false, 1, domain.IntentAddLicenses, desired, 4, "user-1")
		if err != nil {
			return err
		}
		return tx.InsertIntent(context.Background(), i, cfg.Lease)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := h.svc.ApplyDueIntents(context.Background()); err != nil || n != 0 {
		t.Fatalf("the worker took a leased intent: %d %v", n, err)
	}

	other := h.service(cfg) // another replica
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = other.RunIntentWorker(ctx) }()
	eventually(t, "another replica applies the intent", func() bool { return h.intentStatus(acc, 2) == "applied" })
	if h.subscription(acc).Limit != 29 || h.org.usage(acc).GetOrganizationLimit() != 29 || h.org.callsOf(acc, 2) != 1 {
		t.Fatalf("limit %d, org %v, calls %d", h.subscription(acc).Limit, h.org.usage(acc), h.org.callsOf(acc, 2))
	}
}

// Several replicas' workers share the pending intents of many accounts: each is applied, and
// recorded exactly once.
func TestWorkersOfSeveralReplicasApplyEachIntentOnce(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	var accounts []string
	for range 8 {
		accounts = append(accounts, h.newAccount())
	}
	// Org is down: every change stays pending.
	h.org.setFault(func(string, int64) (bool, error) { return false, unavailable })
	for _, acc := range accounts {
		if _, err := h.svc.AddLicenses(adminOf(acc), acc, 2); !errors.Is(err, domain.ErrChangePending) {
			t.Fatalf("add: %v", err)
		}
	}
	h.org.setFault(nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		replica := h.service(cfg)
		wg.Go(func() { _ = replica.RunIntentWorker(ctx) })
	}
	eventually(t, "every intent is applied", func() bool {
		return h.count(`SELECT count(*) FROM billing.license_intents WHERE status = 'applied' AND generation = 2`) == len(accounts)
	})
	cancel()
	wg.Wait()
	for _, acc := range accounts {
		if n := h.count(`SELECT count(*) FROM billing.license_changes WHERE account_id = $1 AND delta = 2`, acc); n != 1 {
			t.Errorf("%s: recorded %d times", acc, n)
		}
		if u := h.org.usage(acc); u.GetOrganizationLimit() != 27 {
			t.Errorf("%s: org enforces %v", acc, u)
		}
	}
}

// Concurrent license changes on one account each end in success or a conflict, never anything
// else, and what succeeded is exactly what billing recorded and org enforces.
func TestConcurrentLicenseChangesEndInSuccessOrConflict(t *testing.T) {
	for _, wait := range []time.Duration{0, 2 * time.Second} {
		t.Run("wait "+wait.String(), func(t *testing.T) {
			cfg := testConfig()
			cfg.WaitForPending = wait
			h := newHarness(t, cfg)
			acc := h.newAccount()
			const n = 20
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					if i%2 == 0 {
						_, errs[i] = h.svc.AddLicenses(adminOf(acc), acc, 2)
					} else {
						_, errs[i] = h.svc.RemoveLicenses(adminOf(acc), acc, 1)
					}
				})
			}
			close(start)
			wg.Wait()
			ok, conflicts, want := 0, 0, int32(25)
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
					if i%2 == 0 {
						want += 2
					} else {
						want--
					}
				case apperr.KindOf(err) == apperr.KindConflict:
					conflicts++
				default:
					t.Errorf("change %d: %v", i, err)
				}
			}
			if ok == 0 || ok+conflicts != n {
				t.Fatalf("%d succeeded, %d conflicts", ok, conflicts)
			}
			if sub := h.subscription(acc); sub.Limit != want {
				t.Fatalf("limit %d, want %d", sub.Limit, want)
			}
			if u := h.org.usage(acc); u.GetOrganizationLimit() != want || u.GetGeneration() != int64(ok+1) {
				t.Fatalf("org enforces %v, want %d at generation %d", u, want, ok+1)
			}
			if c := h.count(`SELECT count(*) FROM billing.license_changes WHERE account_id = $1`, acc); c != ok+1 {
				t.Fatalf("%d changes recorded for %d successes", c, ok)
			}
			t.Logf("%d succeeded, %d conflicts", ok, conflicts)
		})
	}
}

func TestUsageComesFromOrgAndHistoryFromOrganizationEvents(t *testing.T) {
	h := newHarness(t, testConfig())
	acc := h.newAccount()
	h.org.setUsed(acc, 20)
	u, err := h.svc.LicenseUsage(adminOf(acc), acc)
	if err != nil || u.Limit != 25 || u.Used != 20 || u.Remaining() != 5 || !u.CanAddOrganizations() {
		t.Fatalf("usage = %+v %v", u, err)
	}

	at := func(day int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(2026, 1, day, 12, 0, 0, 0, time.UTC))
	}
	org := &orgv1.Organization{Id: uuid.NewString()}
	for _, ev := range []proto.Message{
		&orgv1.OrganizationCreated{AccountId: acc, OccurredAt: at(15), Organization: org},
		&orgv1.OrganizationCreated{AccountId: acc, OccurredAt: at(15), Organization: org},
		&orgv1.OrganizationDeactivated{AccountId: acc, OccurredAt: at(16), Organization: org},
		&orgv1.OrganizationReactivated{AccountId: acc, OccurredAt: at(16), Organization: org},
		&orgv1.OrganizationDeleted{AccountId: acc, OccurredAt: at(18), WasActive: true},
		&orgv1.OrganizationDeleted{AccountId: acc, OccurredAt: at(18), WasActive: false},
	} {
		if !h.deliver("billing-usage", ev, uuid.NewString()) {
			t.Fatal("not applied")
		}
	}
	days, _, err := h.svc.UsageHistory(adminOf(acc), acc, "2026-01-14", "2026-01-18", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, d := range days {
		got += fmt.Sprintf("%s:%d/%d ", d.Date, d.Active, d.Peak)
	}
	if want := "2026-01-14:0/0 2026-01-15:2/2 2026-01-16:2/2 2026-01-17:2/2 2026-01-18:1/2 "; got != want {
		t.Fatalf("history %s, want %s", got, want)
	}
}
