package app

// No remote call inside a transaction. A license change is decided and written down as an
// intent in one transaction (A), applied to the org service after that commit, and recorded in
// a second transaction (B) once org has answered. An intent org never answered stays pending
// and the worker below applies it later; the generation it carries lets org ignore a change it
// has already applied, so applying twice is harmless. README: "No remote call inside a
// transaction".

import (
	"context"
	"errors"
	"fmt"
	"time"

	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
	"github.com/orgplane/orgplane/services/billing/internal/pbconv"
	"github.com/orgplane/orgplane/services/billing/internal/store"
)

// recordTimeout bounds transaction B when it runs after the caller has gone.
const recordTimeout = 10 * time.Second

// changeLicenses decides a change with decide (the next subscription and the licenses it adds
// or, negative, removes), has the org service apply it and records it. The caller gets the
// recorded subscription; org's refusal as org gave it (nothing changes anywhere); or
// domain.ErrChangePending when org did not answer (the worker applies the change later).
func (s *Service) changeLicenses(ctx context.Context, accountID string, kind domain.IntentKind, actor string,
	decide func(domain.Subscription) (domain.Subscription, int32, error)) (domain.Subscription, error) {
	intent, err := s.decide(ctx, accountID, kind, actor, decide)
	if err != nil {
		return domain.Subscription{}, err
	}
	// The caller going away must not strand the change half way: the call and the record run to
	// their own deadlines.
	return s.apply(context.WithoutCancel(ctx), intent, 1)
}

