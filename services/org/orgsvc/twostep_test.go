package orgsvc_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"fmt"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

// Two-step verification and break-glass at the service's API, on the sign-in harness with a
// credential keyring (TOTP secrets are sealed under it). Codes are computed with the library
// from the secret each enrollment returns, at the harness's clock.

func startTwoStepOrg(t *testing.T) *signInOrg {
	t.Helper()
	return startSignInOrg(t, orgsvc.WithCredentialKeys(secrets.GenerateSpec("t")))
}

const bobPassword = "bob builds with long passwords"

// codeNow is the app's code for secret at the service's clock.
func (o *signInOrg) codeNow(secret string) string {
	o.t.Helper()
	c, err := totp.GenerateCode(secret, o.clock.Now())
	if err != nil {
		o.t.Fatal(err)
	}
	return c
}

// wrongCodeNow is a six-digit code that is none of the codes the service accepts now.
func (o *signInOrg) wrongCodeNow(secret string) string {
	o.t.Helper()
	near := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, err := totp.GenerateCode(secret, o.clock.Now().Add(d))
		if err != nil {
			o.t.Fatal(err)
		}
		near[c] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", 123456+i); !near[c] {
			return c
		}
	}
}

// passwordStep signs in with a password and wants a challenge of kind: no session.
func (o *signInOrg) passwordStep(req *orgv1.SignInRequest, kind orgv1.SignInChallengeKind) *orgv1.SignInChallenge {
	o.t.Helper()
	resp, err := o.signIn.SignIn(fromGateway(clientAddress), req)
	if err != nil {
		o.t.Fatalf("sign in %s: %v", req.GetEmail(), err)
	}
	ch := resp.GetChallenge()
	if ch.GetKind() != kind || !strings.HasPrefix(ch.GetToken(), "opc_") || resp.GetSessionToken() != "" || resp.GetCurrentUser() != nil {
		o.t.Fatalf("sign in %s: %v, want only a challenge of kind %v", req.GetEmail(), resp, kind)
	}
	return ch
}

// enrollMe turns two-step verification on for the signed-in person, as the web UI does, and
// returns the secret and the recovery codes.
func (o *signInOrg) enrollMe(who identity.Identity) (string, []string) {
	o.t.Helper()
	e, err := o.signIn.StartTwoStepEnrollment(as(who), &orgv1.StartTwoStepEnrollmentRequest{})
	if err != nil {
		o.t.Fatal(err)
	}
	rc, err := o.signIn.ConfirmTwoStepEnrollment(as(who), &orgv1.ConfirmTwoStepEnrollmentRequest{Code: o.codeNow(e.GetSecret())})
	if err != nil {
		o.t.Fatal(err)
	}
	return e.GetSecret(), rc.GetCodes()
}

// authenticateMethod is the gateway's authentication of a cookie, with the session's method.
func (o *signInOrg) authenticateMethod(token string) (orgv1.SessionMethod, error) {
	r, err := o.auth.AuthenticateSession(as(gateway), &orgv1.AuthenticateSessionRequest{Digest: identity.APIKeyDigest(token)})
	return r.GetMethod(), err
}

func (o *signInOrg) sessionCount(userID string) int {
	o.t.Helper()
	var n int
	if err := o.db.QueryRow(context.Background(), `SELECT count(*) FROM org.sessions WHERE user_id = $1`, userID).Scan(&n); err != nil {
		o.t.Fatal(err)
	}
	return n
}

// setRequirements sets the account's two sign-in requirements through the API.
func (o *signInOrg) setRequirements(acct string, twoStep, sso bool) {
	o.t.Helper()
	st := &orgv1.AccountSettings{RequireTwoStepVerification: twoStep, RequireSingleSignOn: sso}
	if _, err := o.accounts.UpdateAccountSettings(as(operator), &orgv1.UpdateAccountSettingsRequest{AccountId: acct, Settings: st,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"require_two_step_verification", "require_single_sign_on"}}}); err != nil {
		o.t.Fatal(err)
	}
}

