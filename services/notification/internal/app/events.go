package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/render"
	"github.com/orgplane/orgplane/services/notification/internal/store"
)

// The handlers of org's and integration-sync's events. Each runs in its consumer's transaction,
// scoped to the event's account, which also records the event as handled: an event's deliveries
// are written once however often it arrives.

// AccountCreated records a new account.
func (s *Service) AccountCreated(ctx context.Context, tx *store.Tx, accountID, name string, at time.Time) error {
	return tx.AccountCreated(ctx, accountID, name, at)
}

// AccountSettingsChanged records the account's time zone, date format and org's recipient lists.
func (s *Service) AccountSettingsChanged(ctx context.Context, tx *store.Tx, a domain.Account, at time.Time) error {
	return tx.AccountSettingsChanged(ctx, a, at)
}

// UserChanged records a user.
func (s *Service) UserChanged(ctx context.Context, tx *store.Tx, accountID string, u domain.User, at time.Time) error {
	return tx.UserChanged(ctx, accountID, u, at)
}

// OrganizationChanged updates the organization's name and groups on its reviews.
func (s *Service) OrganizationChanged(ctx context.Context, tx *store.Tx, organizationID, name string, groups []string) error {
	return tx.OrganizationChanged(ctx, organizationID, name, groups)
}

// OrganizationDeleted forgets the organization's reviews: nobody is reminded of them.
func (s *Service) OrganizationDeleted(ctx context.Context, tx *store.Tx, organizationID string) error {
	return tx.OrganizationDeleted(ctx, organizationID)
}

// NewReview is a review.created event.
type NewReview struct {
	EventID     string
	Review      domain.Review
	EngineerDue string
	VCIODue     string
}

// ReviewCreated tells the review's engineer and vCIO, the account's "assign reviews" users and
// the notification settings' reviewCreated recipients, and schedules the review's reminder.
func (s *Service) ReviewCreated(ctx context.Context, tx *store.Tx, accountID string, ev NewReview) error {
	v := ev.Review
	latest, err := tx.ReviewChanged(ctx, accountID, v, "")
	if err != nil {
		return err
	}
	acc, err := tx.Account(ctx, accountID)
	if err != nil {
		return err
	}
	settings, err := tx.Settings(ctx)
	if err != nil {
		return err
	}
	if latest {
		if err := tx.ScheduleReminder(ctx, accountID, v.ID, quietEnd(v.EditedAt, settings)); err != nil {
			return err
		}
	}
	audience := domain.Audience{Kind: domain.KindReviewCreated,
		UserIDs:   concat([]string{v.EngineerID, v.VCIOID}, settings.ReviewCreated.UserIDs, acc.ReviewRecipientIDs),
		Addresses: settings.ReviewCreated.Addresses}
	users, err := tx.Users(ctx, audience.UserIDs)
	if err != nil {
		return err
	}
	clk := domain.NewClock(acc.TimeZone, acc.DateFormat)
	return s.notify(ctx, tx, accountID, notice{
		EventID: ev.EventID, Audiences: []domain.Audience{audience}, OrgGroups: orEmpty(v.OrganizationGroupIDs),
		ReviewID: v.ID, OrganizationID: v.OrganizationID, Link: reviewLink(v.ID),
		Data: render.Data{AccountName: acc.DisplayName, ReviewTitle: v.Title, OrganizationName: v.OrganizationName,
			Engineer: nameOf(users, v.EngineerID), EngineerDue: dayOf(clk, ev.EngineerDue),
			VCIO: nameOf(users, v.VCIOID), VCIODue: dayOf(clk, ev.VCIODue), At: clk.DateTime(v.EditedAt)},
	}, users)
}

// OwnerChange is a review.owner_changed event.
type OwnerChange struct {
	EventID string
	// Review carries the review's new state of the changed role only (EngineerID or VCIOID).
	Review      domain.Review
	Role        string // "engineer" or "vcio"
	Previous    string
	New         string
	DueDate     string
	ChangedBy   string
	ChangedAt   time.Time
	OrgGroupIDs []string
}

