package domain

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Two-step verification: TOTP (RFC 6238) with the parameters every authenticator app supports,
// one-time recovery codes, and the challenges a sign-in waits in between its password and its
// second step.

const (
	TOTPIssuer = "Orgplane"
	totpPeriod = 30 // seconds
	// totpSkew is how many steps either side of now a code may be from: the phone's clock and
	// the typing take time.
	totpSkew  = 1
	qrCodePix = 256

	RecoveryCodeCount = 10
	// MaxFailedCodes wrong codes use a challenge up: the next try needs the password again.
	MaxFailedCodes = 5

	ChallengeTokenPrefix = "opc_"
	CodeChallengeTTL     = 5 * time.Minute
	// An enrollment takes longer: installing the app and scanning the code.
	EnrollmentChallengeTTL = 15 * time.Minute
	PendingEnrollmentTTL   = 15 * time.Minute
)

var totpOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTPEnrollment is a new secret to add to an authenticator app.
type TOTPEnrollment struct {
	Secret    string // base32, as apps take it typed in
	URI       string // otpauth://, what the QR code holds
	QRCodePNG []byte
	Expires   time.Time
}

// NewTOTPEnrollment makes a new 160-bit secret for the user with email, with its QR code, to be
// confirmed before now+PendingEnrollmentTTL.
func NewTOTPEnrollment(email string, now time.Time) (TOTPEnrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: email, Period: totpPeriod,
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrollment{}, err
	}
	img, err := key.Image(qrCodePix, qrCodePix)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return TOTPEnrollment{}, err
	}
	return TOTPEnrollment{Secret: key.Secret(), URI: key.URL(), QRCodePNG: b.Bytes(), Expires: now.Add(PendingEnrollmentTTL)}, nil
}

// TOTPStep is the 30-second step now falls in.
func TOTPStep(now time.Time) int64 { return now.Unix() / totpPeriod }

// MatchTOTP checks code against secret for the steps around now and returns the step it is
// the code of. A step at or before lastStep (the last one accepted) is a replay and does not
// match: each code works once.
func MatchTOTP(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	if !IsTOTPCode(code) {
		return 0, false
	}
	cur := TOTPStep(now)
	var matched int64
	found := false
	// Every candidate is computed and compared, so the time taken says nothing about which
	// step (if any) matched.
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := hotp.GenerateCodeCustom(secret, uint64(step), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > lastStep && !found {
			matched, found = step, true
		}
	}
	return matched, found
}

// IsTOTPCode reports whether code has the shape of an app's code (six digits) rather than a
// recovery code's.
func IsTOTPCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// TOTP is a user's authenticator secret, sealed: enabled, or an enrollment waiting for its
// first code.
type TOTP struct {
	AccountID      string
	UserID         string
	Sealed         []byte
	Enabled        time.Time // zero: pending
	PendingExpires time.Time
	LastStep       int64
}

// On reports whether two-step verification is on with this secret.
func (t TOTP) On() bool { return !t.Enabled.IsZero() }

// PendingAt reports whether it is an enrollment that can still be confirmed at now.
func (t TOTP) PendingAt(now time.Time) bool {
	return t.Enabled.IsZero() && now.Before(t.PendingExpires)
}

// recoveryAlphabet is Crockford's base32: no i, l, o or u, so nothing reads as something else
// (and NormalizeRecoveryCode maps the look-alikes a person may type anyway).
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// NewRecoveryCodes returns RecoveryCodeCount new codes of 50 random bits each, written
// "xxxxx-xxxxx".
func NewRecoveryCodes() []string {
	out := make([]string, RecoveryCodeCount)
	for i := range out {
		var b [10]byte
		_, _ = rand.Read(b[:])
		code := make([]byte, 0, 11)
		for j, x := range b {
			if j == 5 {
				code = append(code, '-')
			}
			code = append(code, recoveryAlphabet[x&31])
		}
		out[i] = string(code)
	}
	return out
}

