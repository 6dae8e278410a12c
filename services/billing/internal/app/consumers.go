package app

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Consumers are billing's durable consumers of the org service's events: subscriptions start
// with accounts, and the usage history follows organizations becoming active or not.
func (s *Service) Consumers() []events.ConsumerSpec {
	return []events.ConsumerSpec{
		{Durable: "billing-subscriptions", Handlers: []events.Handler{events.On(s.StartTrial)}},
		{Durable: "billing-usage", Handlers: []events.Handler{
			events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationCreated) error {
				return s.recordUsage(ctx, tx, ev.GetAccountId(), 1, ev.GetOccurredAt().AsTime())
			}),
			events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationReactivated) error {
				return s.recordUsage(ctx, tx, ev.GetAccountId(), 1, ev.GetOccurredAt().AsTime())
			}),
			events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeactivated) error {
				return s.recordUsage(ctx, tx, ev.GetAccountId(), -1, ev.GetOccurredAt().AsTime())
			}),
			events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeleted) error {
				if !ev.GetWasActive() {
					return nil // it held no license
				}
				return s.recordUsage(ctx, tx, ev.GetAccountId(), -1, ev.GetOccurredAt().AsTime())
			}),
		}},
	}
}

// recordUsage applies one organization event to the running count and the day's record, in the
// consumer's transaction. delta is +1 (created, reactivated) or -1 (deactivated, deleted while
// active).
func (s *Service) recordUsage(ctx context.Context, tx pgx.Tx, accountID string, delta int, at time.Time) error {
	return s.store.Within(tx).RecordUsage(ctx, accountID, delta, at)
}
