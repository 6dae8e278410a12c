package app

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/fieldmask"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/notification/internal/domain"
	"github.com/orgplane/orgplane/services/notification/internal/store"
)

// Preferences returns the caller's preferences, one per kind in kind order.
func (s *Service) Preferences(ctx context.Context, accountID string) ([]domain.Preference, error) {
	user, err := feedOwner(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var out []domain.Preference
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = preferencesOf(ctx, tx, user)
		return err
	})
	return out, err
}

func preferencesOf(ctx context.Context, tx *store.Tx, user string) ([]domain.Preference, error) {
	stored, err := tx.Preferences(ctx, []string{user})
	if err != nil {
		return nil, err
	}
	out := make([]domain.Preference, 0, len(domain.Kinds()))
	for _, k := range domain.Kinds() {
		p, ok := stored[user][k]
		if !ok {
			p = domain.DefaultPreference(k)
		}
		out = append(out, p)
	}
	return out, nil
}

// UpdatePreferences changes the caller's preferences for the kinds given and returns them all.
func (s *Service) UpdatePreferences(ctx context.Context, accountID string, prefs []domain.Preference) ([]domain.Preference, error) {
	user, err := feedOwner(ctx, accountID)
	if err != nil {
		return nil, err
	}
	seen := map[domain.Kind]bool{}
	for i, p := range prefs {
		field := fmt.Sprintf("preferences.preferences[%d].kind", i)
		if !p.Kind.Valid() {
			return nil, apperr.Invalid(field, "is not a notification kind")
		}
		if seen[p.Kind] {
			return nil, apperr.Invalid(field, "names a kind given earlier in the list")
		}
		seen[p.Kind] = true
	}
	var out []domain.Preference
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if err := tx.SavePreferences(ctx, accountID, user, prefs); err != nil {
			return err
		}
		var err error
		out, err = preferencesOf(ctx, tx, user)
		return err
	})
	return out, err
}

// Settings returns the account's notification settings.
func (s *Service) Settings(ctx context.Context, accountID string) (domain.Settings, error) {
	if _, err := member(ctx, accountID, domain.PermRead); err != nil {
		return domain.Settings{}, err
	}
	var out domain.Settings
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var err error
		out, err = tx.Settings(ctx)
		return err
	})
	return out, err
}

