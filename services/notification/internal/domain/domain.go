// Package domain is the notification service's vocabulary and rules: what a notification is
// about, who hears of it on which channel and why not, and how an account's dates read. Pure Go.
package domain

import (
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Kind is what a notification is about; the numbers are stored and equal the API's.
type Kind int16

const (
	KindReviewAssigned     Kind = 1
	KindReviewReassigned   Kind = 2
	KindOwnershipChanged   Kind = 3
	KindReviewCreated      Kind = 4
	KindReviewReminder     Kind = 5
	KindIntegrationTrouble Kind = 6
	// The sign-in emails: an invitation to set a first password, a password reset link. They are
	// transactional: a person cannot turn them off, they carry no unsubscribe link, and the
	// account's hourly cap does not hold them back (a person locked out must not wait for the
	// account's other mail).
	KindInvitation    Kind = 7
	KindPasswordReset Kind = 8
)

// Kinds are the kinds a person may turn off per channel (preferences, unsubscribe), in order.
func Kinds() []Kind {
	return []Kind{KindReviewAssigned, KindReviewReassigned, KindOwnershipChanged, KindReviewCreated,
		KindReviewReminder, KindIntegrationTrouble}
}

// AllKinds are Kinds and the transactional kinds.
func AllKinds() []Kind { return append(Kinds(), KindInvitation, KindPasswordReset) }

// Valid reports whether k is a kind a person may turn off.
func (k Kind) Valid() bool { return k >= KindReviewAssigned && k <= KindIntegrationTrouble }

// Transactional reports whether k is a sign-in email: sent whatever the preferences, and rendered
// only when sent, with a link org mints then.
func (k Kind) Transactional() bool { return k == KindInvitation || k == KindPasswordReset }

// Name is the kind's template name.
func (k Kind) Name() string {
	switch k {
	case KindReviewAssigned:
		return "review_assigned"
	case KindReviewReassigned:
		return "review_reassigned"
	case KindOwnershipChanged:
		return "ownership_changed"
	case KindReviewCreated:
		return "review_created"
	case KindReviewReminder:
		return "review_reminder"
	case KindIntegrationTrouble:
		return "integration_trouble"
	case KindInvitation:
		return "invitation"
	case KindPasswordReset:
		return "password_reset"
	}
	return "unknown"
}

// Channel is how a notification reaches its recipient; the numbers are stored and equal the API's.
type Channel int16

const (
	ChannelEmail Channel = 1
	ChannelInApp Channel = 2
)

// Status is where a delivery stands; the numbers are stored and equal the API's.
type Status int16

const (
	StatusPending Status = 1
	StatusSent    Status = 2
	StatusFailed  Status = 3
	StatusSkipped Status = 4
)

// Permissions of the "notifications" area (account settings and the delivery record).
const (
	PermRead  = "notifications:read"
	PermWrite = "notifications:write"
)

// Defaults of an account's settings (0 in the settings means these).
const (
	DefaultQuietDays      = 7
	DefaultHourlyEmailCap = 500
)

// Errors.
var (
	ErrNotificationNotFound = apperr.NotFound("notification not found")
	ErrNoUser               = apperr.FailedPrecondition("an API key that acts as no user has no notifications")
	ErrBadUnsubscribeToken  = apperr.Invalid("token", "is not a valid unsubscribe link")
)

// Skip reasons, as the delivery record shows them.
const (
	SkipTurnedOff     = "turned off by the recipient"
	SkipInactive      = "the recipient is inactive"
	SkipUnknownUser   = "not a user of the account (yet)"
	SkipNoAddress     = "the recipient has no email address"
	SkipNotVisible    = "the recipient cannot see the organization"
	SkipCapReached    = "hourly email cap reached"
	SkipEmailDisabled = "email is disabled on this server"
	SkipSuperseded    = "a newer email for the same link replaced it"
	// SkipLinkRefused prefixes org's reason for not issuing a sign-in link (expired, used, the
	// user gone).
	SkipLinkRefused = "org issued no link: "
)

// Account is what the service knows of an account (from org's events).
type Account struct {
	ID          string
	DisplayName string
	TimeZone    string
	DateFormat  DateFormat
	// OwnershipRecipientIDs and ReviewRecipientIDs are org's "assign ownership" and "assign
	// reviews" users.
	OwnershipRecipientIDs []string
	ReviewRecipientIDs    []string
}

// User is what the service knows of a user (from org's events).
type User struct {
	ID               string
	Email            string
	FirstName        string
	LastName         string
	Active           bool
	Administrator    bool
	AllOrganizations bool
	GroupIDs         []string
}

// Name is how emails address the user.
func (u User) Name() string {
	switch {
	case u.FirstName != "" && u.LastName != "":
		return u.FirstName + " " + u.LastName
	case u.FirstName != "":
		return u.FirstName
	case u.LastName != "":
		return u.LastName
	}
	return u.Email
}

// Sees reports whether the user may hear of an organization in groups (the org service's group
// visibility: a user restricted to groups sees only organizations in one of them).
func (u User) Sees(groups []string) bool {
	if u.AllOrganizations {
		return true
	}
	for _, g := range groups {
		for _, mine := range u.GroupIDs {
			if g == mine {
				return true
			}
		}
	}
	return false
}

// Review is what a reminder needs of a review.
type Review struct {
	ID                   string
	OrganizationID       string
	OrganizationName     string
	OrganizationGroupIDs []string
	Title                string
	EngineerID           string
	VCIOID               string
	EditedAt             time.Time
}

// Recipients are who is alerted for a kind beyond those it always reaches.
type Recipients struct {
	UserIDs   []string `json:"userIds"`
	Addresses []string `json:"addresses"`
}

// Settings are an account's notification settings; zero limits mean the defaults.
type Settings struct {
	OwnershipChanged   Recipients
	ReviewCreated      Recipients
	IntegrationTrouble Recipients
	ReminderQuietDays  int
	HourlyEmailCap     int
	Updated            time.Time
}

// QuietDays is the effective reminder period.
func (s Settings) QuietDays() int {
	if s.ReminderQuietDays > 0 {
		return s.ReminderQuietDays
	}
	return DefaultQuietDays
}

// EmailCap is the effective hourly email cap.
func (s Settings) EmailCap() int {
	if s.HourlyEmailCap > 0 {
		return s.HourlyEmailCap
	}
	return DefaultHourlyEmailCap
}

// SettingsFields are the fields an update may name (proto names).
func SettingsFields() []string {
	return []string{"ownership_changed", "review_created", "integration_trouble", "reminder_quiet_days", "hourly_email_cap"}
}

// Preference is one user's choice for one kind.
type Preference struct {
	Kind  Kind
	Email bool
	InApp bool
}

// DefaultPreference is a kind's preference nobody changed: on everywhere.
func DefaultPreference(k Kind) Preference { return Preference{Kind: k, Email: true, InApp: true} }

// Notification is one entry of a user's feed.
type Notification struct {
	ID             string
	UserID         string
	Kind           Kind
	EventID        string
	Title          string
	Body           string
	Link           string
	ReviewID       string
	OrganizationID string
	Created        time.Time
	Read           time.Time
}

// Delivery is one notification to one recipient on one channel.
type Delivery struct {
	ID             string
	EventID        string
	Kind           Kind
	Channel        Channel
	UserID         string
	Address        string
	Status         Status
	Attempts       int
	Error          string
	Subject        string
	Created        time.Time
	Sent           time.Time
	TextBody       string
	HTMLBody       string
	UnsubscribeURL string
	// LinkID is the invitation or password reset a sign-in email is for; its link is asked of org
	// when the email is sent and never stored.
	LinkID string
}