// decide is transaction A: lock the subscription, refuse while another change is pending,
// let the domain decide, write the intent (leased to this request). A pending change is
// normally confirmed within milliseconds, so it is waited for a little before refusing.
func (s *Service) decide(ctx context.Context, accountID string, kind domain.IntentKind, actor string,
	decide func(domain.Subscription) (domain.Subscription, int32, error)) (domain.LicenseIntent, error) {
	deadline := time.Now().Add(s.cfg.WaitForPending)
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		var intent domain.LicenseIntent
		err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
			sub, err := tx.SubscriptionForUpdate(ctx)
			if err != nil {
				return err
			}
			pending, last, err := tx.IntentState(ctx)
			if err != nil {
				return err
			}
			if pending {
				return domain.ErrChangeInProgress
			}
			desired, delta, err := decide(sub)
			if err != nil {
				return err
			}
			intent, err = domain.NextIntent(pending, last, kind, desired, delta, actor)
			if err != nil {
				return err
			}
			return tx.InsertIntent(ctx, intent, s.cfg.Lease)
		})
		if !errors.Is(err, domain.ErrChangeInProgress) || time.Now().Add(wait).After(deadline) {
			return intent, err
		}
		select {
		case <-ctx.Done():
			return domain.LicenseIntent{}, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// apply calls the org service for a pending intent (attempt counts the attempts at it, this one
// included) and records the outcome: transaction B on an answer, a later retry on none.
func (s *Service) apply(ctx context.Context, i domain.LicenseIntent, attempt int) (domain.Subscription, error) {
	callCtx, cancel := context.WithTimeout(identity.With(ctx, identity.Service("billing")), s.cfg.CallTimeout)
	_, callErr := s.org.SetLicenseLimit(callCtx, i.AccountID, i.OrgLimit())
	cancel()

	ctx, cancel = context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	if errors.Is(callErr, domain.ErrOrgUnreachable) {
		delay := s.cfg.Retry.Delay(attempt)
		s.log.Warn("org did not answer a license change; will retry", "account_id", i.AccountID,
			"generation", i.Generation, "attempt", attempt, "retry_in", delay, "error", callErr)
		if err := s.store.PostponeIntent(ctx, i.AccountID, i.Generation, delay, callErr.Error()); err != nil {
			// The lease runs out and the worker takes the intent anyway.
			s.log.Warn("cannot postpone license intent", "account_id", i.AccountID, "generation", i.Generation, "error", err)
		}
		return domain.Subscription{}, domain.ErrChangePending
	}
	return s.record(ctx, i, callErr)
}

// record is transaction B: the org service applied the intent (refusal nil), so write the
// subscription, the license change and subscription.changed; or it refused, so mark the intent
// rejected and hand the refusal back. The intent's row lock makes sure only one of the request
// and the worker records an outcome.
func (s *Service) record(ctx context.Context, i domain.LicenseIntent, refusal error) (domain.Subscription, error) {
	var out domain.Subscription
	var already domain.LicenseIntent
	err := s.store.InTenant(ctx, i.AccountID, func(tx *store.Tx) error {
		// The subscription first, as in transaction A: one lock order, no deadlock.
		sub, err := tx.SubscriptionForUpdate(ctx)
		if err != nil && !errors.Is(err, domain.ErrNoSubscription) { // a trial creates it
			return err
		}
		cur, err := tx.IntentForUpdate(ctx, i.Generation)
		if err != nil {
			return err
		}
		out, already = sub, cur
		if cur.Status != domain.IntentPending {
			return nil
		}
		if refusal != nil {
			return tx.ResolveIntent(ctx, i.AccountID, i.Generation, domain.IntentRejected, refusal.Error())
		}
		now := s.now()
		if out, err = tx.SaveSubscription(ctx, cur.Desired, now); err != nil {
			return err
		}
		if cur.Delta != 0 {
			if err := tx.InsertLicenseChange(ctx, i.AccountID, cur.Delta, out.Limit, cur.ChangedBy, now); err != nil {
				return err
			}
		}
		if err := tx.Enqueue(ctx, &billingv1.SubscriptionChanged{AccountId: i.AccountID, Subscription: pbconv.Subscription(out),
			LicenseDelta: cur.Delta, ChangedBy: cur.ChangedBy}, now); err != nil {
			return err
		}
		return tx.ResolveIntent(ctx, i.AccountID, i.Generation, domain.IntentApplied, "")
	})
	switch {
	case err != nil:
		return domain.Subscription{}, fmt.Errorf("record license change %d of %s: %w", i.Generation, i.AccountID, err)
	case already.Status == domain.IntentRejected:
		// Someone else heard org refuse this very change.
		return domain.Subscription{}, domain.ErrChangeRefused
	case refusal != nil:
		return domain.Subscription{}, refusal
	}
	return out, nil
}

// RunIntentWorker applies the intents nobody is applying: those whose request gave up (org did
// not answer), died between its two transactions, or never existed (a trial). It runs in every
// replica; the lease in the queue keeps them from applying one intent twice at once. It wakes at
// once when an intent is handed to it, else every PollInterval.
func (s *Service) RunIntentWorker(ctx context.Context) error {
	var wake *store.IntentWakeups
	defer func() {
		if wake != nil {
			wake.Close()
		}
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if _, err := s.ApplyDueIntents(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.Warn("license intent worker pass failed; retrying", "error", err, "retry_in", backoff)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if wake == nil {
			w, err := s.store.ListenForIntents(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("license intent worker cannot listen; polling", "error", err)
					sleep(ctx, s.cfg.PollInterval)
				}
				continue
			}
			wake = w
		}
		if err := wake.Wait(ctx, s.cfg.PollInterval); err != nil {
			wake.Close()
			wake = nil
		}
	}
	return nil
}

// ApplyDueIntents applies every intent that is due now, one claim at a time so that no lease
// runs out while earlier ones are applied, and reports how many it tried.
func (s *Service) ApplyDueIntents(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		claims, err := s.store.ClaimDueIntents(ctx, 1, s.cfg.Lease)
		if err != nil || len(claims) == 0 {
			return n, err
		}
		n++
		c := claims[0]
		var i domain.LicenseIntent
		err = s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
			var err error
			i, err = tx.IntentForUpdate(ctx, c.Generation)
			if errors.Is(err, store.ErrIntentNotFound) || (err == nil && i.Status != domain.IntentPending) {
				i.Status = domain.IntentApplied // nothing left to do but take it off the list
				return tx.DequeueIntent(ctx, c.AccountID, c.Generation)
			}
			return err
		})
		if err != nil {
			return n, fmt.Errorf("read license intent %d of %s: %w", c.Generation, c.AccountID, err)
		}
		if i.Status != domain.IntentPending {
			continue
		}
		_, err = s.apply(ctx, i, c.Attempts)
		switch {
		case err == nil:
			s.log.Info("license change applied", "account_id", i.AccountID, "generation", i.Generation, "kind", i.Kind, "attempt", c.Attempts)
		case errors.Is(err, domain.ErrChangePending):
			// Postponed; logged by apply.
		default:
			// Refused by org (recorded as rejected), or recording failed (due again after the lease).
			level := s.log.Warn
			if i.Kind == domain.IntentTrial {
				level = s.log.Error // the account keeps org's default limit; an operator must act
			}
			level("license change not applied", "account_id", i.AccountID, "generation", i.Generation, "kind", i.Kind, "error", err)
		}
	}
	return n, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
