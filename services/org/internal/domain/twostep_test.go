package domain_test

import (
	"bytes"
	"errors"
	"image/png"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestTOTPEnrollmentIsWhatAppsScan(t *testing.T) {
	t.Parallel()
	e, err := domain.NewTOTPEnrollment("ada@contoso.example", t0)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Expires.Equal(t0.Add(15 * time.Minute)) {
		t.Errorf("expires %v", e.Expires)
	}
	// 160 bits in base32 is 32 characters.
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(e.Secret) {
		t.Errorf("secret %q is not 160 bits of base32", e.Secret)
	}
	key, err := otp.NewKeyFromURL(e.URI)
	if err != nil {
		t.Fatal(err)
	}
	if key.Type() != "totp" || key.Issuer() != "Orgplane" || key.AccountName() != "ada@contoso.example" || key.Secret() != e.Secret ||
		key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 {
		t.Errorf("otpauth URI %s", e.URI)
	}
	img, err := png.Decode(bytes.NewReader(e.QRCodePNG))
	if err != nil {
		t.Fatalf("the QR code is no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Errorf("QR code %v, want 256x256", b)
	}
	other, err := domain.NewTOTPEnrollment("ada@contoso.example", t0)
	if err != nil || other.Secret == e.Secret {
		t.Fatalf("two enrollments share a secret (%v)", err)
	}
	if u, _ := url.Parse(e.URI); u.Query().Get("secret") != e.Secret {
		t.Errorf("URI secret %q", u.Query().Get("secret"))
	}
}

func TestTOTPCodesMatchTheStepsAroundNowOnce(t *testing.T) {
	t.Parallel()
	e, err := domain.NewTOTPEnrollment("ada@contoso.example", t0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 15, 0, time.UTC)
	step := domain.TOTPStep(now)
	if step != now.Unix()/30 {
		t.Fatalf("step %d", step)
	}
	codeAt := func(d time.Duration) string {
		c, err := totp.GenerateCode(e.Secret, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for name, tc := range map[string]struct {
		code     string
		lastStep int64
		want     int64 // 0: no match
	}{
		"now":                      {codeAt(0), 0, step},
		"the previous step":        {codeAt(-30 * time.Second), 0, step - 1},
		"the next step":            {codeAt(30 * time.Second), 0, step + 1},
		"two steps ago":            {codeAt(-60 * time.Second), 0, 0},
		"two steps ahead":          {codeAt(60 * time.Second), 0, 0},
		"replayed (this step)":     {codeAt(0), step, 0},
		"replayed (an older step)": {codeAt(-30 * time.Second), step - 1, 0},
		"after an older one":       {codeAt(0), step - 1, step},
		"not six digits":           {"12345", 0, 0},
		"letters":                  {"12345a", 0, 0},
		"with a space":             {" " + codeAt(0), 0, 0},
	} {
		got, ok := domain.MatchTOTP(e.Secret, tc.code, now, tc.lastStep)
		if ok != (tc.want != 0) || got != tc.want {
			t.Errorf("%s: step %d, %v; want %d", name, got, ok, tc.want)
		}
	}
}

func TestRecoveryCodesAreReadableRandomAndDigestedNormalized(t *testing.T) {
	t.Parallel()
	codes := domain.NewRecoveryCodes()
	if len(codes) != 10 {
		t.Fatalf("%d codes", len(codes))
	}
	shape := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !shape.MatchString(c) {
			t.Errorf("code %q is not xxxxx-xxxxx in the unambiguous alphabet", c)
		}
		if seen[c] {
			t.Errorf("code %q twice", c)
		}
		seen[c] = true
	}
	if again := domain.NewRecoveryCodes(); again[0] == codes[0] {
		t.Error("two sets start with the same code")
	}
	c := codes[0]
	d := domain.RecoveryCodeDigest(c)
	if len(d) != 32 {
		t.Fatalf("digest of %d bytes", len(d))
	}
	for _, typed := range []string{strings.ToUpper(c), strings.ReplaceAll(c, "-", ""), " " + c[:5] + " " + c[6:] + " ",
		strings.ReplaceAll(strings.ReplaceAll(c, "0", "O"), "1", "l")} {
		if !bytes.Equal(domain.RecoveryCodeDigest(typed), d) {
			t.Errorf("%q typed as %q digests differently", c, typed)
		}
	}
	if bytes.Equal(domain.RecoveryCodeDigest(codes[1]), d) {
		t.Error("two codes, one digest")
	}
	if got := domain.RecoveryCodeDigests(codes); len(got) != 10 || !bytes.Equal(got[0], d) {
		t.Error("RecoveryCodeDigests")
	}
	if domain.IsTOTPCode(c) || !domain.IsTOTPCode("012345") {
		t.Error("a recovery code is told from an app code by its shape")
	}
}

func TestChallengesEndWhenUsedExpiredOrAfterFiveWrongCodes(t *testing.T) {
	t.Parallel()
	c := domain.NewChallenge(domain.ChallengeCode, "a", "u", false, t0, domain.Client{UserAgent: strings.Repeat("x", 600)})
	if !c.Expires.Equal(t0.Add(5*time.Minute)) || len(c.Client.UserAgent) != 512 {
		t.Fatalf("code challenge %+v", c)
	}
	if e := domain.NewChallenge(domain.ChallengeEnrollment, "a", "u", true, t0, domain.Client{}); !e.Expires.Equal(t0.Add(15*time.Minute)) || !e.BreakGlass {
		t.Fatalf("enrollment challenge %+v", e)
	}
	if err := c.Redeem(domain.ChallengeCode, t0.Add(5*time.Minute-time.Second)); err != nil {
		t.Fatalf("within its lifetime: %v", err)
	}
	refused := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, domain.ErrBadChallenge) {
			t.Errorf("%s: %v", name, err)
		}
		ae, _ := apperr.As(err)
		if ae == nil || ae.Kind != apperr.KindInvalid || ae.Field != "challenge_token" || !strings.Contains(ae.Message, "sign in again") {
			t.Errorf("%s: %v", name, err)
		}
	}
	refused("expired", c.Redeem(domain.ChallengeCode, t0.Add(5*time.Minute)))
	refused("the other kind", c.Redeem(domain.ChallengeEnrollment, t0))
	used := c
	used.Used = t0
	refused("used", used.Redeem(domain.ChallengeCode, t0))
	for i := range 4 {
		if c.FailCode() {
			t.Fatalf("used up after %d wrong codes", i+1)
		}
		if err := c.Redeem(domain.ChallengeCode, t0); err != nil {
			t.Fatalf("after %d wrong codes: %v", i+1, err)
		}
	}
	if !c.FailCode() {
		t.Fatal("the fifth wrong code does not use the challenge up")
	}
	refused("after five wrong codes", c.Redeem(domain.ChallengeCode, t0))

	tok := domain.NewChallengeToken()
	if !strings.HasPrefix(tok, "opc_") || len(tok) != 4+43 || tok == domain.NewChallengeToken() {
		t.Fatalf("token %q", tok)
	}
	if c.Method() != domain.MethodPasswordAndCode || (domain.Challenge{BreakGlass: true}).Method() != domain.MethodBreakGlass {
		t.Error("a challenge completes into a code session, or a break-glass one")
	}
	for field, says := range map[string]string{"code": "authenticator app", "recovery_code": "unused recovery codes"} {
		ae, _ := apperr.As(domain.ErrWrongCode(field, false))
		if ae == nil || ae.Kind != apperr.KindInvalid || ae.Field != field || !strings.Contains(ae.Message, says) || strings.Contains(ae.Message, "last") {
			t.Errorf("wrong %s: %v", field, ae)
		}
		if last := domain.ErrWrongCode(field, true); !strings.Contains(last.Error(), "sign in again") {
			t.Errorf("last wrong %s: %v", field, last)
		}
	}
}

func TestDecideSignIn(t *testing.T) {
	t.Parallel()
	none := domain.SignInRequirements{}
	twoStep := domain.SignInRequirements{TwoStepVerification: true}
	sso := domain.SignInRequirements{SingleSignOn: true}
	both := domain.SignInRequirements{SingleSignOn: true, TwoStepVerification: true}
	session := func(m domain.SessionMethod) domain.SignInDecision { return domain.SignInDecision{Method: m} }
	challenge := func(k domain.ChallengeKind, bg bool) domain.SignInDecision {
		return domain.SignInDecision{Challenge: k, BreakGlass: bg}
	}
	for name, tc := range map[string]struct {
		r                       domain.SignInRequirements
		totp, admin, breakGlass bool
		want                    domain.SignInDecision
		refused                 bool
	}{
		"nothing required":                         {r: none, want: session(domain.MethodPassword)},
		"TOTP on":                                  {r: none, totp: true, want: challenge(domain.ChallengeCode, false)},
		"2SV required, TOTP on":                    {r: twoStep, totp: true, want: challenge(domain.ChallengeCode, false)},
		"2SV required, no TOTP":                    {r: twoStep, want: challenge(domain.ChallengeEnrollment, false)},
		"break-glass where SSO is not required":    {r: none, admin: true, breakGlass: true, want: session(domain.MethodPassword)},
		"SSO required":                             {r: sso, refused: true},
		"SSO required, administrator":              {r: sso, admin: true, refused: true},
		"SSO required, break-glass, not an admin":  {r: sso, breakGlass: true, refused: true},
		"SSO required, admin break-glass":          {r: sso, admin: true, breakGlass: true, want: session(domain.MethodBreakGlass)},
		"SSO required, admin break-glass, TOTP on": {r: sso, admin: true, breakGlass: true, totp: true, want: challenge(domain.ChallengeCode, true)},
		"both required, admin break-glass":         {r: both, admin: true, breakGlass: true, want: challenge(domain.ChallengeEnrollment, true)},
		"both required, not an admin, TOTP on":     {r: both, breakGlass: true, totp: true, refused: true},
	} {
		got, err := domain.DecideSignIn(tc.r, tc.totp, tc.admin, tc.breakGlass)
		if tc.refused {
			ae, _ := apperr.As(err)
			if !errors.Is(err, domain.ErrSingleSignOnRequired) || ae.Kind != apperr.KindFailedPrecondition || ae.Reason != "SINGLE_SIGN_ON_REQUIRED" ||
				!strings.Contains(ae.Message, "require_single_sign_on") || !strings.Contains(ae.Message, "identity provider") {
				t.Errorf("%s: %v, want the SSO refusal", name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", name, got, err, tc.want)
		}
	}
}

func TestRequirementsAdmitOnlySessionsThatMeetThem(t *testing.T) {
	t.Parallel()
	type sess struct {
		m       domain.SessionMethod
		twoStep bool
	}
	password, withCode := sess{domain.MethodPassword, false}, sess{domain.MethodPasswordAndCode, true}
	sso, breakGlass, breakGlassCode := sess{domain.MethodSingleSignOn, true}, sess{domain.MethodBreakGlass, false}, sess{domain.MethodBreakGlass, true}
	all := []sess{password, withCode, sso, breakGlass, breakGlassCode}
	for name, tc := range map[string]struct {
		r    domain.SignInRequirements
		want []sess
	}{
		"nothing required": {domain.SignInRequirements{}, all},
		"2SV required":     {domain.SignInRequirements{TwoStepVerification: true}, []sess{withCode, sso, breakGlassCode}},
		"SSO required":     {domain.SignInRequirements{SingleSignOn: true}, []sess{sso, breakGlass, breakGlassCode}},
		"both required":    {domain.SignInRequirements{SingleSignOn: true, TwoStepVerification: true}, []sess{sso, breakGlassCode}},
	} {
		for _, s := range all {
			want := false
			for _, w := range tc.want {
				want = want || w == s
			}
			if got := tc.r.Admits(domain.Session{Method: s.m, TwoStep: s.twoStep}); got != want {
				t.Errorf("%s: session %+v admitted %v, want %v", name, s, got, want)
			}
		}
	}
	// The session's identity follows: a session the requirements no longer admit has ended.
	s := domain.NewSession("a", "u", t0, domain.SignInTimeouts{}.WithDefaults(), domain.Client{}, domain.MethodPassword, false)
	g := domain.SessionGrant{Session: s, User: domain.KeyUser{ID: "u", Active: true}, Requirements: domain.SignInRequirements{TwoStepVerification: true}}
	if _, err := g.Identity(t0, domain.SignInTimeouts{}.WithDefaults()); !errors.Is(err, domain.ErrSessionEnded) {
		t.Fatalf("a password session under a 2SV requirement: %v", err)
	}
	g.Requirements = domain.SignInRequirements{}
	if _, err := g.Identity(t0, domain.SignInTimeouts{}.WithDefaults()); err != nil {
		t.Fatalf("the same session with nothing required: %v", err)
	}
}

func TestStricterRequirementsRefuseTheSessionsTheyNoLongerAdmit(t *testing.T) {
	t.Parallel()
	none, twoStep := domain.SignInRequirements{}, domain.SignInRequirements{TwoStepVerification: true}
	sso, both := domain.SignInRequirements{SingleSignOn: true}, domain.SignInRequirements{SingleSignOn: true, TwoStepVerification: true}
	for _, c := range []struct {
		was, now domain.SignInRequirements
		want     bool
	}{
		{none, none, false}, {none, twoStep, true}, {none, sso, true}, {none, both, true},
		{twoStep, twoStep, false}, {twoStep, none, false}, {twoStep, sso, true}, {twoStep, both, true},
		{sso, twoStep, true}, {sso, both, true}, {both, sso, false}, {both, none, false}, {both, both, false},
	} {
		if got := c.now.StricterThan(c.was); got != c.want {
			t.Errorf("%+v after %+v: stricter %v, want %v", c.now, c.was, got, c.want)
		}
	}
	settings := domain.Settings{RequireSingleSignOn: true}
	if settings.SignInRequirements() != sso {
		t.Fatalf("requirements of %+v: %+v", settings, settings.SignInRequirements())
	}
	sessions := []domain.Session{{ID: "password", Method: domain.MethodPassword}, {ID: "code", Method: domain.MethodPasswordAndCode, TwoStep: true},
		{ID: "sso", Method: domain.MethodSingleSignOn, TwoStep: true}, {ID: "break-glass", Method: domain.MethodBreakGlass}}
	for _, c := range []struct {
		r    domain.SignInRequirements
		want []string
	}{
		{none, nil}, {twoStep, []string{"password", "break-glass"}}, {sso, []string{"password", "code"}},
		{both, []string{"password", "code", "break-glass"}},
	} {
		if got := c.r.Refused(sessions); !slices.Equal(got, c.want) {
			t.Errorf("%+v refuses %v, want %v", c.r, got, c.want)
		}
	}
}

func TestTOTPPendingAndOn(t *testing.T) {
	t.Parallel()
	pending := domain.TOTP{PendingExpires: t0.Add(15 * time.Minute)}
	if pending.On() || !pending.PendingAt(t0) || pending.PendingAt(t0.Add(15*time.Minute)) {
		t.Errorf("pending %+v", pending)
	}
	on := domain.TOTP{Enabled: t0}
	if !on.On() || on.PendingAt(t0) {
		t.Errorf("on %+v", on)
	}
}