// ReviewOwnerChanged tells the new assignee of the assignment, the previous one that it went
// elsewhere, and the account's "assign ownership" recipients of the change, each person once.
func (s *Service) ReviewOwnerChanged(ctx context.Context, tx *store.Tx, accountID string, ev OwnerChange) error {
	v := ev.Review
	v.EditedAt = ev.ChangedAt
	v.OrganizationGroupIDs = ev.OrgGroupIDs
	switch ev.Role {
	case "engineer":
		v.EngineerID = ev.New
	case "vcio":
		v.VCIOID = ev.New
	}
	latest, err := tx.ReviewChanged(ctx, accountID, v, ev.Role)
	if err != nil {
		return err
	}
	acc, err := tx.Account(ctx, accountID)
	if err != nil {
		return err
	}
	settings, err := tx.Settings(ctx)
	if err != nil {
		return err
	}
	if latest {
		if err := tx.ScheduleReminder(ctx, accountID, v.ID, quietEnd(v.EditedAt, settings)); err != nil {
			return err
		}
	}
	audiences := []domain.Audience{
		{Kind: domain.KindReviewAssigned, UserIDs: []string{ev.New}},
		{Kind: domain.KindReviewReassigned, UserIDs: []string{ev.Previous}},
		{Kind: domain.KindOwnershipChanged, UserIDs: concat(settings.OwnershipChanged.UserIDs, acc.OwnershipRecipientIDs),
			Addresses: settings.OwnershipChanged.Addresses},
	}
	users, err := tx.Users(ctx, concat([]string{ev.New, ev.Previous, ev.ChangedBy}, audiences[2].UserIDs))
	if err != nil {
		return err
	}
	clk := domain.NewClock(acc.TimeZone, acc.DateFormat)
	role := "engineer"
	if ev.Role == "vcio" {
		role = "vCIO"
	}
	return s.notify(ctx, tx, accountID, notice{
		EventID: ev.EventID, Audiences: audiences, OrgGroups: orEmpty(v.OrganizationGroupIDs),
		ReviewID: v.ID, OrganizationID: v.OrganizationID, Link: reviewLink(v.ID),
		Data: render.Data{AccountName: acc.DisplayName, ReviewTitle: v.Title, OrganizationName: v.OrganizationName, Role: role,
			DueDate: dayOf(clk, ev.DueDate), At: clk.DateTime(ev.ChangedAt), NewAssignee: nameOf(users, ev.New),
			PreviousAssignee: nameOf(users, ev.Previous), ChangedBy: nameOf(users, ev.ChangedBy)},
	}, users)
}

// Trouble records an integration problem for the account's next digest.
func (s *Service) Trouble(ctx context.Context, tx *store.Tx, accountID string, t store.Trouble) error {
	if _, err := tx.AddTrouble(ctx, accountID, t, s.cfg.DigestDelay, s.cfg.DigestInterval); err != nil {
		return err
	}
	return nil
}

// quietEnd is when a review edited at editedAt falls quiet.
func quietEnd(editedAt time.Time, st domain.Settings) time.Time {
	return editedAt.AddDate(0, 0, st.QuietDays())
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, v := range l {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// orEmpty makes "an organization without groups" distinct from "no organization" (nil).
func orEmpty(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

func nameOf(users map[string]domain.User, id string) string {
	if u, ok := users[id]; ok {
		return u.Name()
	}
	return ""
}

func dayOf(clk domain.Clock, iso string) string {
	if iso == "" {
		return ""
	}
	return clk.Day(iso)
}

// SignInLink is a user.invited or user.password_reset_requested event: an email with a sign-in
// link is due.
type SignInLink struct {
	EventID string
	Kind    domain.Kind
	// LinkID is the invitation's or the reset's id.
	LinkID string
	UserID string
}

// SignInLinkRequested queues the email of an invitation or a password reset. The delivery keeps
// which link it is for, never the link: the sender asks org for the token when it sends, so the
// token exists only in org (as a digest) and in the email. The email is transactional: no
// preference, unsubscribe or hourly cap holds it back, and it has no in-app entry. An email still
// waiting for the same link is skipped: org replaces a link's token each time it issues one, so
// only the newest email's link could work.
func (s *Service) SignInLinkRequested(ctx context.Context, tx *store.Tx, accountID string, ev SignInLink) error {
	acc, err := tx.Account(ctx, accountID)
	if err != nil {
		return err
	}
	users, err := tx.Users(ctx, []string{ev.UserID})
	if err != nil {
		return err
	}
	subject, err := s.render.Subject(render.Data{Kind: ev.Kind, AccountName: acc.DisplayName})
	if err != nil {
		return err
	}
	if err := tx.SupersedeLinkEmails(ctx, ev.LinkID); err != nil {
		return err
	}
	// The address is what this service knew when the event came, for the record; the email goes
	// where org says when it issues the link.
	d := domain.Delivery{ID: uuid.NewString(), EventID: ev.EventID, Kind: ev.Kind, Channel: domain.ChannelEmail, UserID: ev.UserID,
		Address: users[ev.UserID].Email, Created: s.clock(), Status: domain.StatusPending, Subject: subject, LinkID: ev.LinkID}
	if s.cfg.EmailDisabled {
		d.Status, d.Error = domain.StatusSkipped, domain.SkipEmailDisabled
	}
	added, err := tx.AddDelivery(ctx, accountID, domain.Planned{UserID: ev.UserID}.Recipient(), d)
	if err != nil {
		return err
	}
	if added && d.Status == domain.StatusPending {
		events.AfterCommit(ctx, s.wakeSender)
	}
	return nil
}