// addIdentityProvider gives the account an identity provider row by SQL: requiring single
// sign-on is refused to an account without one, and this test is about password sign-in, not
// about configuring the provider. The tenant is set as the store sets it, for row-level security.
func (o *signInOrg) addIdentityProvider(acct string) {
	o.t.Helper()
	ctx := context.Background()
	tx, err := o.db.Begin(ctx)
	if err != nil {
		o.t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT set_config('app.account_id', $1, true)`, acct); err != nil {
		o.t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO org.sso_providers (account_id, issuer, client_id, updated_at)
		VALUES ($1, 'https://idp.contoso.example', 'orgplane-test', now())`, acct); err != nil {
		o.t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		o.t.Fatal(err)
	}
}

// TestTwoStepCodesAtSignIn: with TOTP on, a right password gets a challenge and no session; a
// wrong code and a replayed one are refused; a right code opens a session of method
// PASSWORD_AND_CODE; a recovery code works once; five wrong codes end the challenge and count
// against the email's throttle. The person's own calls (enroll, regenerate, disable) hold, and no
// secret, code or token is kept in clear in any column or log line.
func TestTwoStepCodesAtSignIn(t *testing.T) {
	o := startTwoStepOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.ada, adaPassword)
	first := o.signInAs(te.ada.GetEmail(), adaPassword)
	me, err := o.signIn.GetCurrentUser(as(first.id), &orgv1.GetCurrentUserRequest{})
	if err != nil || me.GetTwoStepEnabled() || me.GetRecoveryCodesLeft() != 0 || !me.GetHasPassword() ||
		me.GetSession().GetMethod() != orgv1.SessionMethod_SESSION_METHOD_PASSWORD {
		t.Fatalf("me before enrolling: %v %v", me, err)
	}

	// Enrollment from the person's own settings: the secret, its URI and a QR code of it.
	e, err := o.signIn.StartTwoStepEnrollment(as(first.id), &orgv1.StartTwoStepEnrollmentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(e.GetOtpauthUri())
	if err != nil || key.Secret() != e.GetSecret() || key.Issuer() != "Orgplane" || key.AccountName() != te.ada.GetEmail() {
		t.Fatalf("enrollment %v: %v", e, err)
	}
	if img, err := png.Decode(bytes.NewReader(e.GetQrCodePng())); err != nil || img.Bounds().Dx() < 200 {
		t.Fatalf("QR code: %v", err)
	}
	if !e.GetExpireTime().AsTime().Equal(o.clock.Now().Add(15 * time.Minute)) {
		t.Fatalf("pending until %v", e.GetExpireTime().AsTime())
	}
	_, err = o.signIn.ConfirmTwoStepEnrollment(as(first.id), &orgv1.ConfirmTwoStepEnrollmentRequest{Code: o.wrongCodeNow(e.GetSecret())})
	wantInvalidField(t, "confirming with a wrong code", err, "code", "not a current code")
	rc, err := o.signIn.ConfirmTwoStepEnrollment(as(first.id), &orgv1.ConfirmTwoStepEnrollmentRequest{Code: o.codeNow(e.GetSecret())})
	if err != nil || len(rc.GetCodes()) != 10 {
		t.Fatalf("confirm: %v %v", rc, err)
	}
	secret, recovery := e.GetSecret(), rc.GetCodes()
	_, err = o.signIn.StartTwoStepEnrollment(as(first.id), &orgv1.StartTwoStepEnrollmentRequest{})
	wantCode(t, "enrolling again while on", err, codes.FailedPrecondition)
	me, err = o.signIn.GetCurrentUser(as(first.id), &orgv1.GetCurrentUserRequest{})
	if err != nil || !me.GetTwoStepEnabled() || me.GetRecoveryCodesLeft() != 10 {
		t.Fatalf("me once enrolled: %v %v", me, err)
	}

	// A right password is not enough any more.
	sessions := o.sessionCount(te.ada.GetId())
	ch := o.passwordStep(&orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)
	if !ch.GetExpireTime().AsTime().Equal(o.clock.Now().Add(5 * time.Minute)) {
		t.Fatalf("challenge expires %v", ch.GetExpireTime().AsTime())
	}
	if n := o.sessionCount(te.ada.GetId()); n != sessions {
		t.Fatalf("the password step opened a session (%d, was %d)", n, sessions)
	}
	_, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), Code: o.wrongCodeNow(secret)})
	wantInvalidField(t, "a wrong code", err, "code", "not a current code")
	_, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: "opc_not-a-challenge", Code: o.codeNow(secret)})
	wantInvalidField(t, "an unknown challenge", err, "challengeToken", "sign in again")
	o.clock.advance(30 * time.Second) // the code confirming the enrollment was this step's
	code := o.codeNow(secret)
	resp, err := o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), Code: code})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.GetSessionToken(), "ops_") || resp.GetChallenge() != nil || resp.GetCurrentUser().GetUser().GetId() != te.ada.GetId() ||
		resp.GetCurrentUser().GetSession().GetMethod() != orgv1.SessionMethod_SESSION_METHOD_PASSWORD_AND_CODE || !resp.GetCurrentUser().GetTwoStepEnabled() {
		t.Fatalf("verified: %v", resp)
	}
	if m, err := o.authenticateMethod(resp.GetSessionToken()); err != nil || m != orgv1.SessionMethod_SESSION_METHOD_PASSWORD_AND_CODE {
		t.Fatalf("the new session authenticates as %v (%v)", m, err)
	}
	codeSession := resp.GetSessionToken()
	// The challenge is single-use; the code is too, even on a new challenge.
	_, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), Code: code})
	wantInvalidField(t, "a used challenge", err, "challengeToken", "sign in again")
	replay := o.passwordStep(&orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)
	_, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: replay.GetToken(), Code: code})
	wantInvalidField(t, "a replayed code", err, "code", "not a current code")

	// A recovery code, typed loosely, works once.
	resp, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: replay.GetToken(),
		RecoveryCode: " " + strings.ToUpper(strings.ReplaceAll(recovery[3], "-", " ")) + " "})
	if err != nil || resp.GetCurrentUser().GetRecoveryCodesLeft() != 9 || resp.GetCurrentUser().GetSession().GetMethod() != orgv1.SessionMethod_SESSION_METHOD_PASSWORD_AND_CODE {
		t.Fatalf("recovery code: %v %v", resp, err)
	}
	again := o.passwordStep(&orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)
	_, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: again.GetToken(), RecoveryCode: recovery[3]})
	wantInvalidField(t, "a used recovery code", err, "recoveryCode", "unused recovery codes")

	// Five wrong codes end the challenge; they were failures of the email too, committed though
	// each call failed. (A clean throttle window first: the failures above count as well.)
	o.clock.advance(16 * time.Minute)
	ch = o.passwordStep(&orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)
	for i := range 5 {
		_, err := o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), Code: o.wrongCodeNow(secret)})
		wantInvalidField(t, fmt.Sprintf("wrong code %d", i+1), err, "code", "not a current code")
		if last := strings.Contains(status.Convert(err).Message(), "last try"); last != (i == 4) {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	_, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), Code: o.codeNow(secret)})
	wantInvalidField(t, "the right code after five wrong ones", err, "challengeToken", "sign in again")
	var failed int
	var used *time.Time
	if err := o.db.QueryRow(context.Background(), `SELECT failed_codes, used_at FROM org.sign_in_challenges c
		WHERE c.user_id = $1 ORDER BY created_at DESC LIMIT 1`, te.ada.GetId()).Scan(&failed, &used); err != nil || failed != 5 || used == nil {
		t.Fatalf("the challenge after five wrong codes: %d wrong, used %v (%v)", failed, used, err)
	}
	_, err = o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword})
	if d := retryDelay(t, err); d != time.Minute {
		t.Fatalf("after five wrong codes the email waits %v, want 1m", d)
	}
	o.clock.advance(16 * time.Minute)

	// Regenerating needs a current code and replaces every code.
	ada, err := o.authenticate(codeSession)
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.signIn.RegenerateRecoveryCodes(as(ada), &orgv1.RegenerateRecoveryCodesRequest{Code: o.wrongCodeNow(secret)})
	wantInvalidField(t, "regenerating with a wrong code", err, "code", "not a current code")
	fresh, err := o.signIn.RegenerateRecoveryCodes(as(ada), &orgv1.RegenerateRecoveryCodesRequest{Code: o.codeNow(secret)})
	if err != nil || len(fresh.GetCodes()) != 10 || fresh.GetCodes()[0] == recovery[0] {
		t.Fatalf("regenerate: %v %v", fresh, err)
	}
	ch = o.passwordStep(&orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)
	_, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), RecoveryCode: recovery[0]})
	wantInvalidField(t, "a replaced recovery code", err, "recoveryCode", "unused recovery codes")

	// Nothing secret in clear: the TOTP secret (as typed and as the raw key), the recovery codes
	// (as shown and as normalized), challenge and session tokens.
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	_, pending := o.invite(te.account, te.bob) // so that every sign-in table has a row to scan
	secretsToFind := []string{secret, strings.ToLower(secret), string(raw), ch.GetToken(), replay.GetToken(), codeSession, adaPassword, pending}
	for _, c := range append(recovery, fresh.GetCodes()...) {
		secretsToFind = append(secretsToFind, c, strings.ReplaceAll(c, "-", ""))
	}
	o.requireNoSecrets(secretsToFind...)
	for table, want := range map[string]string{"user_totp": "secret_sealed", "user_recovery_codes": "digest",
		"sign_in_challenges": "id", "sign_in_challenge_digests": "digest"} {
		var n int
		if err := o.db.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(%s) FROM org.%s`, want, table)).Scan(&n); err != nil || n == 0 {
			t.Errorf("%s holds nothing to scan (%v)", table, err)
		}
	}
	var badDigests int
	if err := o.db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM org.user_recovery_codes WHERE length(digest) <> 32) +
		(SELECT count(*) FROM org.sign_in_challenge_digests WHERE length(digest) <> 32)`).Scan(&badDigests); err != nil || badDigests != 0 {
		t.Fatalf("%d digests that are not SHA-256 (%v)", badDigests, err)
	}

	// Turning it off needs the password and a code (or a recovery code).
	_, err = o.signIn.DisableTwoStep(as(ada), &orgv1.DisableTwoStepRequest{Password: "not my password at all", Code: o.codeNow(secret)})
	wantInvalidField(t, "disabling with a wrong password", err, "password", "not your password")
	_, err = o.signIn.DisableTwoStep(as(ada), &orgv1.DisableTwoStepRequest{Password: adaPassword, Code: recovery[1]})
	wantInvalidField(t, "disabling with a replaced recovery code", err, "code", "unused recovery codes")
	if _, err := o.signIn.DisableTwoStep(as(ada), &orgv1.DisableTwoStepRequest{Password: adaPassword, Code: fresh.GetCodes()[2]}); err != nil {
		t.Fatal(err)
	}
	me, err = o.signIn.GetCurrentUser(as(ada), &orgv1.GetCurrentUserRequest{})
	if err != nil || me.GetTwoStepEnabled() || me.GetRecoveryCodesLeft() != 0 {
		t.Fatalf("me after disabling: %v %v", me, err)
	}
	if s := o.signInAs(te.ada.GetEmail(), adaPassword); s.token == "" {
		t.Fatal("no session after disabling")
	}
	var left int
	if err := o.db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM org.user_totp) + (SELECT count(*) FROM org.user_recovery_codes)`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d TOTP and recovery rows left after disabling (%v)", left, err)
	}
}

// TestTwoStepRequired: turning the requirement on ends password-only sessions at their next
// request; a user without TOTP is sent to enrollment at sign-in, which opens the session and
// returns the recovery codes; the person cannot turn it off while it is required; an
// administrator can reset a user they cover, not one who holds more than they do.
func TestTwoStepRequired(t *testing.T) {
	o := startTwoStepOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.ada, adaPassword)
	o.onboard(te.account, te.bob, bobPassword)
	before, adaBefore := o.signInAs(te.bob.GetEmail(), bobPassword), o.signInAs(te.ada.GetEmail(), adaPassword)

	o.setRequirements(te.account, true, false)
	_, err := o.authenticate(before.token)
	wantCode(t, "a password-only session once two-step is required", err, codes.Unauthenticated)
	// Ended for good, not merely refused while the requirement lasts.
	o.setRequirements(te.account, false, false)
	_, err = o.authenticate(before.token)
	wantCode(t, "the same session once the requirement is off again", err, codes.Unauthenticated)
	o.setRequirements(te.account, true, false)

	ch := o.passwordStep(&orgv1.SignInRequest{Email: te.bob.GetEmail(), Password: bobPassword}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_ENROLLMENT)
	if !ch.GetExpireTime().AsTime().Equal(o.clock.Now().Add(15 * time.Minute)) {
		t.Fatalf("enrollment challenge expires %v", ch.GetExpireTime().AsTime())
	}
	_, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), Code: "123456"})
	wantInvalidField(t, "an enrollment challenge used for a code", err, "challengeToken", "sign in again")
	_, err = o.signIn.CompleteSignInEnrollment(fromGateway(clientAddress), &orgv1.CompleteSignInEnrollmentRequest{ChallengeToken: ch.GetToken(), Code: "123456"})
	wantCode(t, "completing before starting", err, codes.FailedPrecondition)

	start := func() *orgv1.TwoStepEnrollment {
		t.Helper()
		e, err := o.signIn.StartSignInEnrollment(fromGateway(clientAddress), &orgv1.StartSignInEnrollmentRequest{ChallengeToken: ch.GetToken()})
		if err != nil {
			t.Fatal(err)
		}
		key, err := otp.NewKeyFromURL(e.GetOtpauthUri())
		if err != nil || key.Secret() != e.GetSecret() || key.AccountName() != te.bob.GetEmail() || key.Issuer() != "Orgplane" {
			t.Fatalf("enrollment %v: %v", e, err)
		}
		img, err := png.Decode(bytes.NewReader(e.GetQrCodePng()))
		if err != nil || img.Bounds().Dx() < 200 {
			t.Fatalf("QR code: %v", err)
		}
		return e
	}
	replaced, e := start(), start()
	if replaced.GetSecret() == e.GetSecret() {
		t.Fatal("starting again gave the same secret")
	}
	_, err = o.signIn.CompleteSignInEnrollment(fromGateway(clientAddress), &orgv1.CompleteSignInEnrollmentRequest{ChallengeToken: ch.GetToken(), Code: o.codeNow(replaced.GetSecret())})
	wantInvalidField(t, "a code of the replaced secret", err, "code", "not a current code")
	resp, err := o.signIn.CompleteSignInEnrollment(fromGateway(clientAddress), &orgv1.CompleteSignInEnrollmentRequest{ChallengeToken: ch.GetToken(), Code: o.codeNow(e.GetSecret())})
	if err != nil {
		t.Fatal(err)
	}
	cu := resp.GetCurrentUser()
	if len(resp.GetRecoveryCodes()) != 10 || !strings.HasPrefix(resp.GetSessionToken(), "ops_") || cu.GetUser().GetId() != te.bob.GetId() ||
		!cu.GetTwoStepEnabled() || cu.GetRecoveryCodesLeft() != 10 || cu.GetSession().GetMethod() != orgv1.SessionMethod_SESSION_METHOD_PASSWORD_AND_CODE {
		t.Fatalf("completed enrollment: %v", resp)
	}
	bob, err := o.authenticate(resp.GetSessionToken())
	if err != nil {
		t.Fatalf("the enrolled session under the requirement: %v", err)
	}
	_, err = o.signIn.CompleteSignInEnrollment(fromGateway(clientAddress), &orgv1.CompleteSignInEnrollmentRequest{ChallengeToken: ch.GetToken(), Code: o.codeNow(e.GetSecret())})
	wantInvalidField(t, "the enrollment challenge again", err, "challengeToken", "sign in again")

	// Not to be turned off while required, whatever the proof.
	_, err = o.signIn.DisableTwoStep(as(bob), &orgv1.DisableTwoStepRequest{Password: bobPassword, Code: resp.GetRecoveryCodes()[0]})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "require_two_step_verification") {
		t.Fatalf("disabling while required: %v", err)
	}
	o.passwordStep(&orgv1.SignInRequest{Email: te.bob.GetEmail(), Password: bobPassword}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)

	// Resets: by whoever covers Bob, not by one who does not, not of oneself.
	usersOnly := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: te.account, Permissions: []string{"users:read", "users:write"}}
	_, err = o.signIn.ResetUserTwoStep(as(usersOnly), &orgv1.ResetUserTwoStepRequest{AccountId: te.account, UserId: te.bob.GetId()})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "holds more than you do") {
		t.Fatalf("a reset by a caller who does not cover the user: %v", err)
	}
	_, err = o.signIn.ResetUserTwoStep(as(bob), &orgv1.ResetUserTwoStepRequest{AccountId: te.account, UserId: te.ada.GetId()})
	wantCode(t, "a reset by an engineer", err, codes.PermissionDenied)
	adaKey := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: te.account, UserID: te.ada.GetId(), Permissions: adaBefore.id.Permissions}
	_, err = o.signIn.ResetUserTwoStep(as(adaKey), &orgv1.ResetUserTwoStepRequest{AccountId: te.account, UserId: te.ada.GetId()})
	wantCode(t, "resetting oneself", err, codes.FailedPrecondition)
	if _, err := o.signIn.ResetUserTwoStep(as(adaKey), &orgv1.ResetUserTwoStepRequest{AccountId: te.account, UserId: te.bob.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = o.authenticate(resp.GetSessionToken())
	wantCode(t, "Bob's session after the reset", err, codes.Unauthenticated)
	o.passwordStep(&orgv1.SignInRequest{Email: te.bob.GetEmail(), Password: bobPassword}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_ENROLLMENT)
}

// TestSingleSignOnRequiredAndBreakGlass: requiring SSO ends password sessions and refuses
// password sign-in, naming the setting; an administrator's break-glass sign-in works, is
// published for the audit, and still asks for the code when TOTP is on; anyone else's
// break-glass gets exactly the refusal of any password sign-in.
func TestSingleSignOnRequiredAndBreakGlass(t *testing.T) {
	o := startTwoStepOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.ada, adaPassword)
	o.onboard(te.account, te.bob, bobPassword)
	adaBefore, bobBefore := o.signInAs(te.ada.GetEmail(), adaPassword), o.signInAs(te.bob.GetEmail(), bobPassword)

	o.addIdentityProvider(te.account)
	o.setRequirements(te.account, false, true)
	for name, s := range map[string]session{"Ada's": adaBefore, "Bob's": bobBefore} {
		_, err := o.authenticate(s.token)
		wantCode(t, name+" password session under SSO", err, codes.Unauthenticated)
	}
	_, refused := o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword})
	st := status.Convert(refused)
	if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "require_single_sign_on") || !strings.Contains(st.Message(), "identity provider") {
		t.Fatalf("password sign-in under SSO: %v", refused)
	}
	_, err := o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.bob.GetEmail(), Password: bobPassword, BreakGlass: true})
	if !proto.Equal(status.Convert(err).Proto(), st.Proto()) {
		t.Fatalf("an engineer's break-glass: %v, want exactly %v", err, refused)
	}
	_, err = o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: "not the password", BreakGlass: true})
	wantCode(t, "break-glass with a wrong password", err, codes.Unauthenticated)
	if evs := outboxEvents(t, o.db, "user.break_glass_signed_in", func() *orgv1.UserBreakGlassSignedIn { return &orgv1.UserBreakGlassSignedIn{} }); len(evs) != 0 {
		t.Fatalf("break-glass events before any break-glass sign-in: %v", evs)
	}

	resp, err := o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword, BreakGlass: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCurrentUser().GetSession().GetMethod() != orgv1.SessionMethod_SESSION_METHOD_BREAK_GLASS || resp.GetSessionToken() == "" {
		t.Fatalf("break-glass: %v", resp)
	}
	if m, err := o.authenticateMethod(resp.GetSessionToken()); err != nil || m != orgv1.SessionMethod_SESSION_METHOD_BREAK_GLASS {
		t.Fatalf("the break-glass session under SSO: %v %v", m, err)
	}
	evs := outboxEvents(t, o.db, "user.break_glass_signed_in", func() *orgv1.UserBreakGlassSignedIn { return &orgv1.UserBreakGlassSignedIn{} })
	if len(evs) != 1 || evs[0].GetAccountId() != te.account || evs[0].GetUserId() != te.ada.GetId() ||
		evs[0].GetSessionId() != resp.GetCurrentUser().GetSession().GetId() || evs[0].GetClientAddress() != clientAddress ||
		evs[0].GetUserAgent() != "Mozilla/5.0 (test)" || evs[0].GetEventId() == "" {
		t.Fatalf("break-glass events %v", evs)
	}

	// Two-step verification still applies to break-glass.
	ada, err := o.authenticate(resp.GetSessionToken())
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := o.enrollMe(ada)
	o.clock.advance(30 * time.Second)
	ch := o.passwordStep(&orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword, BreakGlass: true}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)
	if n := len(outboxEvents(t, o.db, "user.break_glass_signed_in", func() *orgv1.UserBreakGlassSignedIn { return &orgv1.UserBreakGlassSignedIn{} })); n != 1 {
		t.Fatalf("%d break-glass events before the code", n)
	}
	resp, err = o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), Code: o.codeNow(secret)})
	if err != nil || resp.GetCurrentUser().GetSession().GetMethod() != orgv1.SessionMethod_SESSION_METHOD_BREAK_GLASS {
		t.Fatalf("break-glass with a code: %v %v", resp, err)
	}
	evs = outboxEvents(t, o.db, "user.break_glass_signed_in", func() *orgv1.UserBreakGlassSignedIn { return &orgv1.UserBreakGlassSignedIn{} })
	if len(evs) != 2 || evs[1].GetSessionId() != resp.GetCurrentUser().GetSession().GetId() {
		t.Fatalf("break-glass events after the code: %v", evs)
	}
	// Without break-glass the code does not help: the password path is closed.
	_, err = o.signIn.SignIn(fromGateway(clientAddress), &orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword})
	wantCode(t, "an administrator's password sign-in without break-glass", err, codes.FailedPrecondition)
}

// TestRequirementsEndSessionsAtOnce: turning a requirement on ends, in the same change, every
// session of the account it does not admit, used since or not: "my sessions" no longer lists
// them and their cookies find nothing. Sessions it admits stay.
func TestRequirementsEndSessionsAtOnce(t *testing.T) {
	o := startTwoStepOrg(t)
	te := o.newTenant("Contoso MSP")
	o.onboard(te.account, te.ada, adaPassword)
	o.onboard(te.account, te.bob, bobPassword)
	adaPassword1 := o.signInAs(te.ada.GetEmail(), adaPassword)
	secret, _ := o.enrollMe(adaPassword1.id)
	bobPassword1 := o.signInAs(te.bob.GetEmail(), bobPassword)
	// signInWithCode is Ada's sign-in with her code, as a session.
	signInWithCode := func(breakGlass bool) session {
		t.Helper()
		o.clock.advance(30 * time.Second)
		ch := o.passwordStep(&orgv1.SignInRequest{Email: te.ada.GetEmail(), Password: adaPassword, BreakGlass: breakGlass},
			orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)
		resp, err := o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), Code: o.codeNow(secret)})
		if err != nil {
			t.Fatal(err)
		}
		id, err := o.authenticate(resp.GetSessionToken())
		if err != nil {
			t.Fatal(err)
		}
		return session{token: resp.GetSessionToken(), id: id}
	}
	adaCode := signInWithCode(false)
	mySessions := func(s session) []string {
		t.Helper()
		list, err := o.signIn.ListMySessions(as(s.id), &orgv1.ListMySessionsRequest{})
		if err != nil {
			t.Fatalf("my sessions: %v", err)
		}
		var ids []string
		for _, x := range list.GetSessions() {
			ids = append(ids, x.GetId())
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	if got := mySessions(adaCode); !slices.Equal(got, sorted(adaPassword1.id.SessionID, adaCode.id.SessionID)) {
		t.Fatalf("Ada's sessions before any requirement: %v", got)
	}
	// ended checks that the sessions are closed in the table, with no digest left to find them.
	ended := func(what string, ss ...session) {
		t.Helper()
		for _, s := range ss {
			var revoked bool
			var digests int
			if err := o.db.QueryRow(context.Background(), `SELECT revoked_at IS NOT NULL,
					(SELECT count(*) FROM org.session_digests WHERE session_id = s.id) FROM org.sessions s WHERE s.id = $1`,
				s.id.SessionID).Scan(&revoked, &digests); err != nil || !revoked || digests != 0 {
				t.Fatalf("%s: session %s revoked %v, %d digests (%v)", what, s.id.SessionID, revoked, digests, err)
			}
		}
	}

	// Two-step verification: the password-only sessions end, Ada's and Bob's, though neither
	// is used in between; the one that proved a code stays.
	o.setRequirements(te.account, true, false)
	ended("password sessions once two-step is required", adaPassword1, bobPassword1)
	if got := mySessions(adaCode); !slices.Equal(got, []string{adaCode.id.SessionID}) {
		t.Fatalf("Ada's sessions under two-step: %v, want only the one with a code", got)
	}
	for name, s := range map[string]session{"Ada's password session": adaPassword1, "Bob's password session": bobPassword1} {
		_, err := o.authenticate(s.token)
		wantCode(t, name+" under two-step", err, codes.Unauthenticated)
	}
	if _, err := o.authenticate(adaCode.token); err != nil {
		t.Fatalf("the session with a code under two-step: %v", err)
	}

	// Setting it again, or relaxing it, ends nothing more.
	o.setRequirements(te.account, true, false)
	o.setRequirements(te.account, false, false)
	if got := mySessions(adaCode); !slices.Equal(got, []string{adaCode.id.SessionID}) {
		t.Fatalf("Ada's sessions once two-step is off: %v", got)
	}

	// Single sign-on: the code session ends too; the break-glass session opened under it stays.
	o.addIdentityProvider(te.account)
	o.setRequirements(te.account, true, true)
	ended("a password-and-code session once single sign-on is required", adaCode)
	breakGlass := signInWithCode(true)
	if got := mySessions(breakGlass); !slices.Equal(got, []string{breakGlass.id.SessionID}) {
		t.Fatalf("Ada's sessions under single sign-on: %v, want only the break-glass one", got)
	}
	_, err := o.authenticate(adaCode.token)
	wantCode(t, "the code session under single sign-on", err, codes.Unauthenticated)
}
