package registry

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// BulkCreateOrganizations creates many organizations in one transaction, all or none: the
// license check covers all of them at once (exact, as for one), the rows go in with one
// statement and their organization.created events with one COPY.
func (s *Service) BulkCreateOrganizations(ctx context.Context, accountID string, in []*orgv1.Organization) ([]*orgv1.Organization, error) {
	if _, err := caller(ctx, accountID, write(AreaOrganizations)); err != nil {
		return nil, err
	}
	n := len(in)
	names := make([]string, n)
	types, statuses, engineers, vcios := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	notes := make([]string, n)
	seen := make(map[string]int, n)
	for i, o := range in {
		field := fmt.Sprintf("organizations[%d]", i)
		switch {
		case o.GetName() == "":
			return nil, apperr.Invalid(field+".name", "is required")
		case o.GetParentId() != "":
			return nil, apperr.Invalid(field+".parent_id", "cannot be set in a bulk create; update the organization afterwards")
		case len(o.GetGroupIds()) > 0:
			return nil, apperr.Invalid(field+".group_ids", "cannot be set in a bulk create; update the organization afterwards")
		}
		if j, dup := seen[o.GetName()]; dup {
			return nil, apperr.Invalidf(field+".name", "repeats organizations[%d].name", j)
		}
		seen[o.GetName()] = i
		names[i], notes[i] = o.GetName(), o.GetNotes()
		types[i], statuses[i] = nullable(o.GetTypeId()), nullable(o.GetStatusId())
		engineers[i], vcios[i] = nullable(o.GetDefaultEngineerId()), nullable(o.GetDefaultVcioId())
	}
	out := make([]*orgv1.Organization, n)
	err := s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		now := s.now()
		rows, err := tx.Query(ctx, `INSERT INTO organizations (account_id, name, type_id, status_id, default_engineer_id,
				default_vcio_id, notes, created_at, updated_at)
			SELECT $1, u.name, u.type_id, u.status_id, u.engineer, u.vcio, u.notes, $8, $8
			FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[])
				AS u(name, type_id, status_id, engineer, vcio, notes)
			RETURNING id::text, name`, accountID, names, types, statuses, engineers, vcios, notes, now)
		if err != nil {
			return orgWriteErr(err, "organizations")
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				return err
			}
			i := seen[name]
			o := in[i]
			out[i] = &orgv1.Organization{Id: id, Name: name, TypeId: o.GetTypeId(), StatusId: o.GetStatusId(),
				DefaultEngineerId: o.GetDefaultEngineerId(), DefaultVcioId: o.GetDefaultVcioId(), Notes: o.GetNotes(),
				GroupIds: []string{}, State: orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE,
				CreateTime: timestamppb.New(now), UpdateTime: timestamppb.New(now)}
		}
		if err := rows.Err(); err != nil {
			return orgWriteErr(err, "organizations")
		}
		msgs := make([]proto.Message, n)
		for i, o := range out {
			msgs[i] = &orgv1.OrganizationCreated{AccountId: accountID, Organization: o}
		}
		if err := events.EnqueueBatch(ctx, tx, msgs, now); err != nil {
			return err
		}
		return takeLicenses(ctx, tx, n, n)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
