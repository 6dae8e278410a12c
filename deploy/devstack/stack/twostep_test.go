package stack_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Issue 18, two-step verification, through the gateway and the real services as a browser and an
// authenticator app would: a person enrolls by scanning the QR code (its otpauth URI), signing in
// then needs a code; a wrong or replayed code is refused, a recovery code works once; when the
// account requires two-step verification, a session opened without a code ends on its next request
// and the person is sent to enrollment before anything else works. No TOTP secret or recovery code
// is kept in clear, logged or published.

// totpCode is the code an authenticator app shows for secret in the 30-second step.
func totpCode(t *testing.T, secret string, step int64) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func currentStep() int64 { return time.Now().Unix() / 30 }

// enrollment reads a TwoStepEnrollment answer: the secret, and checks that the QR code is a PNG
// and the URI names Orgplane and the person, with the same secret.
func enrollment(t *testing.T, r response, email string) string {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("start enrollment: %d %s", r.code, r.body)
	}
	m := r.json(t)
	secret, _ := m["secret"].(string)
	uri, err := url.Parse(fmt.Sprint(m["otpauthUri"]))
	if secret == "" || err != nil || uri.Scheme != "otpauth" || uri.Host != "totp" || uri.Query().Get("secret") != secret ||
		uri.Query().Get("issuer") != "Orgplane" || !strings.Contains(uri.Path, email) {
		t.Fatalf("enrollment: %s", r.body)
	}
	raw, err := base64.StdEncoding.DecodeString(fmt.Sprint(m["qrCodePng"]))
	if err != nil {
		t.Fatalf("qrCodePng is not base64: %v", err)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Fatalf("qrCodePng is not a PNG image: %v", err)
	}
	return secret
}

// challenge reads a sign-in answer that asks for a second step: no cookie set, no current user,
// a challenge of kind.
func challenge(t *testing.T, r response, kind string) string {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("sign in: %d %s, want 200 with a challenge", r.code, r.body)
	}
	if sc := r.header.Get("Set-Cookie"); strings.HasPrefix(sc, sessionCookieName+"=") && !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("a sign-in still needing a second step set the session cookie: %q", sc)
	}
	m := r.json(t)
	ch, _ := m["challenge"].(map[string]any)
	if ch == nil || ch["kind"] != kind || ch["token"] == "" || m["currentUser"] != nil {
		t.Fatalf("sign in: %s, want a %s challenge and no current user", r.body, kind)
	}
	return ch["token"].(string)
}

// complete posts a second step and, when it opens a session, keeps its CSRF token as a page would.
func (b *browser) complete(path string, body map[string]string) response {
	b.s.t.Helper()
	raw, _ := json.Marshal(body)
	r := b.do("POST", path, string(raw), false)
	if r.code == http.StatusOK {
		var m struct {
			CurrentUser struct {
				CsrfToken string `json:"csrfToken"`
			} `json:"currentUser"`
		}
		_ = json.Unmarshal(r.body, &m)
		b.csrf = m.CurrentUser.CsrfToken
	}
	return r
}

