package orgsvc_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

// childEnv marks the test binary re-executed as the org process; childEnv_COMMAND names the
// command it runs.
const childEnv = "ORG_TEST_SERVICE_PROCESS"

// TestHelperProcess is the org service, configured by its environment only, when a test
// re-executes the test binary to run one of its commands; in a normal run it does nothing.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("only the org process of a test that runs a command")
	}
	// platform.Main reads --flags too, and the -test.* flags of this binary are not its own.
	os.Args = append(os.Args[:1], os.Getenv(childEnv+"_COMMAND"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := platform.Main(ctx, orgsvc.Spec(), os.Stdout)
	stop()
	os.Exit(code)
}

// runRotate runs `org rotate` as the operator would, with keys as ORGPLANE_CREDENTIAL_KEYS, and
// returns what it logged: its summary's fields, and all of its output.
func runRotate(t *testing.T, dbURL, keys string) (map[string]any, string) {
	t.Helper()
	summary, out, err := tryRotate(t, dbURL, keys)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	return summary, out
}

// tryRotate is runRotate for a command that may fail.
func tryRotate(t *testing.T, dbURL, keys string) (map[string]any, string, error) {
	t.Helper()
	identityKey := make([]byte, 32)
	_, _ = rand.Read(identityKey)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=1m")
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_COMMAND=rotate",
		"ORGPLANE_DATABASE_URL="+dbURL,
		"ORGPLANE_IDENTITY_KEYS=test:"+base64.StdEncoding.EncodeToString(identityKey),
		"ORGPLANE_CREDENTIAL_KEYS="+keys)
	out, err := cmd.CombinedOutput()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "sealed secrets re-encrypted" {
			return line, string(out), err
		}
	}
	t.Fatalf("rotate logged no summary (%v):\n%s", err, out)
	return nil, "", nil
}

// sealedValues reads every sealed value of the org schema, by where it is.
func (o *signInOrg) sealedValues() map[string][]byte {
	o.t.Helper()
	rows, err := o.db.Query(context.Background(), `
		SELECT 'totp ' || user_id, secret_sealed FROM org.user_totp
		UNION ALL SELECT 'client secret ' || account_id, client_secret_sealed FROM org.sso_providers WHERE client_secret_sealed IS NOT NULL
		UNION ALL SELECT 'verifier ' || id, verifier_sealed FROM org.sso_flows`)
	if err != nil {
		o.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var where string
		var v []byte
		if err := rows.Scan(&where, &v); err != nil {
			o.t.Fatal(err)
		}
		out[where] = v
	}
	if err := rows.Err(); err != nil {
		o.t.Fatal(err)
	}
	return out
}

// signInWithCode signs in with a password and the TOTP code of secret, now.
func (o *signInOrg) signInWithCode(email, password, secret string) (*orgv1.SignInResponse, error) {
	o.t.Helper()
	ch := o.passwordStep(&orgv1.SignInRequest{Email: email, Password: password}, orgv1.SignInChallengeKind_SIGN_IN_CHALLENGE_KIND_TWO_STEP_CODE)
	return o.signIn.VerifySignInCode(fromGateway(clientAddress), &orgv1.VerifySignInCodeRequest{ChallengeToken: ch.GetToken(), Code: o.codeNow(secret)})
}