// NormalizeRecoveryCode is a code as typed in any case, with or without its hyphen and spaces,
// and with the look-alikes of 0 and 1 read as them.
func NormalizeRecoveryCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch r {
		case ' ', '-', '\t':
			continue
		case 'o':
			r = '0'
		case 'i', 'l':
			r = '1'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// RecoveryCodeDigest is what a recovery code is kept and looked up by.
func RecoveryCodeDigest(code string) []byte {
	d := sha256.Sum256([]byte(NormalizeRecoveryCode(code)))
	return d[:]
}

// RecoveryCodeDigests are the digests of codes.
func RecoveryCodeDigests(codes []string) [][]byte {
	out := make([][]byte, len(codes))
	for i, c := range codes {
		out[i] = RecoveryCodeDigest(c)
	}
	return out
}

// ChallengeKind is what a sign-in still needs (orgv1.SignInChallengeKind's values, stored as
// they are).
type ChallengeKind int

const (
	ChallengeCode       ChallengeKind = 1
	ChallengeEnrollment ChallengeKind = 2
)

// Challenge is a sign-in whose password was right and that waits for its second step.
type Challenge struct {
	ID          string
	AccountID   string
	UserID      string
	Kind        ChallengeKind
	BreakGlass  bool
	Created     time.Time
	Expires     time.Time
	FailedCodes int
	Used        time.Time // zero: not used
	Client      Client
}

// NewChallenge is a challenge of kind for the user, made at now, lasting its kind's lifetime.
func NewChallenge(kind ChallengeKind, accountID, userID string, breakGlass bool, now time.Time, c Client) Challenge {
	ttl := CodeChallengeTTL
	if kind == ChallengeEnrollment {
		ttl = EnrollmentChallengeTTL
	}
	return Challenge{AccountID: accountID, UserID: userID, Kind: kind, BreakGlass: breakGlass, Created: now,
		Expires: now.Add(ttl), Client: c.Trimmed()}
}

// NewChallengeToken returns a new challenge's secret, 256 random bits.
func NewChallengeToken() string { return newToken(ChallengeTokenPrefix) }

// ErrBadChallenge is the answer for a challenge token that names no sign-in in progress:
// unknown, used, expired, of the other kind, or ended by too many wrong codes.
var ErrBadChallenge = apperr.Invalid("challenge_token",
	"is not a sign-in in progress; it may have expired, been completed or ended after too many wrong codes; sign in again")

// Redeem decides whether the challenge can be used at now for a step of kind want.
func (c Challenge) Redeem(want ChallengeKind, now time.Time) error {
	if c.Kind != want || !c.Used.IsZero() || !now.Before(c.Expires) || c.FailedCodes >= MaxFailedCodes {
		return ErrBadChallenge
	}
	return nil
}

// FailCode counts a wrong code against the challenge and reports whether that used it up.
func (c *Challenge) FailCode() (usedUp bool) {
	c.FailedCodes++
	return c.FailedCodes >= MaxFailedCodes
}

// Method is how the session the challenge completes into was opened.
func (c Challenge) Method() SessionMethod {
	if c.BreakGlass {
		return MethodBreakGlass
	}
	return MethodPasswordAndCode
}

// ErrWrongCode is the answer for a wrong, replayed or used code in field; last says the
// challenge it was tried against is used up.
func ErrWrongCode(field string, last bool) error {
	msg := "is not a current code of your authenticator app"
	if field == "recovery_code" {
		msg = "is not one of your unused recovery codes"
	}
	if last {
		msg += "; that was the last try: sign in again"
	}
	return apperr.Invalid(field, msg)
}

// ErrWrongTwoStepCode is DisableTwoStep's answer when its code is neither a current app code
// nor an unused recovery code.
var ErrWrongTwoStepCode = apperr.Invalid("code", "is not a current code of your authenticator app or one of your unused recovery codes")

var (
	ErrTwoStepAlreadyOn = apperr.FailedPrecondition("two-step verification is already on; turn it off before enrolling again")
	ErrTwoStepNotOn     = apperr.FailedPrecondition("two-step verification is not on")
	// ErrNoPendingEnrollment: nothing started, or what was started lapsed.
	ErrNoPendingEnrollment = apperr.FailedPrecondition("no two-step enrollment is pending (it lasts 15 minutes); start it again")
	// ErrTwoStepRequired refuses turning two-step verification off in an account that requires it.
	ErrTwoStepRequired = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "TWO_STEP_VERIFICATION_REQUIRED",
		Message: "require_two_step_verification: this account requires two-step verification, so it cannot be turned off; an administrator can reset it for someone who lost their authenticator"}
	// ErrSingleSignOnRequired refuses password sign-in to an account that requires SSO. It is
	// said only once the password is right, so it tells a guesser nothing.
	ErrSingleSignOnRequired = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "SINGLE_SIGN_ON_REQUIRED",
		Message: "require_single_sign_on: this account requires single sign-on; sign in through your identity provider"}
	// ErrResetOwnTwoStep: an administrator turns their own two-step verification off with a code
	// (DisableTwoStep), like anyone, so a stolen session cannot strip it.
	ErrResetOwnTwoStep = apperr.FailedPrecondition("you cannot reset your own two-step verification; turn it off with a code (DisableTwoStep) or ask another administrator")
)

