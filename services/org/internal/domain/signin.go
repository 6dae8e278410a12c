package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
)

// Defaults of the sign-in settings (ORGPLANE_SESSION_IDLE_TIMEOUT and the rest).
const (
	DefaultSessionIdleTimeout = 2 * time.Hour
	DefaultSessionMaxAge      = 12 * time.Hour
	DefaultInvitationTTL      = 72 * time.Hour
	DefaultPasswordResetTTL   = time.Hour
)

// SignInTimeouts are how long sessions and links last.
type SignInTimeouts struct {
	SessionIdle   time.Duration
	SessionMaxAge time.Duration
	Invitation    time.Duration
	PasswordReset time.Duration
}

// WithDefaults fills the unset timeouts with the defaults.
func (t SignInTimeouts) WithDefaults() SignInTimeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.SessionIdle, DefaultSessionIdleTimeout)
	def(&t.SessionMaxAge, DefaultSessionMaxAge)
	def(&t.Invitation, DefaultInvitationTTL)
	def(&t.PasswordReset, DefaultPasswordResetTTL)
	return t
}

// Token prefixes make a leaked token recognisable (secret scanners), like API keys' "opk_".
const (
	SessionTokenPrefix = "ops_"
	LinkTokenPrefix    = "opl_"
)

func newToken(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// NewSessionToken returns a new session's secret, 256 random bits.
func NewSessionToken() string { return newToken(SessionTokenPrefix) }

// NewLinkToken returns a new invitation or reset link's secret, 256 random bits.
func NewLinkToken() string { return newToken(LinkTokenPrefix) }

// TokenDigest is what a session or link token is stored and looked up by: the gateway's
// identity.APIKeyDigest, which it computes from the cookie too.
func TokenDigest(token string) []byte { return identity.APIKeyDigest(token) }

// ErrWrongPassword is the one answer to every failed sign-in: wrong password, unknown email,
// inactive user, no password yet. A guesser learns nothing about which.
var ErrWrongPassword = apperr.Unauthenticated("email or password is wrong")

// ErrSessionEnded is what a closed, idle, expired session, or one whose user was deactivated,
// gets: the same as no session at all.
var ErrSessionEnded = ErrBadCredential

// ErrSessionNotFound is RevokeMySession's answer for a session that is not the caller's.
var ErrSessionNotFound = apperr.NotFound("session not found")

// ErrOnlyGateway and ErrOnlyNotification refuse the other services the sign-in calls meant for
// one of them: only the gateway resolves cookies, only the notification service mints the
// links it emails.
var (
	ErrOnlyGateway      = apperr.PermissionDenied("only the gateway may authenticate sessions")
	ErrOnlyNotification = apperr.PermissionDenied("only the notification service may issue sign-in links")
)

// Gateway and Notification are the service names those calls admit (identity.Service).
const (
	GatewayService      = "gateway"
	NotificationService = "notification"
)

// SignInRequirements are the account's settings that sign-in enforces (DecideSignIn when a
// password is right, Admits on every use of a session).
type SignInRequirements struct {
	TwoStepVerification bool
	SingleSignOn        bool
}

// Client is who is on the other end, as the gateway attests it: the client's address and the
// browser's User-Agent, trimmed to what is worth keeping.
type Client struct {
	Address   string
	UserAgent string
}

const (
	maxUserAgent = 512
	maxAddress   = 64
)

// Trimmed returns c with each field cut to its stored length.
func (c Client) Trimmed() Client {
	cut := func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		// Cut on a rune boundary so the stored text stays valid UTF-8.
		for n > 0 && (s[n]&0xC0) == 0x80 {
			n--
		}
		return s[:n]
	}
	return Client{Address: cut(c.Address, maxAddress), UserAgent: cut(c.UserAgent, maxUserAgent)}
}

// Session is a signed-in browser or device.
type Session struct {
	ID        string
	AccountID string
	UserID    string
	Created   time.Time
	LastUsed  time.Time
	Expires   time.Time // absolute end
	Revoked   time.Time // zero: not revoked
	Client    Client
	Method    SessionMethod
	// TwoStep: a second factor was proven when the session opened (a code, or the identity
	// provider's own sign-in).
	TwoStep bool
}

// SessionMethod is how a session was opened (orgv1.SessionMethod's values, stored as they are).
type SessionMethod int

const (
	MethodPassword        SessionMethod = 1
	MethodPasswordAndCode SessionMethod = 2
	MethodSingleSignOn    SessionMethod = 3
	MethodBreakGlass      SessionMethod = 4
)

// NewSession is a session opened at now by method for the timeouts.
func NewSession(accountID, userID string, now time.Time, t SignInTimeouts, c Client, method SessionMethod, twoStep bool) Session {
	return Session{AccountID: accountID, UserID: userID, Created: now, LastUsed: now,
		Expires: now.Add(t.SessionMaxAge), Client: c.Trimmed(), Method: method, TwoStep: twoStep}
}