// TestRotateCommandResealsUnderTheNewestKey: `org rotate`, run as the operator would after
// appending a key, reseals every TOTP secret (pending enrollments too), client secret and flow
// verifier of every account under the newest key, says how many, prints no secret, and changes
// nothing when run again. The service then runs with the new key alone: two-step sign-in, an
// enrollment under way and a single sign-on started before the rotation all still work. With
// the old key alone, nothing opens.
func TestRotateCommandResealsUnderTheNewestKey(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the org service as a process")
	}
	oldKey, newKey := secrets.GenerateSpec("old"), secrets.GenerateSpec("new")
	o := startSSOOrg(t, orgsvc.WithCredentialKeys(oldKey))
	te := o.te
	o.onboard(te.account, te.ada, adaPassword)
	adaSecret, _ := o.enrollMe(o.signInAs(te.ada.GetEmail(), adaPassword).id)
	o.onboard(te.account, te.bob, bobPassword)
	bob := o.signInAs(te.bob.GetEmail(), bobPassword)
	bobEnrollment, err := o.signIn.StartTwoStepEnrollment(as(bob.id), &orgv1.StartTwoStepEnrollmentRequest{})
	if err != nil {
		t.Fatal(err)
	}
	o.setUpProvider(o.provider())
	underWay := o.signInAtIdP(&orgv1.StartSingleSignOnRequest{AccountId: te.account}, adaEmail)
	other := o.newTenant("Fabrikam IT")
	o.onboard(other.account, other.ada, adaPassword)
	otherSecret, _ := o.enrollMe(o.signInAs(other.ada.GetEmail(), adaPassword).id)

	before := o.sealedValues()
	if len(before) != 5 {
		t.Fatalf("%d sealed values before the rotation, want 5 (3 TOTP secrets, a client secret, a verifier): %v", len(before), before)
	}
	for where, v := range before {
		if secrets.KeyID(v) != "old" {
			t.Fatalf("%s is under key %q before the rotation", where, secrets.KeyID(v))
		}
	}

	summary, out := runRotate(t, o.testDB.URL, oldKey+","+newKey)
	want := map[string]float64{"accounts": 2, "totp_enrollments": 3, "sso_providers": 1, "sso_flows": 1, "already_current": 0, "unopenable": 0}
	for k, n := range want {
		if summary[k] != n {
			t.Fatalf("rotate said %s=%v, want %v: %v", k, summary[k], n, summary)
		}
	}
	if summary["key"] != "new" {
		t.Fatalf("rotate named key %v, want new", summary["key"])
	}
	_, oldMaterial, _ := strings.Cut(oldKey, ":")
	_, newMaterial, _ := strings.Cut(newKey, ":")
	for _, secret := range []string{adaSecret, otherSecret, bobEnrollment.GetSecret(), ssoSecret, oldMaterial, newMaterial} {
		if strings.Contains(out, secret) {
			t.Fatalf("the rotate command printed a secret or a key:\n%s", out)
		}
	}
	after := o.sealedValues()
	for where, v := range after {
		if secrets.KeyID(v) != "new" || bytes.Equal(v, before[where]) {
			t.Fatalf("%s is under key %q after the rotation", where, secrets.KeyID(v))
		}
	}
	if len(after) != len(before) {
		t.Fatalf("%d sealed values after the rotation, %d before", len(after), len(before))
	}

	// Again: nothing left to do, nothing touched.
	summary, _ = runRotate(t, o.testDB.URL, oldKey+","+newKey)
	if summary["already_current"] != float64(5) || summary["totp_enrollments"] != float64(0) || summary["sso_flows"] != float64(0) ||
		summary["sso_providers"] != float64(0) {
		t.Fatalf("a second rotation: %v", summary)
	}
	for where, v := range o.sealedValues() {
		if !bytes.Equal(v, after[where]) {
			t.Fatalf("a second rotation resealed %s", where)
		}
	}

	// The service restarted with the new key alone: every value still opens.
	o.clock.advance(time.Minute) // the codes of the enrollments' step are used up
	fresh := serveSignInOrg(t, o.testDB, o.clock, orgsvc.WithCredentialKeys(newKey), orgsvc.WithWebBaseURL(webBase))
	if _, err := fresh.signInWithCode(te.ada.GetEmail(), adaPassword, adaSecret); err != nil {
		t.Fatalf("two-step sign-in with only the new key: %v", err)
	}
	if _, err := fresh.signInWithCode(other.ada.GetEmail(), adaPassword, otherSecret); err != nil {
		t.Fatalf("two-step sign-in in the other account with only the new key: %v", err)
	}
	if _, err := fresh.signIn.ConfirmTwoStepEnrollment(as(bob.id), &orgv1.ConfirmTwoStepEnrollmentRequest{Code: fresh.codeNow(bobEnrollment.GetSecret())}); err != nil {
		t.Fatalf("confirming an enrollment started before the rotation: %v", err)
	}
	freshSSO := &ssoOrg{signInOrg: fresh, idp: o.idp, te: te}
	resp, err := freshSSO.complete(underWay, underWay.start.GetFlowBinding())
	if err != nil || resp.GetCurrentUser().GetUser().GetId() != te.ada.GetId() {
		t.Fatalf("a single sign-on started before the rotation: %v %v", resp, err)
	}
	again := freshSSO.signInAtIdP(&orgv1.StartSingleSignOnRequest{AccountId: te.account}, adaEmail)
	if _, err := freshSSO.complete(again, again.start.GetFlowBinding()); err != nil {
		t.Fatalf("a new single sign-on with only the new key: %v", err)
	}

	// With the old key alone, the resealed secrets do not open.
	o.clock.advance(time.Minute)
	stale := serveSignInOrg(t, o.testDB, o.clock, orgsvc.WithCredentialKeys(oldKey), orgsvc.WithWebBaseURL(webBase))
	_, err = stale.signInWithCode(te.ada.GetEmail(), adaPassword, adaSecret)
	wantCode(t, "two-step sign-in with only the old key", err, codes.Internal)
}

