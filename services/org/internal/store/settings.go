package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

const settingsColumns = `company_name, date_format, time_zone, currency, alignment_report_title,
	require_single_sign_on, require_two_step_verification, assign_ownership_recipient_ids::text[],
	assign_reviews_recipient_ids::text[], EXISTS (SELECT 1 FROM logos l WHERE l.organization_id IS NULL), updated_at`

// Settings reads the account's settings.
func (t *Tx) Settings(ctx context.Context) (domain.Settings, error) {
	var st domain.Settings
	err := t.tx.QueryRow(ctx, `SELECT `+settingsColumns+` FROM account_settings`).Scan(&st.CompanyName, &st.DateFormat,
		&st.TimeZone, &st.Currency, &st.AlignmentReportTitle, &st.RequireSingleSignOn, &st.RequireTwoStepVerification,
		&st.AssignOwnershipRecipientIDs, &st.AssignReviewsRecipientIDs, &st.HasLogo, &st.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Settings{}, domain.ErrAccountNotFound
	}
	return st, err
}

// UpdateSettings writes every writable setting, stamped at.
func (t *Tx) UpdateSettings(ctx context.Context, st domain.Settings, at time.Time) error {
	// The array columns are NOT NULL: an empty list must reach them as '{}', not NULL.
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	_, err := t.tx.Exec(ctx, `UPDATE account_settings SET company_name = $1, date_format = $2, time_zone = $3, currency = $4,
			alignment_report_title = $5, require_single_sign_on = $6, require_two_step_verification = $7,
			assign_ownership_recipient_ids = $8::uuid[], assign_reviews_recipient_ids = $9::uuid[], updated_at = $10`,
		st.CompanyName, int16(st.DateFormat), st.TimeZone, st.Currency, st.AlignmentReportTitle,
		st.RequireSingleSignOn, st.RequireTwoStepVerification, nonNil(st.AssignOwnershipRecipientIDs),
		nonNil(st.AssignReviewsRecipientIDs), at)
	return err
}
