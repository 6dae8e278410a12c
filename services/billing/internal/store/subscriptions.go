package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

const subscriptionColumns = `account_id::text, plan_name, unlimited, organization_limit, state, current_period_start, current_period_end, updated_at`

func scanSubscription(row pgx.Row) (domain.Subscription, error) {
	var s domain.Subscription
	err := row.Scan(&s.AccountID, &s.PlanName, &s.Unlimited, &s.Limit, &s.State, &s.PeriodStart, &s.PeriodEnd, &s.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Subscription{}, domain.ErrNoSubscription
	}
	if err != nil {
		return domain.Subscription{}, fmt.Errorf("read subscription: %w", err)
	}
	return s, nil
}

// Subscription reads the account's subscription.
func (t *Tx) Subscription(ctx context.Context) (domain.Subscription, error) {
	return scanSubscription(t.tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions`))
}

// SubscriptionForUpdate reads the account's subscription and locks it: every change of an
// account's subscription, and every decision to change it, queues on this row.
func (t *Tx) SubscriptionForUpdate(ctx context.Context) (domain.Subscription, error) {
	return scanSubscription(t.tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions FOR UPDATE`))
}

// SaveSubscription writes s as of at, creating it if the account has none yet (a trial), and
// returns it as stored.
func (t *Tx) SaveSubscription(ctx context.Context, s domain.Subscription, at time.Time) (domain.Subscription, error) {
	return scanSubscription(t.tx.QueryRow(ctx, `INSERT INTO subscriptions AS s (account_id, plan_name, unlimited,
			organization_limit, state, current_period_start, current_period_end, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (account_id) DO UPDATE SET plan_name = excluded.plan_name, unlimited = excluded.unlimited,
			organization_limit = excluded.organization_limit, state = excluded.state,
			current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
			updated_at = excluded.updated_at
		RETURNING `+subscriptionColumns,
		s.AccountID, s.PlanName, s.Unlimited, s.Limit, int16(s.State), s.PeriodStart, s.PeriodEnd, at))
}