// SignInDecision is what a right password leads to: a session (Method, TwoStep) or a challenge
// (Challenge, with BreakGlass carried to the session it completes into).
type SignInDecision struct {
	Challenge  ChallengeKind // 0: open the session now
	BreakGlass bool
	Method     SessionMethod
	TwoStep    bool
}

// DecideSignIn decides a password sign-in whose password was right, for an account with
// requirements r, a user with or without TOTP on, an administrator (the built-in IT Provider
// Admin role) or not, asking for break-glass or not.
//
// An account that requires single sign-on refuses password sign-in, but for an administrator's
// break-glass (its way in when the identity provider fails); two-step verification applies to
// that too. Break-glass asked of an account that does not require SSO bypasses nothing, so it is
// an ordinary sign-in and is not audited as one.
func DecideSignIn(r SignInRequirements, totpOn, administrator, breakGlass bool) (SignInDecision, error) {
	bg := false
	if r.SingleSignOn {
		if !breakGlass || !administrator {
			return SignInDecision{}, ErrSingleSignOnRequired
		}
		bg = true
	}
	switch {
	case totpOn:
		return SignInDecision{Challenge: ChallengeCode, BreakGlass: bg}, nil
	case r.TwoStepVerification:
		return SignInDecision{Challenge: ChallengeEnrollment, BreakGlass: bg}, nil
	case bg:
		return SignInDecision{Method: MethodBreakGlass}, nil
	}
	return SignInDecision{Method: MethodPassword}, nil
}

// Admits reports whether a session may still be used under the account's requirements as they
// are now: under single sign-on only sessions of the identity provider or break-glass; under
// two-step verification only sessions that proved a second factor. Turning a requirement on
// thereby ends the sessions that do not meet it at their next request.
func (r SignInRequirements) Admits(s Session) bool {
	if r.SingleSignOn && s.Method != MethodSingleSignOn && s.Method != MethodBreakGlass {
		return false
	}
	if r.TwoStepVerification && !s.TwoStep {
		return false
	}
	return true
}

// SignInRequirements are the requirements settings s put on sign-in.
func (s Settings) SignInRequirements() SignInRequirements {
	return SignInRequirements{TwoStepVerification: s.RequireTwoStepVerification, SingleSignOn: s.RequireSingleSignOn}
}

// StricterThan reports whether r requires something was did not, so that sessions was admitted
// may no longer be admitted.
func (r SignInRequirements) StricterThan(was SignInRequirements) bool {
	return (r.SingleSignOn && !was.SingleSignOn) || (r.TwoStepVerification && !was.TwoStepVerification)
}

// Refused returns the ids of the sessions r does not admit: those a requirement just turned
// on ends at once, in the change that turns it on, rather than at their next request.
func (r SignInRequirements) Refused(sessions []Session) []string {
	var ids []string
	for _, s := range sessions {
		if !r.Admits(s) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// IssuedChallenge is a challenge as its sign-in returns it: the token names it in the next call.
type IssuedChallenge struct {
	Kind    ChallengeKind
	Token   string
	Expires time.Time
}

// SignInResult is the outcome of a sign-in step: a session opened (User, SessionToken, and the
// recovery codes of an enrollment it completed) or a challenge to meet first.
type SignInResult struct {
	User          CurrentUser
	SessionToken  string
	Challenge     *IssuedChallenge
	RecoveryCodes []string
}
