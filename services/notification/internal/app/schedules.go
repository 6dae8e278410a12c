package app

import (
	"context"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/render"
	"github.com/orgplane/orgplane/services/notification/internal/store"
)

// RunReminders reminds the assignees of reviews that fell quiet until ctx ends. Each due review is
// claimed with FOR UPDATE SKIP LOCKED and its reminder written in the claiming transaction, which
// also records the edit it was for: with any number of replicas, one reminder per quiet period.
func (s *Service) RunReminders(ctx context.Context) error {
	return s.runScheduled(ctx, "reminder", s.remindOne)
}

// RunDigests sends each account's integration trouble digests until ctx ends, one account and
// period at a time, claimed like reminders.
func (s *Service) RunDigests(ctx context.Context) error {
	return s.runScheduled(ctx, "trouble digest", s.digestOne)
}

// runScheduled does due work one item at a time while there is some, then waits a poll interval.
func (s *Service) runScheduled(ctx context.Context, what string, one func(context.Context) (bool, error)) error {
	for ctx.Err() == nil {
		did, err := one(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled "+what, "error", err)
		}
		if did && err == nil {
			s.wakeSender()
			continue
		}
		sleep(ctx, s.cfg.Poll, nil)
	}
	return nil
}

// remindOne writes the reminder of one due review; false when none is due.
func (s *Service) remindOne(ctx context.Context) (bool, error) {
	did := false
	err := s.store.InSystem(ctx, func(tx *store.Tx) error {
		did = false
		c, ok, err := tx.ClaimDueReminder(ctx)
		if err != nil || !ok {
			return err
		}
		did = true
		if err := tx.Scope(ctx, c.AccountID); err != nil {
			return err
		}
		v, ok, err := tx.Review(ctx, c.ReviewID)
		if err != nil {
			return err
		}
		if !ok {
			return tx.DropReminder(ctx, c.ReviewID)
		}
		last, err := tx.RemindedFor(ctx, v.ID)
		if err != nil {
			return err
		}
		if last.Equal(v.EditedAt) {
			return tx.DropReminder(ctx, v.ID)
		}
		acc, err := tx.Account(ctx, c.AccountID)
		if err != nil {
			return err
		}
		settings, err := tx.Settings(ctx)
		if err != nil {
			return err
		}
		audience := domain.Audience{Kind: domain.KindReviewReminder, UserIDs: concat([]string{v.EngineerID, v.VCIOID})}
		users, err := tx.Users(ctx, audience.UserIDs)
		if err != nil {
			return err
		}
		clk := domain.NewClock(acc.TimeZone, acc.DateFormat)
		if err := s.notify(ctx, tx, c.AccountID, notice{
			EventID:   "reminder:" + v.ID + ":" + strconv.FormatInt(v.EditedAt.UnixMicro(), 10),
			Audiences: []domain.Audience{audience}, OrgGroups: orEmpty(v.OrganizationGroupIDs),
			ReviewID: v.ID, OrganizationID: v.OrganizationID, Link: reviewLink(v.ID),
			Data: render.Data{AccountName: acc.DisplayName, ReviewTitle: v.Title, OrganizationName: v.OrganizationName,
				QuietDays: settings.QuietDays(), LastEdited: clk.DateTime(v.EditedAt)},
		}, users); err != nil {
			return err
		}
		return tx.Reminded(ctx, v.ID, v.EditedAt)
	})
	return did, err
}

// troubleKinds are the kinds of integration trouble, in the order a digest lists them.
var troubleKinds = []struct{ what, one, many string }{
	{"credentials_rejected", "integration refused its credentials", "integrations refused their credentials"},
	{"refresh_failed", "refresh failed", "refreshes failed"},
	{"orphaned", "organization is gone from its tool (orphaned)", "organizations are gone from their tool (orphaned)"},
	{"sync_failed", "sync error", "sync errors"},
}

// digestExamples is how many names a digest lists per kind of trouble.
const digestExamples = 5

// digestOne writes the trouble digest of one account whose digest is due; false when none is.
func (s *Service) digestOne(ctx context.Context) (bool, error) {
	did := false
	err := s.store.InSystem(ctx, func(tx *store.Tx) error {
		did = false
		account, ok, err := tx.ClaimDueDigest(ctx)
		if err != nil || !ok {
			return err
		}
		did = true
		if err := tx.Scope(ctx, account); err != nil {
			return err
		}
		list, err := tx.UntoldTrouble(ctx)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return tx.DigestWritten(ctx, account, "", nil, false)
		}
		acc, err := tx.Account(ctx, account)
		if err != nil {
			return err
		}
		settings, err := tx.Settings(ctx)
		if err != nil {
			return err
		}
		admins, err := tx.Administrators(ctx)
		if err != nil {
			return err
		}
		audience := domain.Audience{Kind: domain.KindIntegrationTrouble, UserIDs: concat(admins, settings.IntegrationTrouble.UserIDs),
			Addresses: settings.IntegrationTrouble.Addresses}
		users, err := tx.Users(ctx, audience.UserIDs)
		if err != nil {
			return err
		}
		clk := domain.NewClock(acc.TimeZone, acc.DateFormat)
		digest := uuid.NewString()
		ids := make([]int64, len(list))
		for i, t := range list {
			ids[i] = t.ID
		}
		if err := s.notify(ctx, tx, account, notice{
			EventID: "digest:" + digest, Audiences: []domain.Audience{audience}, Link: "/integrations",
			Data: render.Data{AccountName: acc.DisplayName, Trouble: troubleLines(list), TroubleTotal: len(list),
				Since: clk.DateTime(list[0].At)},
		}, users); err != nil {
			return err
		}
		return tx.DigestWritten(ctx, account, digest, ids, true)
	})
	return did, err
}

// troubleLines counts the problems per kind, with a few distinct names each.
func troubleLines(list []store.Trouble) []render.TroubleLine {
	var out []render.TroubleLine
	for _, k := range troubleKinds {
		var line render.TroubleLine
		for _, t := range list {
			if t.What != k.what {
				continue
			}
			line.Count++
			if t.Detail != "" && !slices.Contains(line.Examples, t.Detail) {
				if len(line.Examples) < digestExamples {
					line.Examples = append(line.Examples, t.Detail)
				} else {
					line.More++
				}
			}
		}
		if line.Count == 0 {
			continue
		}
		line.What = k.many
		if line.Count == 1 {
			line.What = k.one
		}
		out = append(out, line)
	}
	return out
}
