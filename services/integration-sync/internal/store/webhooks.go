package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// RecordDelivery records a webhook delivery; false when it was recorded before (a replay).
func (t *Tx) RecordDelivery(ctx context.Context, integrationID, deliveryID, accountID, companyID string, at time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO webhook_deliveries (integration_id, delivery_id, account_id, company_id, received_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, integrationID, deliveryID, accountID, companyID, at)
	if err != nil {
		return false, fmt.Errorf("record webhook delivery: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// MarkDeliveryApplied marks a delivery applied; false when it already was (another replica
// applied it first).
func (t *Tx) MarkDeliveryApplied(ctx context.Context, integrationID, deliveryID string, at time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE webhook_deliveries SET applied_at = $3
		WHERE integration_id = $1 AND delivery_id = $2 AND applied_at IS NULL`, integrationID, deliveryID, at)
	if err != nil {
		return false, fmt.Errorf("mark webhook delivery applied: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PendingDelivery is a recorded delivery not yet applied.
type PendingDelivery struct {
	IntegrationID, DeliveryID, AccountID, CompanyID string
}

// ClaimPendingDeliveries takes up to limit deliveries received before olderThan and not
// applied (system scope), counting the attempt.
func (t *Tx) ClaimPendingDeliveries(ctx context.Context, olderThan time.Time, limit int) ([]PendingDelivery, error) {
	rows, err := t.tx.Query(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, received_at = now()
		WHERE (integration_id, delivery_id) IN (SELECT integration_id, delivery_id FROM webhook_deliveries
			WHERE applied_at IS NULL AND received_at < $1 AND attempts < 20 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING integration_id::text, delivery_id, account_id::text, company_id`, olderThan, limit)
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[PendingDelivery])
}

// PruneDeliveries forgets applied deliveries older than before: a replay older than that is
// no longer recognized (vendors stop retrying within days).
func (t *Tx) PruneDeliveries(ctx context.Context, before time.Time) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE applied_at < $1`, before); err != nil {
		return fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return nil
}

func isUnique(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}