// TestRotateLeavesWhatNoKeyOpensAndFails: a value sealed under a key already dropped from the
// keyring cannot be resealed; rotate reseals the others, leaves it, says so and fails, so the
// operator does not take its success for leave to drop keys.
func TestRotateLeavesWhatNoKeyOpensAndFails(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the org service as a process")
	}
	dropped, kept, newest := secrets.GenerateSpec("dropped"), secrets.GenerateSpec("kept"), secrets.GenerateSpec("newest")
	o := startSignInOrg(t, orgsvc.WithCredentialKeys(dropped))
	lost := o.newTenant("Contoso MSP")
	o.onboard(lost.account, lost.ada, adaPassword)
	o.enrollMe(o.signInAs(lost.ada.GetEmail(), adaPassword).id)
	later := serveSignInOrg(t, o.testDB, o.clock, orgsvc.WithCredentialKeys(kept))
	fine := later.newTenant("Fabrikam IT")
	later.onboard(fine.account, fine.ada, adaPassword)
	secret, _ := later.enrollMe(later.signInAs(fine.ada.GetEmail(), adaPassword).id)

	summary, out, err := tryRotate(t, o.testDB.URL, kept+","+newest)
	if err == nil || !strings.Contains(out, "1 sealed values opened under no key") || !strings.Contains(out, lost.ada.GetId()) {
		t.Fatalf("rotate with a value under a dropped key: %v\n%s", err, out)
	}
	if summary["totp_enrollments"] != float64(1) || summary["unopenable"] != float64(1) {
		t.Fatalf("rotate said %v, want one resealed and one unopenable", summary)
	}
	ids := map[string]string{}
	for where, v := range o.sealedValues() {
		ids[where] = secrets.KeyID(v)
	}
	if ids["totp "+lost.ada.GetId()] != "dropped" || ids["totp "+fine.ada.GetId()] != "newest" {
		t.Fatalf("keys after the rotation: %v", ids)
	}
	o.clock.advance(time.Minute)
	fresh := serveSignInOrg(t, o.testDB, o.clock, orgsvc.WithCredentialKeys(newest))
	if _, err := fresh.signInWithCode(fine.ada.GetEmail(), adaPassword, secret); err != nil {
		t.Fatalf("the resealed secret with only the newest key: %v", err)
	}
}
