package app

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/fieldmask"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
	"github.com/orgplane/orgplane/services/billing/internal/store"
)

// billingActor names the service itself in the records of changes nobody asked for (a trial).
var billingActor = identity.Service("billing").Actor()

// GetSubscription returns the account's subscription.
func (s *Service) GetSubscription(ctx context.Context, accountID string) (domain.Subscription, error) {
	if _, err := identity.ForAccount(ctx, accountID, domain.PermRead); err != nil {
		return domain.Subscription{}, err
	}
	var out domain.Subscription
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		sub, err := tx.Subscription(ctx)
		out = sub
		return err
	})
	return out, err
}

// AddLicenses raises the limit; the new licenses can be used as soon as this returns.
func (s *Service) AddLicenses(ctx context.Context, accountID string, n int32) (domain.Subscription, error) {
	id, err := identity.ForAccount(ctx, accountID, domain.PermWrite)
	if err != nil {
		return domain.Subscription{}, err
	}
	return s.changeLicenses(ctx, accountID, domain.IntentAddLicenses, id.Actor(), func(sub domain.Subscription) (domain.Subscription, int32, error) {
		next, err := sub.AddLicenses(n)
		return next, n, err
	})
}

// RemoveLicenses lowers the limit; the org service refuses a limit below current use.
func (s *Service) RemoveLicenses(ctx context.Context, accountID string, n int32) (domain.Subscription, error) {
	id, err := identity.ForAccount(ctx, accountID, domain.PermWrite)
	if err != nil {
		return domain.Subscription{}, err
	}
	return s.changeLicenses(ctx, accountID, domain.IntentRemoveLicenses, id.Actor(), func(sub domain.Subscription) (domain.Subscription, int32, error) {
		next, err := sub.RemoveLicenses(n)
		return next, -n, err
	})
}

// UpdateSubscription changes plan, state, unlimited or period; platform operators only. paths
// is the request's update mask as the caller wrote it.
func (s *Service) UpdateSubscription(ctx context.Context, accountID string, in domain.Subscription, paths []string) (domain.Subscription, error) {
	id, err := identity.RequireOperator(ctx)
	if err != nil {
		return domain.Subscription{}, err
	}
	fields, err := fieldmask.Paths(&fieldmaskpb.FieldMask{Paths: paths}, "update_mask", domain.UpdatableFields...)
	if err != nil {
		return domain.Subscription{}, err
	}
	return s.changeLicenses(ctx, accountID, domain.IntentUpdate, id.Actor(), func(sub domain.Subscription) (domain.Subscription, int32, error) {
		next, err := sub.Update(in, fields)
		return next, 0, err
	})
}

// StartTrial sets up a new account's subscription when the account is created (account.created),
// in the consumer's transaction tx. It only decides: the trial is an intent like any license
// change, applied to the org service by the intent worker once tx commits, and recorded then. A
// replay finds the intent and does nothing.
func (s *Service) StartTrial(ctx context.Context, tx pgx.Tx, ev *orgv1.AccountCreated) error {
	t := s.store.Within(tx)
	accountID := ev.GetAccountId()
	if _, err := t.Subscription(ctx); !errors.Is(err, domain.ErrNoSubscription) {
		return err // nil: set up already
	}
	pending, last, err := t.IntentState(ctx)
	if err != nil {
		return err
	}
	if pending || last > 0 {
		return nil // decided already
	}
	if err := t.StartUsageCounter(ctx, accountID); err != nil {
		return err
	}
	trial := domain.NewTrial(accountID, s.cfg.Trial, s.now())
	i, err := domain.NextIntent(false, last, domain.IntentTrial, trial, trial.Limit, billingActor)
	if err != nil {
		return err
	}
	return t.InsertIntent(ctx, i, 0)
}
