package app

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/fieldmask"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// AccountSettings returns the account's settings.
func (s *Service) AccountSettings(ctx context.Context, accountID string) (domain.Settings, error) {
	if _, err := caller(ctx, accountID, domain.Read(domain.AreaAccountSettings)); err != nil {
		return domain.Settings{}, err
	}
	var out domain.Settings
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		st, err := tx.Settings(ctx)
		out = st
		return err
	})
	return out, err
}

// UpdateAccountSettings changes the settings named in mask (as the caller wrote them; "*" is
// all) to their values in in, after checking each, and publishes the settings after the change.
// A sign-in requirement turned on ends, in the same transaction, the sessions it does not admit.
func (s *Service) UpdateAccountSettings(ctx context.Context, accountID string, in domain.Settings, mask []string) (domain.Settings, error) {
	if _, err := s.writer(ctx, accountID, domain.Write(domain.AreaAccountSettings)); err != nil {
		return domain.Settings{}, err
	}
	paths, err := fieldmask.Paths(&fieldmaskpb.FieldMask{Paths: mask}, "update_mask", domain.SettingsFields()...)
	if err != nil {
		return domain.Settings{}, err
	}
	var out domain.Settings
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		// Taken first, as removing the identity provider takes it: see checkSingleSignOnRequirement.
		if _, err := tx.LockSingleSignOnRequirement(ctx); err != nil {
			return err
		}
		cur, err := tx.Settings(ctx)
		if err != nil {
			return err
		}
		next, err := cur.Update(in, paths, func(ids []string) (bool, error) { return tx.UsersExist(ctx, ids) })
		if err != nil {
			return err
		}
		if err := checkSingleSignOnRequirement(ctx, tx, cur, next); err != nil {
			return err
		}
		if err := tx.UpdateSettings(ctx, next, s.now()); err != nil {
			return err
		}
		if err := endRefusedSessions(ctx, tx, cur, next, s.now()); err != nil {
			return err
		}
		saved, err := tx.Settings(ctx)
		if err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, &orgv1.AccountSettingsUpdated{AccountId: accountID, Settings: pbconv.Settings(saved)}, s.now()); err != nil {
			return err
		}
		out = saved
		return nil
	})
	return out, err
}

// endRefusedSessions revokes the account's sessions that the requirements of next do not admit,
// when they are stricter than those of cur. AuthenticateSession would end each at its next
// request anyway; ending them here keeps them off "my sessions" and makes the change take
// effect for every session at once, used or not.
func endRefusedSessions(ctx context.Context, tx *store.Tx, cur, next domain.Settings, now time.Time) error {
	req := next.SignInRequirements()
	if !req.StricterThan(cur.SignInRequirements()) {
		return nil
	}
	sessions, err := tx.UnendedSessions(ctx, now)
	if err != nil {
		return err
	}
	_, err = tx.RevokeSessionsByID(ctx, req.Refused(sessions), now)
	return err
}
