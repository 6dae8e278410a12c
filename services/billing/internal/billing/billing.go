// Package billing is the billing service's domain: subscriptions, self-service licenses, the
// exact usage an account's "Total Organizations" box shows, and the daily usage history that
// invoices are based on.
package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/events"
	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// Permission areas (see the org service's role model).
const (
	permRead  = "subscription:read"
	permWrite = "subscription:write"
)

// ErrNoSubscription is returned for an account billing has not set up (yet).
var ErrNoSubscription = apperr.NotFound("subscription not found")

// Enforcer is the org service as billing needs it: it applies a limit where organizations are
// created, refusing one below the active organizations, and counts them exactly.
type Enforcer interface {
	SetLicenseLimit(ctx context.Context, req *orgv1.SetLicenseLimitRequest) (*orgv1.LicenseUsage, error)
	GetLicenseUsage(ctx context.Context, accountID string) (*orgv1.LicenseUsage, error)
}

// Config tunes new subscriptions.
type Config struct {
	// TrialLimit is how many organizations a new account's trial allows.
	TrialLimit int32
	// TrialDays is how long a trial period lasts.
	TrialDays int
}

// Service implements billing.
type Service struct {
	pool *pgxpool.Pool
	org  Enforcer
	now  func() time.Time
	cfg  Config
}

// New returns a Service. A nil clock means time.Now.
func New(pool *pgxpool.Pool, org Enforcer, now func() time.Time, cfg Config) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{pool: pool, org: org, now: now, cfg: cfg}
}

const subColumns = `account_id::text, plan_name, unlimited, organization_limit, state, current_period_start, current_period_end, updated_at`

func scanSub(row pgx.Row) (*billingv1.Subscription, error) {
	s := &billingv1.Subscription{}
	var state int16
	var start, end, updated time.Time
	err := row.Scan(&s.AccountId, &s.PlanName, &s.Unlimited, &s.OrganizationLimit, &state, &start, &end, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSubscription
	}
	s.State = billingv1.SubscriptionState(state)
	s.CurrentPeriodStart, s.CurrentPeriodEnd, s.UpdateTime = timestamppb.New(start), timestamppb.New(end), timestamppb.New(updated)
	return s, err
}

// writable says whether a subscription in this state may add organizations.
func writable(s billingv1.SubscriptionState) bool {
	return s == billingv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING || s == billingv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE
}

func (s *Service) inTenant(ctx context.Context, accountID string, fn func(pgx.Tx) error) error {
	return postgres.InTenantTx(ctx, s.pool, accountID, fn)
}

func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, msg proto.Message) error {
	_, err := events.EnqueueAt(ctx, tx, msg, s.now())
	return err
}

// apply pushes a subscription's limit and state to the org service. It runs while the
// subscription row is locked, so changes to one account reach org in the order they commit here.
func (s *Service) apply(ctx context.Context, sub *billingv1.Subscription) error {
	_, err := s.org.SetLicenseLimit(ctx, &orgv1.SetLicenseLimitRequest{AccountId: sub.GetAccountId(),
		Unlimited: sub.GetUnlimited(), OrganizationLimit: sub.GetOrganizationLimit(), Writable: writable(sub.GetState())})
	return err
}

