package app

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/render"
	"github.com/orgplane/orgplane/services/notification/internal/store"
	"github.com/orgplane/orgplane/services/notification/internal/unsubscribe"
)

// notice is what one event (or reminder, or digest) tells, and to whom.
type notice struct {
	// EventID makes its deliveries unique: an event delivered twice records nothing more.
	EventID   string
	Audiences []domain.Audience
	// OrgGroups are the groups of the organization it is about (nil: about no organization), for
	// the recipients' group visibility.
	OrgGroups      []string
	ReviewID       string
	OrganizationID string
	// Link is where the in-app entry leads, relative to the web UI.
	Link string
	// Data is what it says; the recipient's name and links are filled in per delivery.
	Data render.Data
}

// reviewLink is a review's page in the web UI.
func reviewLink(id string) string { return "/reviews/" + id }

// userIDs lists every user the audiences name.
func (n notice) userIDs() []string {
	var ids []string
	for _, a := range n.Audiences {
		ids = append(ids, a.UserIDs...)
	}
	return ids
}

// notify records n's deliveries in tx: an in-app entry and a pending email per user (each unless
// turned off), an email per plain address, and a skipped record for everyone left out and why.
// users must hold the users the audiences name (a missing one is skipped as unknown).
func (s *Service) notify(ctx context.Context, tx *store.Tx, accountID string, n notice, users map[string]domain.User) error {
	prefs, err := tx.Preferences(ctx, n.userIDs())
	if err != nil {
		return err
	}
	settings, err := tx.Settings(ctx)
	if err != nil {
		return err
	}
	plan := domain.Plan(n.Audiences, users, prefs, n.OrgGroups)
	now := s.clock()
	emails := 0
	for i := range plan {
		if plan[i].Channel == domain.ChannelEmail && plan[i].Skip == "" {
			if s.cfg.EmailDisabled {
				plan[i].Skip = domain.SkipEmailDisabled
				continue
			}
			emails++
		}
	}
	if emails > 0 {
		sent, err := tx.EmailsSince(ctx, accountID, now.Add(-time.Hour))
		if err != nil {
			return err
		}
		domain.ApplyCap(plan, settings.EmailCap()-sent)
	}
	queued := false
	for _, p := range plan {
		d := n.Data
		d.Kind = p.Kind
		if p.User.ID != "" {
			d.RecipientName = p.User.FirstName
			if d.RecipientName == "" {
				d.RecipientName = p.User.Name()
			}
		}
		d.ReviewURL = s.cfg.WebBaseURL + n.Link
		d.IntegrationsURL = s.cfg.WebBaseURL + "/integrations"
		del := domain.Delivery{ID: uuid.NewString(), EventID: n.EventID, Kind: p.Kind, Channel: p.Channel, UserID: p.UserID,
			Address: p.Address, Created: now, Status: domain.StatusSkipped, Error: p.Skip}
		switch {
		case p.Skip != "":
			entry, err := s.render.Entry(d)
			if err != nil {
				return err
			}
			del.Subject = entry.Title
		case p.Channel == domain.ChannelInApp:
			entry, err := s.render.Entry(d)
			if err != nil {
				return err
			}
			if _, err := tx.AddNotification(ctx, accountID, domain.Notification{ID: uuid.NewString(), UserID: p.UserID, Kind: p.Kind,
				EventID: n.EventID, Title: entry.Title, Body: entry.Body, Link: n.Link, ReviewID: n.ReviewID,
				OrganizationID: n.OrganizationID, Created: now}); err != nil {
				return err
			}
			del.Subject, del.Status, del.Sent = entry.Title, domain.StatusSent, now
		default:
			if p.UserID != "" {
				tok, err := s.tokens.Sign(unsubscribe.Claims{AccountID: accountID, UserID: p.UserID, Kind: p.Kind, Issued: now})
				if err != nil {
					return fmt.Errorf("sign unsubscribe link: %w", err)
				}
				d.UnsubscribeURL = s.cfg.WebBaseURL + "/unsubscribe?token=" + url.QueryEscape(tok)
			}
			mail, err := s.render.Email(d)
			if err != nil {
				return err
			}
			del.Subject, del.TextBody, del.HTMLBody, del.UnsubscribeURL = mail.Subject, mail.Text, mail.HTML, d.UnsubscribeURL
			del.Status = domain.StatusPending
			queued = true
		}
		if _, err := tx.AddDelivery(ctx, accountID, p.Recipient(), del); err != nil {
			return err
		}
	}
	if queued {
		// The emails are there to be seen once the transaction has committed.
		events.AfterCommit(ctx, s.wakeSender)
	}
	return nil
}
