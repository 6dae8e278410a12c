package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// A logo row with no organization is the account's own logo.

// ReplaceLogo stores l as the logo of organization orgID ("" for the account's logo), updated at
// now, in place of any logo it had.
func (t *Tx) ReplaceLogo(ctx context.Context, accountID, orgID string, l domain.Logo, now time.Time) error {
	// One upsert on the owner's unique index: two uploads at once (the account logo has no row to
	// lock beforehand) end as last-writer-wins, never as a unique violation.
	_, err := t.tx.Exec(ctx, `INSERT INTO logos (account_id, organization_id, content_type, data, sha256, width, height, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (account_id, coalesce(organization_id, '00000000-0000-0000-0000-000000000000'))
			DO UPDATE SET content_type = EXCLUDED.content_type, data = EXCLUDED.data, sha256 = EXCLUDED.sha256,
				width = EXCLUDED.width, height = EXCLUDED.height, updated_at = EXCLUDED.updated_at`,
		accountID, nullable(orgID), l.ContentType, l.Data, l.SHA256, l.Width, l.Height, now)
	return err
}

// Logo reads the logo of organization orgID ("" for the account's logo), without its size;
// domain.ErrLogoNotFound when there is none.
func (t *Tx) Logo(ctx context.Context, orgID string) (domain.Logo, error) {
	var l domain.Logo
	err := t.tx.QueryRow(ctx, `SELECT content_type, data, sha256, updated_at FROM logos WHERE organization_id IS NOT DISTINCT FROM $1::uuid`,
		nullable(orgID)).Scan(&l.ContentType, &l.Data, &l.SHA256, &l.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Logo{}, domain.ErrLogoNotFound
	}
	return l, err
}

// DeleteAccountLogo removes the account's logo, if it has one.
func (t *Tx) DeleteAccountLogo(ctx context.Context) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM logos WHERE organization_id IS NULL`)
	return err
}
