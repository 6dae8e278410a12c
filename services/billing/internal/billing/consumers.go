package billing

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Consumers are the durable consumers billing runs on the org service's stream.
func (s *Service) Consumers() []events.ConsumerSpec {
	return []events.ConsumerSpec{
		{
			Stream: "ORGPLANE_ORG", Durable: "billing-subscriptions",
			Subjects: []string{events.SubjectAccountCreated},
			Handler: func(ctx context.Context, tx pgx.Tx, d events.Delivery) error {
				return s.StartTrial(ctx, tx, d.AccountID)
			},
		},
		{
			Stream: "ORGPLANE_ORG", Durable: "billing-usage",
			Subjects: []string{events.SubjectOrganizationCreated, events.SubjectOrganizationReactivated,
				events.SubjectOrganizationDeactivated, events.SubjectOrganizationDeleted},
			Handler: s.handleOrganizationEvent,
		},
	}
}

func (s *Service) handleOrganizationEvent(ctx context.Context, tx pgx.Tx, d events.Delivery) error {
	switch d.Subject {
	case events.SubjectOrganizationCreated:
		var ev orgv1.OrganizationCreated
		if err := d.Decode(&ev); err != nil {
			return err
		}
		return s.RecordUsage(ctx, tx, d.AccountID, 1, ev.GetOccurredAt().AsTime())
	case events.SubjectOrganizationReactivated:
		var ev orgv1.OrganizationReactivated
		if err := d.Decode(&ev); err != nil {
			return err
		}
		return s.RecordUsage(ctx, tx, d.AccountID, 1, ev.GetOccurredAt().AsTime())
	case events.SubjectOrganizationDeactivated:
		var ev orgv1.OrganizationDeactivated
		if err := d.Decode(&ev); err != nil {
			return err
		}
		return s.RecordUsage(ctx, tx, d.AccountID, -1, ev.GetOccurredAt().AsTime())
	case events.SubjectOrganizationDeleted:
		var ev orgv1.OrganizationDeleted
		if err := d.Decode(&ev); err != nil {
			return err
		}
		if !ev.GetWasActive() {
			return nil // it held no license
		}
		return s.RecordUsage(ctx, tx, d.AccountID, -1, ev.GetOccurredAt().AsTime())
	}
	return fmt.Errorf("unexpected subject %s", d.Subject)
}