// Open reports whether the session still works at now: not revoked, used within the idle
// timeout, before its absolute end.
func (s Session) Open(now time.Time, t SignInTimeouts) bool {
	return s.Revoked.IsZero() && now.Before(s.Expires) && now.Before(s.LastUsed.Add(t.SessionIdle))
}

// EndsAt is when the session ends if not used again (the earlier of the idle and absolute
// ends).
func (s Session) EndsAt(t SignInTimeouts) time.Time {
	idle := s.LastUsed.Add(t.SessionIdle)
	if idle.Before(s.Expires) {
		return idle
	}
	return s.Expires
}

// sessionUseResolution is how precisely a session's last use is kept: a page that makes twenty
// calls writes once, and the idle timeout is kept to the minute.
const sessionUseResolution = time.Minute

// NeedsUseRecorded reports whether a use at now should be written.
func (s Session) NeedsUseRecorded(now time.Time) bool {
	return now.Sub(s.LastUsed) >= sessionUseResolution
}

// SessionGrant is what authenticating a session finds: the session and its user as they are
// now.
type SessionGrant struct {
	Session      Session
	User         KeyUser
	Requirements SignInRequirements
}

// Identity decides what the session grants now, as AuthenticateAPIKey decides it for a key
// acting as the same user (KeyGrant.Identity): the user's role and scope, nothing once the user
// is deactivated, the session has ended or the account's requirements no longer admit it.
func (g SessionGrant) Identity(now time.Time, t SignInTimeouts) (KeyIdentity, error) {
	if !g.Session.Open(now, t) || !g.Requirements.Admits(g.Session) {
		return KeyIdentity{}, ErrSessionEnded
	}
	u := g.User
	id, err := KeyGrant{AccountID: g.Session.AccountID, Levels: u.Levels, User: &u}.Identity()
	if err != nil {
		return KeyIdentity{}, err
	}
	id.APIKeyID = ""
	return id, nil
}

// LinkKind is what a sign-in link does.
type LinkKind int

const (
	LinkInvitation    LinkKind = 1
	LinkPasswordReset LinkKind = 2
)

func (k LinkKind) noun() string {
	if k == LinkInvitation {
		return "invitation"
	}
	return "password reset"
}

// SignInLink is an invitation or a password reset.
type SignInLink struct {
	ID        string
	AccountID string
	UserID    string
	Kind      LinkKind
	CreatedBy string
	Created   time.Time
	Expires   time.Time
	Used      time.Time // zero: not used
	Closed    time.Time // zero: not replaced
}

// NewLink is a link of kind for user, made at now by createdBy, lasting its kind's lifetime.
func NewLink(kind LinkKind, accountID, userID, createdBy string, now time.Time, t SignInTimeouts) SignInLink {
	ttl := t.Invitation
	if kind == LinkPasswordReset {
		ttl = t.PasswordReset
	}
	return SignInLink{AccountID: accountID, UserID: userID, Kind: kind, CreatedBy: createdBy, Created: now, Expires: now.Add(ttl)}
}

// Pending reports whether the link can still be used at now.
func (l SignInLink) Pending(now time.Time) bool {
	return l.Used.IsZero() && l.Closed.IsZero() && now.Before(l.Expires)
}

// Redeem decides whether a token that found l may use it at now, for a link of kind want; the
// errors name the request's token field and say what to do.
func (l SignInLink) Redeem(want LinkKind, now time.Time) error {
	if l.Kind != want || !l.Used.IsZero() || !l.Closed.IsZero() {
		return ErrBadLinkToken(want)
	}
	if !now.Before(l.Expires) {
		if want == LinkInvitation {
			return apperr.Invalid("token", "this invitation link has expired; ask an administrator to invite you again")
		}
		return apperr.Invalid("token", "this password reset link has expired; ask for a new one")
	}
	return nil
}

// ErrBadLinkToken is the answer for a token that is no link of kind: unknown, used or replaced.
func ErrBadLinkToken(kind LinkKind) error {
	return apperr.Invalid("token", "is not a valid "+kind.noun()+" link; it may have been used or replaced by a newer one")
}

// ErrLinkNotPending is IssueSignInLink's answer for a link that can no longer be used: the
// notification service drops the email.
func ErrLinkNotPending(kind LinkKind) error {
	return apperr.FailedPrecondition("the " + kind.noun() + " is no longer pending (used, replaced or expired)")
}

// ErrLinkNotFound is IssueSignInLink's answer for an id that names no link of kind.
func ErrLinkNotFound(kind LinkKind) error { return apperr.NotFound(kind.noun() + " not found") }

