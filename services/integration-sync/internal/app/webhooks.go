package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
	"google.golang.org/protobuf/proto"
)

const webhookActor = "webhook"

// DeliverWebhook verifies a tool's webhook delivery and applies it once: the delivery is
// recorded (a replay is recognized here), then the company it names is fetched from the tool,
// outside any transaction, and reconciled with the cache. A delivery whose fetch fails stays
// recorded and unapplied for the retry pass (RunDeliveryRetries).
func (s *Service) DeliverWebhook(ctx context.Context, integrationID string, header http.Header, body []byte) (bool, error) {
	var accountID string
	err := s.store.InSystem(ctx, func(tx *store.Tx) error {
		var err error
		accountID, err = tx.AccountOf(ctx, integrationID)
		return err
	})
	if errors.Is(err, domain.ErrIntegrationNotFound) {
		// No integration: answer as to a bad signature, so a prober learns nothing about ids.
		return false, domain.ErrBadSignature
	}
	if err != nil {
		return false, err
	}
	t, err := s.readTarget(ctx, accountID, integrationID)
	if errors.Is(err, domain.ErrIntegrationNotFound) {
		return false, domain.ErrBadSignature
	}
	if err != nil {
		return false, err
	}
	conn, kind, err := s.connect(ctx, t)
	if err != nil {
		return false, domain.ErrBadSignature
	}
	ev, err := conn.VerifyWebhook(header, body)
	if err != nil {
		return false, domain.ErrBadSignature
	}
	var fresh bool
	err = s.store.InSystem(ctx, func(tx *store.Tx) error {
		var err error
		fresh, err = tx.RecordDelivery(ctx, integrationID, ev.DeliveryID, accountID, ev.CompanyID, s.clock())
		return err
	})
	if err != nil || !fresh {
		return false, err
	}
	if err := s.applyDelivery(ctx, conn, kind, t.integration.Sync.Scope, accountID, integrationID, ev.DeliveryID, ev.CompanyID); err != nil {
		s.log.Warn("webhook delivery recorded, not yet applied; it will be retried", "integration", integrationID, "error", err)
	}
	return true, nil
}

// applyDelivery fetches the company a delivery names and reconciles it, marking the delivery
// applied in the same transaction. A company the tool no longer has is orphaned.
func (s *Service) applyDelivery(ctx context.Context, conn connector.Connector, kind connector.Kind, scope domain.SyncScope, accountID, integrationID, deliveryID, companyID string) error {
	co, err := conn.GetOrganization(ctx, companyID)
	gone := errors.Is(err, connector.ErrNotFound)
	if err != nil && !gone {
		return err
	}
	now := s.clock()
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		applied, err := tx.MarkDeliveryApplied(ctx, integrationID, deliveryID, now)
		if err != nil || !applied {
			return err
		}
		cached, err := tx.ExternalsForUpdate(ctx, integrationID, []string{companyID})
		if err != nil {
			return err
		}
		var next domain.ExternalOrganization
		var change domain.Change
		prev, had := cached[companyID]
		switch {
		case gone && !had:
			return nil
		case gone:
			var orphaned bool
			next, orphaned = domain.Orphan(prev, domain.ReasonNotFound, now, webhookActor)
			if !orphaned {
				return nil
			}
			change = domain.Orphaned
		default:
			var p *domain.ExternalOrganization
			if had {
				p = &prev
			}
			next, change = domain.Reconcile(p, co, scope.InScope(co), now, webhookActor)
		}
		next.AccountID, next.IntegrationID, next.IntegrationKind = accountID, integrationID, kind.Name
		if err := tx.UpsertExternals(ctx, accountID, integrationID, []domain.ExternalOrganization{next}); err != nil {
			return err
		}
		if err := s.externalsChanged(ctx, tx, accountID, integrationID,
			changedOnly([]domain.ExternalOrganization{next}, []domain.Change{change}), []string{companyID}); err != nil {
			return err
		}
		if ev := externalEvent(accountID, next, change); ev != nil {
			return tx.EnqueueBatch(ctx, []proto.Message{ev}, now)
		}
		return nil
	})
	if err == nil {
		s.wakeSync() // for a sync task the delivery gave, now committed
	}
	return err
}

// RunDeliveryRetries applies recorded deliveries whose first application failed (the tool was
// down, the process stopped), and forgets applied ones after a week.
func (s *Service) RunDeliveryRetries(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(15 * time.Second):
		}
		var pending []store.PendingDelivery
		err := s.store.InSystem(ctx, func(tx *store.Tx) error {
			if err := tx.PruneDeliveries(ctx, s.clock().Add(-7*24*time.Hour)); err != nil {
				return err
			}
			var err error
			pending, err = tx.ClaimPendingDeliveries(ctx, s.clock().Add(-15*time.Second), 50)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("webhook retries", "error", err)
			}
			continue
		}
		for _, d := range pending {
			t, err := s.readTarget(ctx, d.AccountID, d.IntegrationID)
			if err != nil {
				continue
			}
			conn, kind, err := s.connect(ctx, t)
			if err != nil {
				continue
			}
			if err := s.applyDelivery(ctx, conn, kind, t.integration.Sync.Scope, d.AccountID, d.IntegrationID, d.DeliveryID, d.CompanyID); err != nil {
				s.log.Warn("webhook delivery retry failed", "integration", d.IntegrationID, "error", err)
			}
		}
	}
}