// StartTrial creates an account's subscription when the account is created (account.created).
// Replays find the subscription and only make sure org enforces it.
func (s *Service) StartTrial(ctx context.Context, tx pgx.Tx, accountID string) error {
	now := s.now()
	tag, err := tx.Exec(ctx, `INSERT INTO subscriptions (account_id, plan_name, organization_limit, state,
			current_period_start, current_period_end, updated_at)
		VALUES ($1, 'Trial', $2, $3, $4, $5, $4) ON CONFLICT (account_id) DO NOTHING`,
		accountID, s.cfg.TrialLimit, int16(billingv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING), now, now.AddDate(0, 0, s.cfg.TrialDays))
	if err != nil {
		return err
	}
	sub, err := scanSub(tx.QueryRow(ctx, `SELECT `+subColumns+` FROM subscriptions FOR UPDATE`))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		if _, err := tx.Exec(ctx, `INSERT INTO usage_counters (account_id) VALUES ($1) ON CONFLICT DO NOTHING`, accountID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO license_changes (account_id, delta, organization_limit, changed_by, created_at)
			VALUES ($1, $2, $2, 'service:billing', $3)`, accountID, s.cfg.TrialLimit, now); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, &billingv1.SubscriptionChanged{AccountId: accountID, Subscription: sub,
			LicenseDelta: s.cfg.TrialLimit, ChangedBy: "service:billing"}); err != nil {
			return err
		}
	}
	return s.apply(identity.With(ctx, identity.Service("billing")), sub)
}

// GetSubscription returns the account's subscription.
func (s *Service) GetSubscription(ctx context.Context, accountID string) (*billingv1.Subscription, error) {
	if _, err := identity.ForAccount(ctx, accountID, permRead); err != nil {
		return nil, err
	}
	var out *billingv1.Subscription
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		var err error
		out, err = scanSub(tx.QueryRow(ctx, `SELECT `+subColumns+` FROM subscriptions`))
		return err
	})
	return out, err
}

// change runs fn on the locked subscription, has org enforce the result, records it and
// publishes subscription.changed, all or nothing: if org refuses, nothing changes anywhere.
func (s *Service) change(ctx context.Context, accountID string, delta int32, fn func(*billingv1.Subscription) error) (*billingv1.Subscription, error) {
	id, _ := identity.From(ctx)
	var out *billingv1.Subscription
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		sub, err := scanSub(tx.QueryRow(ctx, `SELECT `+subColumns+` FROM subscriptions FOR UPDATE`))
		if err != nil {
			return err
		}
		if err := fn(sub); err != nil {
			return err
		}
		now := s.now()
		if err := s.apply(identity.With(ctx, identity.Service("billing")), sub); err != nil {
			return err
		}
		out, err = scanSub(tx.QueryRow(ctx, `UPDATE subscriptions SET plan_name = $1, unlimited = $2, organization_limit = $3,
				state = $4, current_period_start = $5, current_period_end = $6, updated_at = $7 RETURNING `+subColumns,
			sub.GetPlanName(), sub.GetUnlimited(), sub.GetOrganizationLimit(), int16(sub.GetState()),
			sub.GetCurrentPeriodStart().AsTime(), sub.GetCurrentPeriodEnd().AsTime(), now))
		if err != nil {
			return err
		}
		if delta != 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO license_changes (account_id, delta, organization_limit, changed_by, created_at)
				VALUES ($1, $2, $3, $4, $5)`, accountID, delta, out.GetOrganizationLimit(), id.Actor(), now); err != nil {
				return err
			}
		}
		return s.enqueue(ctx, tx, &billingv1.SubscriptionChanged{AccountId: accountID, Subscription: out,
			LicenseDelta: delta, ChangedBy: id.Actor()})
	})
	return out, err
}

// AddLicenses raises the limit; the new licenses can be used as soon as this returns.
func (s *Service) AddLicenses(ctx context.Context, accountID string, n int32) (*billingv1.Subscription, error) {
	if _, err := identity.ForAccount(ctx, accountID, permWrite); err != nil {
		return nil, err
	}
	return s.change(ctx, accountID, n, func(sub *billingv1.Subscription) error {
		if sub.GetUnlimited() {
			return apperr.FailedPrecondition("the plan is unlimited; there are no licenses to add")
		}
		sub.OrganizationLimit += n
		return nil
	})
}

// RemoveLicenses lowers the limit; the org service refuses a limit below current use.
func (s *Service) RemoveLicenses(ctx context.Context, accountID string, n int32) (*billingv1.Subscription, error) {
	if _, err := identity.ForAccount(ctx, accountID, permWrite); err != nil {
		return nil, err
	}
	return s.change(ctx, accountID, -n, func(sub *billingv1.Subscription) error {
		if sub.GetUnlimited() {
			return apperr.FailedPrecondition("the plan is unlimited; there are no licenses to remove")
		}
		if n > sub.GetOrganizationLimit() {
			return apperr.Invalidf("count", "there are only %d licenses", sub.GetOrganizationLimit())
		}
		sub.OrganizationLimit -= n
		return nil
	})
}

// UpdateSubscription changes plan, state, unlimited or period; platform operators only.
func (s *Service) UpdateSubscription(ctx context.Context, req *billingv1.UpdateSubscriptionRequest) (*billingv1.Subscription, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, apperr.Invalid("update_mask", "names no field to change")
	}
	in := req.GetSubscription()
	return s.change(ctx, req.GetAccountId(), 0, func(sub *billingv1.Subscription) error {
		for _, p := range paths {
			switch p {
			case "plan_name", "planName":
				sub.PlanName = in.GetPlanName()
			case "unlimited":
				sub.Unlimited = in.GetUnlimited()
			case "state":
				if in.GetState() == billingv1.SubscriptionState_SUBSCRIPTION_STATE_UNSPECIFIED {
					return apperr.Invalid("subscription.state", "is required")
				}
				sub.State = in.GetState()
			case "current_period_start", "currentPeriodStart":
				sub.CurrentPeriodStart = in.GetCurrentPeriodStart()
			case "current_period_end", "currentPeriodEnd":
				sub.CurrentPeriodEnd = in.GetCurrentPeriodEnd()
			default:
				return apperr.Invalidf("update_mask", "%q cannot be changed", p)
			}
		}
		return nil
	})
}