// ErrInviteInactiveUser refuses to invite a deactivated user.
var ErrInviteInactiveUser = apperr.FailedPrecondition("the user is deactivated; reactivate them before inviting them")

// ResetInterval is how often one user can be sent a reset link: more requests in between are
// answered like any other and do nothing, so nobody can flood a mailbox.
const ResetInterval = 5 * time.Minute

// ResetAllowed reports whether a reset may be made at now for a user whose last one was made
// at last (zero: none).
func ResetAllowed(last, now time.Time) bool {
	return last.IsZero() || now.Sub(last) >= ResetInterval
}

// Throttling of sign-in failures, in a sliding window.
const (
	ThrottleWindow = 15 * time.Minute
	// EmailFailureLimit failures for one email in the window make the next attempt wait,
	// FirstBackoff at first, doubling with every further failure up to MaxBackoff.
	EmailFailureLimit = 5
	FirstBackoff      = time.Minute
	MaxBackoff        = 15 * time.Minute
	// AddressFailureLimit failures from one client address in the window (many emails tried
	// from one place) make it wait until the oldest leaves the window.
	AddressFailureLimit = 100
)

// ThrottleKey is what failures are counted under: SHA-256 of what is counted, so the table holds
// nothing anyone typed.
func ThrottleKey(kind, value string) []byte {
	d := sha256.Sum256([]byte(kind + "\x00" + value))
	return d[:]
}

// EmailThrottleKey and AddressThrottleKey are the two counters of a sign-in.
func EmailThrottleKey(email string) []byte     { return ThrottleKey("email", NormalizeEmail(email)) }
func AddressThrottleKey(address string) []byte { return ThrottleKey("address", address) }

func inWindow(failures []time.Time, now time.Time) []time.Time {
	var out []time.Time
	for _, f := range failures {
		if now.Sub(f) < ThrottleWindow {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// EmailWait is how long an attempt for an email with these failures must wait at now (0: it may
// go ahead). It is the same for a known and an unknown email: only the failures count.
func EmailWait(failures []time.Time, now time.Time) time.Duration {
	f := inWindow(failures, now)
	if len(f) < EmailFailureLimit {
		return 0
	}
	backoff := MaxBackoff
	if extra := len(f) - EmailFailureLimit; extra < 5 {
		backoff = min(FirstBackoff<<extra, MaxBackoff)
	}
	return max(f[len(f)-1].Add(backoff).Sub(now), 0)
}

// AddressWait is how long an attempt from an address with these failures must wait at now.
func AddressWait(failures []time.Time, now time.Time) time.Duration {
	f := inWindow(failures, now)
	if len(f) < AddressFailureLimit {
		return 0
	}
	// Wait until enough old failures leave the window to bring the count under the limit.
	return max(f[len(f)-AddressFailureLimit].Add(ThrottleWindow).Sub(now), 0)
}

// Throttled is the answer to an attempt that must wait: the wait goes to the client as
// google.rpc.RetryInfo (and Retry-After at the gateway).
type Throttled struct {
	Refusal    *apperr.Error
	RetryAfter time.Duration
}

func (t *Throttled) Error() string { return t.Refusal.Error() }

// ErrThrottled returns the refusal of an attempt that must wait for wait.
func ErrThrottled(wait time.Duration) *Throttled {
	wait = wait.Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	return &Throttled{Refusal: &apperr.Error{Kind: apperr.KindResourceExhausted, Reason: "SIGN_IN_THROTTLED",
		Message: "too many failed sign-ins; wait " + wait.String() + " before trying again"}, RetryAfter: wait}
}

// Unwrap lets apperr.As find the classified error.
func (t *Throttled) Unwrap() error { return t.Refusal }

// CurrentUser is the signed-in person: their user, what they hold now, and their session.
type CurrentUser struct {
	User     User
	Identity KeyIdentity
	Session  Session
	// Their sign-in factors.
	TwoStepEnabled    bool
	RecoveryCodesLeft int
	HasPassword       bool
}

// Invitation is an invitation link with the address it goes to.
type Invitation struct {
	Link  SignInLink
	Email string
}

// IssuedLink is a link's new token with what its email needs.
type IssuedLink struct {
	Token     string
	UserID    string
	Email     string
	FirstName string
	Expires   time.Time
}

// ErrNoSecrets refuses two-step verification and single sign-on on a service started without
// ORGPLANE_CREDENTIAL_KEYS: their secrets must be kept encrypted, and there is no key to do it.
var ErrNoSecrets = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "CREDENTIAL_KEYS_NOT_SET",
	Message: "two-step verification and single sign-on are not available: the org service has no ORGPLANE_CREDENTIAL_KEYS to encrypt their secrets with"}
