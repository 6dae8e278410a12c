package domain_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func failuresAt(offsets ...time.Duration) []time.Time {
	var out []time.Time
	for _, o := range offsets {
		out = append(out, t0.Add(o))
	}
	return out
}

func TestEmailThrottleBacksOffAfterFiveFailures(t *testing.T) {
	t.Parallel()
	four := failuresAt(0, time.Second, 2*time.Second, 3*time.Second)
	if w := domain.EmailWait(four, t0.Add(4*time.Second)); w != 0 {
		t.Fatalf("after 4 failures: wait %v", w)
	}
	five := append(four, t0.Add(4*time.Second))
	if w := domain.EmailWait(five, t0.Add(5*time.Second)); w != time.Minute-time.Second {
		t.Fatalf("after 5 failures: wait %v, want the rest of a minute", w)
	}
	if w := domain.EmailWait(five, t0.Add(4*time.Second+time.Minute)); w != 0 {
		t.Fatalf("a minute after the 5th: wait %v", w)
	}
	// Each further failure doubles the wait, up to 15 minutes.
	fs := five
	for i, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		last := fs[len(fs)-1]
		fs = append(fs, last.Add(time.Second))
		if w := domain.EmailWait(fs, last.Add(time.Second)); w != want {
			t.Fatalf("after %d failures: wait %v, want %v", 6+i, w, want)
		}
	}
	// Failures older than the window no longer count.
	if w := domain.EmailWait(five, t0.Add(domain.ThrottleWindow+5*time.Second)); w != 0 {
		t.Fatalf("after the window: wait %v", w)
	}
}

func TestAddressThrottleAllowsAHundredInTheWindow(t *testing.T) {
	t.Parallel()
	var fs []time.Time
	for i := range 99 {
		fs = append(fs, t0.Add(time.Duration(i)*time.Second))
	}
	now := t0.Add(100 * time.Second)
	if w := domain.AddressWait(fs, now); w != 0 {
		t.Fatalf("99 failures: wait %v", w)
	}
	fs = append(fs, t0.Add(99*time.Second))
	// The oldest leaves the window 15 minutes after it happened.
	if w := domain.AddressWait(fs, now); w != domain.ThrottleWindow-100*time.Second {
		t.Fatalf("100 failures: wait %v", w)
	}
}

func TestThrottledCarriesItsWait(t *testing.T) {
	t.Parallel()
	err := error(domain.ErrThrottled(90*time.Second + 300*time.Millisecond))
	var th *domain.Throttled
	if !errors.As(err, &th) || th.RetryAfter != 90*time.Second {
		t.Fatalf("%v", err)
	}
	if apperr.KindOf(err) != apperr.KindResourceExhausted {
		t.Fatalf("kind %v", apperr.KindOf(err))
	}
	if domain.ErrThrottled(0).RetryAfter != time.Second {
		t.Fatal("a wait under a second must still tell the client to wait")
	}
}

var timeouts = domain.SignInTimeouts{}.WithDefaults()

func TestSessionsEndWhenIdleExpiredOrRevoked(t *testing.T) {
	t.Parallel()
	s := domain.NewSession("a", "u", t0, timeouts, domain.Client{Address: "198.51.100.7", UserAgent: strings.Repeat("x", 600)}, domain.MethodPassword, false)
	if len(s.Client.UserAgent) != 512 {
		t.Fatalf("user agent kept at %d bytes", len(s.Client.UserAgent))
	}
	if s.Expires != t0.Add(12*time.Hour) {
		t.Fatalf("expires %v", s.Expires)
	}
	for _, tc := range []struct {
		name     string
		lastUsed time.Duration
		now      time.Duration
		revoked  bool
		open     bool
	}{
		{"fresh", 0, time.Minute, false, true},
		{"used an hour ago", 3 * time.Hour, 4 * time.Hour, false, true},
		{"idle two hours", 0, 2 * time.Hour, false, false},
		{"in use past twelve hours", 12*time.Hour - time.Minute, 12 * time.Hour, false, false},
		{"revoked", 0, time.Minute, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := s
			x.LastUsed = t0.Add(tc.lastUsed)
			if tc.revoked {
				x.Revoked = t0
			}
			if got := x.Open(t0.Add(tc.now), timeouts); got != tc.open {
				t.Fatalf("Open = %v", got)
			}
		})
	}
	if !s.NeedsUseRecorded(t0.Add(time.Minute)) || s.NeedsUseRecorded(t0.Add(59*time.Second)) {
		t.Fatal("a use is written at most once a minute")
	}
}