// UpdateSettings changes the fields of the account's settings that mask names (proto or JSON
// names; none: all). Recipient users must be users of the account.
func (s *Service) UpdateSettings(ctx context.Context, accountID string, in domain.Settings, mask []string) (domain.Settings, error) {
	if _, err := s.writer(ctx, accountID, domain.PermWrite); err != nil {
		return domain.Settings{}, err
	}
	paths := domain.SettingsFields()
	// A mask may name part of a recipients field ("reviewCreated.addresses": the gateway builds
	// such paths from a PATCH body without a mask): that part changes, the rest stays.
	parts := map[string][]string{}
	if len(mask) > 0 {
		var top []string
		for _, p := range mask {
			field, part, nested := strings.Cut(p, ".")
			if nested {
				canon, err := fieldmask.Paths(&fieldmaskpb.FieldMask{Paths: []string{field}}, "update_mask", domain.SettingsFields()...)
				if err != nil {
					return domain.Settings{}, err
				}
				switch part {
				case "user_ids", "userIds":
					part = "user_ids"
				case "addresses":
				default:
					return domain.Settings{}, apperr.Invalid("update_mask", fmt.Sprintf("%q names no part of %s (userIds, addresses)", p, field))
				}
				parts[canon[0]] = append(parts[canon[0]], part)
				field = canon[0]
			}
			top = append(top, field)
		}
		var err error
		if paths, err = fieldmask.Paths(&fieldmaskpb.FieldMask{Paths: top}, "update_mask", domain.SettingsFields()...); err != nil {
			return domain.Settings{}, err
		}
		paths = slices.Compact(paths)
	}
	in.OwnershipChanged, in.ReviewCreated, in.IntegrationTrouble = tidy(in.OwnershipChanged), tidy(in.ReviewCreated), tidy(in.IntegrationTrouble)
	var out domain.Settings
	err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		if err := tx.LockSettings(ctx, accountID); err != nil {
			return err
		}
		cur, err := tx.Settings(ctx)
		if err != nil {
			return err
		}
		next := cur
		for _, p := range paths {
			var r *domain.Recipients
			switch p {
			case "ownership_changed":
				next.OwnershipChanged = mergeRecipients(cur.OwnershipChanged, in.OwnershipChanged, parts[p])
				r = &next.OwnershipChanged
			case "review_created":
				next.ReviewCreated = mergeRecipients(cur.ReviewCreated, in.ReviewCreated, parts[p])
				r = &next.ReviewCreated
			case "integration_trouble":
				next.IntegrationTrouble = mergeRecipients(cur.IntegrationTrouble, in.IntegrationTrouble, parts[p])
				r = &next.IntegrationTrouble
			case "reminder_quiet_days":
				next.ReminderQuietDays = in.ReminderQuietDays
			case "hourly_email_cap":
				next.HourlyEmailCap = in.HourlyEmailCap
			}
			if r == nil {
				continue
			}
			unknown, err := tx.UnknownUsers(ctx, r.UserIDs)
			if err != nil {
				return err
			}
			if len(unknown) > 0 {
				i := slices.Index(r.UserIDs, unknown[0])
				return apperr.Invalid("settings."+p+".user_ids["+strconv.Itoa(i)+"]", "is not a user of this account")
			}
		}
		next.Updated = s.clock()
		if err := tx.SaveSettings(ctx, accountID, next); err != nil {
			return err
		}
		if next.QuietDays() != cur.QuietDays() {
			if err := tx.RescheduleReminders(ctx, next.QuietDays()); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	return out, err
}

// tidy drops repeated users and addresses (addresses compare without case).
func tidy(r domain.Recipients) domain.Recipients {
	out := domain.Recipients{UserIDs: []string{}, Addresses: []string{}}
	for _, id := range r.UserIDs {
		if !slices.Contains(out.UserIDs, id) {
			out.UserIDs = append(out.UserIDs, id)
		}
	}
	seen := map[string]bool{}
	for _, a := range r.Addresses {
		a = strings.TrimSpace(a)
		if k := strings.ToLower(a); a != "" && !seen[k] {
			seen[k] = true
			out.Addresses = append(out.Addresses, a)
		}
	}
	return out
}

// DeliveryPage is one page of the delivery record.
type DeliveryPage struct {
	Deliveries []domain.Delivery
	Next       string
}

// ListDeliveries lists the account's deliveries, newest first, of one status when status is set.
func (s *Service) ListDeliveries(ctx context.Context, accountID string, size int32, token string, status domain.Status) (DeliveryPage, error) {
	if _, err := member(ctx, accountID, domain.PermRead); err != nil {
		return DeliveryPage{}, err
	}
	page, err := pagetoken.Open[store.DeliveryPosition](ctx, s.pages, "notification deliveries", size, token,
		accountID, strconv.Itoa(int(status)))
	if err != nil {
		return DeliveryPage{}, err
	}
	var out DeliveryPage
	err = s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
		var after *store.DeliveryPosition
		if page.Continues {
			after = &page.After
		}
		list, err := tx.Deliveries(ctx, status, after, page.Size+1)
		if err != nil {
			return err
		}
		out.Deliveries, out.Next, err = pagetoken.Next(page, list, func(d domain.Delivery) store.DeliveryPosition {
			return store.DeliveryPosition{At: d.Created, ID: d.ID}
		})
		return err
	})
	return out, err
}

// Unsubscribe turns off the token's kind of email for the token's user and returns the kind. The
// token is the credential; the caller is the gateway's public page.
func (s *Service) Unsubscribe(ctx context.Context, token string) (domain.Kind, error) {
	if id, ok := identity.From(ctx); !ok || id.Kind != identity.KindService {
		return 0, apperr.PermissionDenied("only services may do this")
	}
	c, err := s.tokens.Open(token)
	if err != nil {
		return 0, domain.ErrBadUnsubscribeToken
	}
	err = s.store.InTenant(ctx, c.AccountID, func(tx *store.Tx) error {
		return tx.TurnEmailOff(ctx, c.AccountID, c.UserID, c.Kind)
	})
	if err != nil {
		return 0, err
	}
	return c.Kind, nil
}

// mergeRecipients is cur with the parts of in that a mask names (none: all of in).
func mergeRecipients(cur, in domain.Recipients, parts []string) domain.Recipients {
	if len(parts) == 0 {
		return in
	}
	out := cur
	for _, p := range parts {
		switch p {
		case "user_ids":
			out.UserIDs = in.UserIDs
		case "addresses":
			out.Addresses = in.Addresses
		}
	}
	return out
}
