package billing

import (
	"context"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Consumers are the durable consumers billing runs on the org service's stream.
func (s *Service) Consumers() []events.ConsumerSpec {
	usage := func(ctx context.Context, tx pgx.Tx, account string, delta int, ev interface{ GetOccurredAt() *timestamppb.Timestamp }) error {
		return s.RecordUsage(ctx, tx, account, delta, ev.GetOccurredAt().AsTime())
	}
	return []events.ConsumerSpec{
		{
			Durable: "billing-subscriptions",
			Handlers: []events.Handler{events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.AccountCreated) error {
				return s.StartTrial(ctx, tx, ev.GetAccountId())
			})},
		},
		{
			Durable: "billing-usage",
			Handlers: []events.Handler{
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationCreated) error {
					return usage(ctx, tx, ev.GetAccountId(), 1, ev)
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationReactivated) error {
					return usage(ctx, tx, ev.GetAccountId(), 1, ev)
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeactivated) error {
					return usage(ctx, tx, ev.GetAccountId(), -1, ev)
				}),
				events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.OrganizationDeleted) error {
					if !ev.GetWasActive() {
						return nil // it held no license
					}
					return usage(ctx, tx, ev.GetAccountId(), -1, ev)
				}),
			},
		},
	}
}