func TestSessionGrantIsTheUsersGrantNow(t *testing.T) {
	t.Parallel()
	s := domain.NewSession("acct", "u1", t0, timeouts, domain.Client{}, domain.MethodPassword, false)
	s.ID = "s1"
	user := domain.KeyUser{ID: "u1", Active: true, Levels: domain.Levels{domain.AreaOrganizations: domain.LevelFull},
		AllOrganizations: false, GroupIDs: []string{"g1"}}
	id, err := domain.SessionGrant{Session: s, User: user}.Identity(t0.Add(time.Minute), timeouts)
	if err != nil {
		t.Fatal(err)
	}
	if id.AccountID != "acct" || id.UserID != "u1" || id.APIKeyID != "" || !id.RestrictedToGroups || !slices.Equal(id.GroupIDs, []string{"g1"}) ||
		!slices.Contains(id.Permissions, "organizations:write") || !slices.Contains(id.Permissions, "organizations:read") {
		t.Fatalf("identity %+v", id)
	}
	user.Active = false
	if _, err := (domain.SessionGrant{Session: s, User: user}).Identity(t0.Add(time.Minute), timeouts); !errors.Is(err, domain.ErrSessionEnded) {
		t.Fatalf("deactivated user: %v", err)
	}
	user.Active = true
	if _, err := (domain.SessionGrant{Session: s, User: user}).Identity(t0.Add(3*time.Hour), timeouts); !errors.Is(err, domain.ErrSessionEnded) {
		t.Fatalf("idle session: %v", err)
	}
}

func TestSignInLinks(t *testing.T) {
	t.Parallel()
	inv := domain.NewLink(domain.LinkInvitation, "a", "u", "admin", t0, timeouts)
	reset := domain.NewLink(domain.LinkPasswordReset, "a", "u", "", t0, timeouts)
	if inv.Expires != t0.Add(72*time.Hour) || reset.Expires != t0.Add(time.Hour) {
		t.Fatalf("expiry: invitation %v, reset %v", inv.Expires, reset.Expires)
	}
	if err := inv.Redeem(domain.LinkInvitation, t0.Add(71*time.Hour)); err != nil {
		t.Fatalf("pending invitation: %v", err)
	}
	for name, tc := range map[string]struct {
		link domain.SignInLink
		kind domain.LinkKind
		at   time.Duration
		says string
	}{
		"expired invitation": {inv, domain.LinkInvitation, 72 * time.Hour, "expired"},
		"expired reset":      {reset, domain.LinkPasswordReset, time.Hour, "expired"},
		"reset as invite":    {reset, domain.LinkInvitation, 0, "not a valid invitation link"},
		"used":               {func() domain.SignInLink { l := inv; l.Used = t0; return l }(), domain.LinkInvitation, 0, "used or replaced"},
		"replaced":           {func() domain.SignInLink { l := inv; l.Closed = t0; return l }(), domain.LinkInvitation, 0, "used or replaced"},
	} {
		err := tc.link.Redeem(tc.kind, t0.Add(tc.at))
		ae, ok := apperr.As(err)
		if !ok || ae.Kind != apperr.KindInvalid || ae.Field != "token" || !strings.Contains(ae.Message, tc.says) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !domain.ResetAllowed(time.Time{}, t0) || domain.ResetAllowed(t0, t0.Add(4*time.Minute)) || !domain.ResetAllowed(t0, t0.Add(5*time.Minute)) {
		t.Error("one reset per user per 5 minutes")
	}
}

func TestTokensAreRandomPrefixedAndDigested(t *testing.T) {
	t.Parallel()
	a, b := domain.NewSessionToken(), domain.NewSessionToken()
	if a == b || !strings.HasPrefix(a, "ops_") || len(a) != 4+43 || !strings.HasPrefix(domain.NewLinkToken(), "opl_") {
		t.Fatalf("tokens %q %q", a, b)
	}
	if string(domain.TokenDigest(a)) != string(domain.TokenDigest(" "+a+"\n")) || len(domain.TokenDigest(a)) != 32 {
		t.Fatal("the digest is identity.APIKeyDigest's")
	}
}