func TestTwoStepVerificationEndToEnd(t *testing.T) {
	w, logs := startSignInWorld(t)
	a := w.newMSP("Fabrikam MSP")
	acct := "/v1/accounts/" + a.id
	const email, password = "hedy@fabrikam.example", "Frequency-hopping-1942"
	user := w.must(200, "POST", acct+"/users", a.adminKey, w.adminRoleBody(t, a, "Hedy", "Lamarr", email))["id"].(string)
	w.giveSignIn(a, user, email, password, 1)
	secrets := []string{password}

	// Enroll from "my account": the secret (and its QR code), confirmed with a first code.
	b := newBrowser(w.suite)
	b.mustSignIn(email, password)
	secret := enrollment(t, b.do("POST", "/v1/me/twoStep:start", "{}", true), email)
	secrets = append(secrets, secret)
	s0 := currentStep()
	if r := b.do("POST", "/v1/me/twoStep:confirm", `{"code":"000000x"}`, true); r.code != http.StatusBadRequest {
		t.Errorf("confirm with a malformed code: %d %s, want 400", r.code, r.body)
	}
	r := b.do("POST", "/v1/me/twoStep:confirm", fmt.Sprintf(`{"code":%q}`, totpCode(t, secret, s0)), true)
	if r.code != http.StatusOK {
		t.Fatalf("confirm enrollment: %d %s", r.code, r.body)
	}
	var codes struct {
		Codes []string `json:"codes"`
	}
	if err := json.Unmarshal(r.body, &codes); err != nil || len(codes.Codes) < 8 {
		t.Fatalf("recovery codes: %s", r.body)
	}
	secrets = append(secrets, codes.Codes...)
	me := b.do("GET", "/v1/me", "", false).json(t)
	if me["twoStepEnabled"] != true || fmt.Sprint(me["recoveryCodesLeft"]) != fmt.Sprint(len(codes.Codes)) {
		t.Errorf("GET /v1/me after enrolling: %v", me)
	}

	// The password alone no longer opens a session.
	c := newBrowser(w.suite)
	token := challenge(t, c.signIn(email, password), "SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE")
	if c.token() != "" {
		t.Fatal("the challenge left a session cookie")
	}
	if r := c.do("GET", "/v1/me", "", false); r.code != http.StatusUnauthorized {
		t.Errorf("GET /v1/me between the password and the code: %d, want 401", r.code)
	}
	// A wrong code is refused and the challenge survives it; the right code (the app's next one)
	// opens a session that says how it was opened.
	wrongCode := fmt.Sprintf("%06d", (mustAtoi(t, totpCode(t, secret, s0+1))+1)%1000000)
	if r := c.complete("/v1/signIn:verifyCode", map[string]string{"challengeToken": token, "code": wrongCode}); r.code != http.StatusBadRequest || !slices.Contains(fieldViolations(r), "code") {
		t.Errorf("a wrong code: %d %s, want 400 naming code", r.code, r.body)
	}
	next := totpCode(t, secret, s0+1)
	if r := c.complete("/v1/signIn:verifyCode", map[string]string{"challengeToken": token, "code": next}); r.code != http.StatusOK || c.token() == "" {
		t.Fatalf("the right code: %d %s", r.code, r.body)
	}
	secrets = append(secrets, c.token(), c.csrf)
	if m := c.do("GET", "/v1/me", "", false).json(t); m["session"].(map[string]any)["method"] != "SESSION_METHOD_PASSWORD_AND_CODE" {
		t.Errorf("the session's method: %v", m["session"])
	}
	// The challenge is single-use, and the code cannot be replayed on a new one.
	if r := c.complete("/v1/signIn:verifyCode", map[string]string{"challengeToken": token, "code": next}); r.code == http.StatusOK {
		t.Errorf("the same challenge twice: %d %s", r.code, r.body)
	}
	replay := challenge(t, newBrowser(w.suite).signIn(email, password), "SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE")
	if r := newBrowser(w.suite).complete("/v1/signIn:verifyCode", map[string]string{"challengeToken": replay, "code": next}); r.code != http.StatusBadRequest || !slices.Contains(fieldViolations(r), "code") {
		t.Errorf("a replayed code: %d %s, want 400 naming code", r.code, r.body)
	}

	// A recovery code works once (typed with spaces and in capitals, as people copy them).
	rc := codes.Codes[0]
	d := newBrowser(w.suite)
	tok := challenge(t, d.signIn(email, password), "SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE")
	if r := d.complete("/v1/signIn:verifyCode", map[string]string{"challengeToken": tok, "recoveryCode": " " + strings.ToUpper(rc) + " "}); r.code != http.StatusOK || d.token() == "" {
		t.Fatalf("a recovery code: %d %s", r.code, r.body)
	}
	secrets = append(secrets, d.token(), d.csrf)
	tok = challenge(t, newBrowser(w.suite).signIn(email, password), "SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE")
	if r := newBrowser(w.suite).complete("/v1/signIn:verifyCode", map[string]string{"challengeToken": tok, "recoveryCode": rc}); r.code != http.StatusBadRequest || !slices.Contains(fieldViolations(r), "recoveryCode") {
		t.Errorf("the same recovery code again: %d %s, want 400 naming recoveryCode", r.code, r.body)
	}
	if m := d.do("GET", "/v1/me", "", false).json(t); fmt.Sprint(m["recoveryCodesLeft"]) != fmt.Sprint(len(codes.Codes)-1) {
		t.Errorf("recovery codes left after using one: %v", m["recoveryCodesLeft"])
	}

	// The account requires two-step verification: a colleague signed in with a password alone is
	// out at the next request, and must enroll before anything else works.
	const email2, password2 = "ada2@fabrikam.example", "Analytical-engine-1843"
	user2 := w.must(200, "POST", acct+"/users", a.adminKey, w.adminRoleBody(t, a, "Ada", "Lovelace", email2))["id"].(string)
	w.giveSignIn(a, user2, email2, password2, 1)
	secrets = append(secrets, password2)
	e := newBrowser(w.suite)
	e.mustSignIn(email2, password2)
	w.must(200, "PATCH", acct+"/settings?updateMask=requireTwoStepVerification", a.adminKey, `{"requireTwoStepVerification":true}`)
	if r := e.do("GET", "/v1/me", "", false); r.code != http.StatusUnauthorized {
		t.Errorf("a password-only session once two-step is required: %d %s, want 401", r.code, r.body)
	}
	// The sessions opened with a code carry on.
	if r := c.do("GET", "/v1/me", "", false); r.code != http.StatusOK {
		t.Errorf("a session opened with a code once two-step is required: %d %s", r.code, r.body)
	}
	f := newBrowser(w.suite)
	enroll := challenge(t, f.signIn(email2, password2), "SIGN_IN_CHALLENGE_KIND_TWO_STEP_ENROLLMENT")
	if r := f.complete("/v1/signIn:verifyCode", map[string]string{"challengeToken": enroll, "code": "123456"}); r.code == http.StatusOK {
		t.Errorf("an enrollment challenge used as a code challenge: %d %s", r.code, r.body)
	}
	secret2 := enrollment(t, f.complete("/v1/signIn:startEnrollment", map[string]string{"challengeToken": enroll}), email2)
	secrets = append(secrets, secret2)
	r = f.complete("/v1/signIn:completeEnrollment", map[string]string{"challengeToken": enroll, "code": totpCode(t, secret2, currentStep())})
	if r.code != http.StatusOK || f.token() == "" {
		t.Fatalf("complete the enrollment: %d %s", r.code, r.body)
	}
	var done struct {
		RecoveryCodes []string `json:"recoveryCodes"`
	}
	_ = json.Unmarshal(r.body, &done)
	if len(done.RecoveryCodes) < 8 {
		t.Errorf("the enrollment's recovery codes: %s", r.body)
	}
	secrets = append(secrets, done.RecoveryCodes...)
	secrets = append(secrets, f.token(), f.csrf)
	if r := f.do("GET", "/v1/me", "", false); r.code != http.StatusOK {
		t.Errorf("GET /v1/me after enrolling at sign-in: %d %s", r.code, r.body)
	}
	// While it is required, nobody turns it off.
	body, _ := json.Marshal(map[string]string{"password": password2, "code": done.RecoveryCodes[0]})
	if r := f.do("POST", "/v1/me/twoStep:disable", string(body), true); r.code != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "require_two_step_verification") {
		t.Errorf("disabling two-step while required: %d %s, want 400 naming the setting", r.code, r.body)
	}

	// An administrator resets a person who lost their phone: their sessions end, and (two-step
	// being required) their next sign-in enrolls again.
	w.must(200, "POST", acct+"/users/"+user+":resetTwoStep", a.adminKey, "{}")
	if r := c.do("GET", "/v1/me", "", false); r.code != http.StatusUnauthorized {
		t.Errorf("a session of the reset user: %d %s, want 401", r.code, r.body)
	}
	challenge(t, newBrowser(w.suite).signIn(email, password), "SIGN_IN_CHALLENGE_KIND_TWO_STEP_ENROLLMENT")

	// Nothing secret anywhere.
	w.settle(a)
	scanDatabase(t, w.suite, secrets, []string{f.token()})
	all := logs.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the logs hold a secret %q", s)
		}
	}
	scanEvents(t, w, secrets, ".user.invited")
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// adminRoleBody is the body creating a user with the account's built-in administrator role.
func (w *world) adminRoleBody(t *testing.T, a msp, first, last, email string) string {
	t.Helper()
	return fmt.Sprintf(`{"firstName":%q,"lastName":%q,"email":%q,"roleId":%q,"allOrganizations":true}`,
		first, last, email, w.roleID(a, "IT Provider Admin"))
}