// GetLicenseUsage answers limit, used and remaining, exactly: the count comes from where the
// limit is enforced.
func (s *Service) GetLicenseUsage(ctx context.Context, accountID string) (*billingv1.LicenseUsage, error) {
	if _, err := identity.ForAccount(ctx, accountID, permRead); err != nil {
		return nil, err
	}
	u, err := s.org.GetLicenseUsage(identity.With(ctx, identity.Service("billing")), accountID)
	if err != nil {
		return nil, fmt.Errorf("license usage: %w", err)
	}
	out := &billingv1.LicenseUsage{Unlimited: u.GetUnlimited(), OrganizationLimit: u.GetOrganizationLimit(), Used: u.GetUsed()}
	if !u.GetUnlimited() {
		out.Remaining = max(u.GetOrganizationLimit()-u.GetUsed(), 0)
	}
	out.CanAddOrganizations = u.GetWritable() && (u.GetUnlimited() || out.GetRemaining() > 0)
	return out, nil
}

// ListLicenseChanges lists the recorded license changes, newest first.
func (s *Service) ListLicenseChanges(ctx context.Context, accountID string) ([]*billingv1.LicenseChange, error) {
	if _, err := identity.ForAccount(ctx, accountID, permRead); err != nil {
		return nil, err
	}
	var out []*billingv1.LicenseChange
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, delta, organization_limit, changed_by, created_at FROM license_changes
			ORDER BY created_at DESC, seq DESC`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*billingv1.LicenseChange, error) {
			c := &billingv1.LicenseChange{}
			var at time.Time
			err := r.Scan(&c.Id, &c.Delta, &c.OrganizationLimit, &c.ChangedBy, &at)
			c.ChangeTime = timestamppb.New(at)
			return c, err
		})
		return err
	})
	return out, err
}

// RecordUsage applies one organization event to the running count and the day's record.
// delta is +1 (created, reactivated) or -1 (deactivated, deleted while active).
func (s *Service) RecordUsage(ctx context.Context, tx pgx.Tx, accountID string, delta int, at time.Time) error {
	var active int
	err := tx.QueryRow(ctx, `INSERT INTO usage_counters (account_id, active) VALUES ($1, greatest($2::int, 0))
		ON CONFLICT (account_id) DO UPDATE SET active = greatest(usage_counters.active + $2::int, 0) RETURNING active`,
		accountID, delta).Scan(&active)
	if err != nil {
		return err
	}
	before := active - delta
	_, err = tx.Exec(ctx, `INSERT INTO daily_usage (account_id, day, active, peak) VALUES ($1, $2::date, $3::int, greatest($3::int, $4::int))
		ON CONFLICT (account_id, day) DO UPDATE SET active = $3::int, peak = greatest(daily_usage.peak, $3::int)`,
		accountID, at.UTC().Format("2006-01-02"), active, max(before, 0))
	return err
}

// ListUsageHistory returns one record per day of [start, end]; a day without changes carries the
// previous day's count.
func (s *Service) ListUsageHistory(ctx context.Context, accountID, start, end string) ([]*billingv1.DailyUsage, error) {
	if _, err := identity.ForAccount(ctx, accountID, permRead); err != nil {
		return nil, err
	}
	from, err1 := time.Parse("2006-01-02", start)
	to, err2 := time.Parse("2006-01-02", end)
	switch {
	case err1 != nil:
		return nil, apperr.Invalid("start_date", "is not a calendar date")
	case err2 != nil:
		return nil, apperr.Invalid("end_date", "is not a calendar date")
	case to.Before(from):
		return nil, apperr.Invalid("end_date", "is before start_date")
	case to.Sub(from) > 366*24*time.Hour:
		return nil, apperr.Invalid("end_date", "is more than 366 days after start_date")
	}
	var out []*billingv1.DailyUsage
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT to_char(d, 'YYYY-MM-DD'),
				coalesce(u.active, prev.active, 0), coalesce(u.peak, prev.active, 0)
			FROM generate_series($1::date, $2::date, interval '1 day') d
			LEFT JOIN daily_usage u ON u.day = d::date
			LEFT JOIN LATERAL (SELECT p.active FROM daily_usage p WHERE p.day < d::date ORDER BY p.day DESC LIMIT 1) prev ON true
			ORDER BY d`, from, to)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*billingv1.DailyUsage, error) {
			d := &billingv1.DailyUsage{}
			return d, r.Scan(&d.Date, &d.ActiveOrganizations, &d.PeakActiveOrganizations)
		})
		return err
	})
	return out, err
}
