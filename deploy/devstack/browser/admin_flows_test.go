package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/orgplane/orgplane/deploy/devstack/browser"
	"github.com/orgplane/orgplane/deploy/simulators"
)

// adminUser creates a user of account a with roleID through the API and returns their id.
func adminUser(t *testing.T, s *browser.Suite, a browser.Account, first, last, email, roleID string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"firstName": first, "lastName": last, "email": email, "roleId": roleID, "allOrganizations": true})
	id, _ := s.Must(http.StatusOK, "POST", "/v1/accounts/"+a.ID+"/users", a.AdminKey, string(body))["id"].(string)
	if id == "" {
		t.Fatalf("the new user %s has no id", email)
	}
	return id
}

// evalString runs script in the page and returns its string result.
func evalString(t *testing.T, p *browser.Page, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Context(), browser.Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](script))
	if err != nil {
		t.Fatalf("evaluate %q: %v", script, err)
	}
	return v
}

// waitExternals waits until the integration's first refresh has cached the tool's
// organizations and returns them.
func waitExternals(t *testing.T, s *browser.Suite, a browser.Account, integrationID string) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, _ := s.Must(http.StatusOK, "GET", "/v1/accounts/"+a.ID+"/integrations/"+integrationID+"/externalOrganizations?pageSize=1000", a.AdminKey, "")["externalOrganizations"].([]any)
		if len(got) > 0 {
			out := make([]map[string]any, 0, len(got))
			for _, e := range got {
				out = append(out, e.(map[string]any))
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("integration %s cached no organizations within 2 minutes", integrationID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A user who manages users and roles, but only reads integrations and has no subscription
// access, tries in the page to make a role with Integrations: Full and to give another user the
// IT Provider Admin role. The API refuses both; each page says why in words, and the API shows
// that nothing was saved.
func TestAdminFlowsCallerNeverGrantsMoreThanItHoldsInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	acct := "/v1/accounts/" + a.ID

	// The manager's role covers the Engineer role (so they may change an engineer's role at
	// all) but not IT Provider Admin, nor any write on integrations or the subscription.
	manager := s.Must(http.StatusOK, "POST", acct+"/roles", a.AdminKey, `{"name":"User manager","permissions":{
		"organizations":"PERMISSION_LEVEL_READ_ONLY","reviews":"PERMISSION_LEVEL_FULL","users":"PERMISSION_LEVEL_FULL",
		"roles":"PERMISSION_LEVEL_FULL","integrations":"PERMISSION_LEVEL_READ_ONLY","mappings":"PERMISSION_LEVEL_READ_ONLY",
		"groups":"PERMISSION_LEVEL_READ_ONLY"}}`)["id"].(string)
	engineer, _ := roleID(s, a, "Engineer")
	admin, _ := roleID(s, a, "IT Provider Admin")
	if engineer == "" || admin == "" {
		t.Fatal("the account lacks its built-in Engineer or IT Provider Admin role")
	}
	mona := adminUser(t, s, a, "Mona", "Manager", "mona@contoso.example", manager)
	eve := adminUser(t, s, a, "Eve", "Engineer", "eve@contoso.example", engineer)
	const password = "Mona-manages-users-2026"
	s.GivePassword(a.ID, a.AdminKey, mona, "mona@contoso.example", 1, password)

	p := s.Open(t)
	p.SignIn("mona@contoso.example", password, "Mona Manager", "/settings/roles")
	p.WaitPath("/settings/roles")
	p.ByRole("heading", "Roles").WaitVisible()
	p.ByRole("rowheader", "User manager").WaitVisible()
	p.Step("manager-roles")

	// A role with Integrations: Full, which the manager only reads.
	p.ByRole("button", "New role").Click()
	p.ByLabel("Role name").Fill("Integrator")
	p.ByLabel("Users: Read-only").Click()
	p.ByLabel("Integrations: Full").Click()
	p.ByLabel("Subscription: Read-only").Click()
	p.ByRole("button", "Create role").Click()
	p.WaitText("This would grant more than you hold")
	p.WaitText("integrations: Full (you hold Read-only)")
	p.WaitText("subscription: Read-only (you hold None)")
	if strings.Contains(p.Text(), "users: Read-only") {
		t.Error("the refusal names Users, which the manager holds in full")
	}
	p.Step("manager-role-refused")
	if id, _ := roleID(s, a, "Integrator"); id != "" {
		t.Fatal("the refused role was saved")
	}
	// Within what the manager holds, the same form saves.
	p.ByLabel("Integrations: Read-only").Click()
	p.ByLabel("Subscription: None").Click()
	p.ByRole("button", "Create role").Click()
	p.WaitText("The role Integrator is created.")
	if id, _ := roleID(s, a, "Integrator"); id == "" {
		t.Fatal("the page says Integrator is created, the API does not list it")
	}

	// Giving Eve the IT Provider Admin role, above the manager's own.
	p.Goto("/settings/users/" + eve)
	p.ByRole("heading", "Eve Engineer").WaitVisible()
	p.Step("manager-user")
	choose(t, p, "Role", "IT", admin)
	p.ByRole("button", "Save user").Click()
	p.ByLabel("Role").WaitDescription("This would grant more than you hold")
	p.ByLabel("Role").WaitDescription("account_settings: Full (you hold None)")
	p.Step("manager-user-refused")
	got := s.Must(http.StatusOK, "GET", acct+"/users/"+eve, a.AdminKey, "")
	if got["roleId"] != engineer {
		t.Fatalf("after the refusal Eve's role is %v, want Engineer (%s)", got["roleId"], engineer)
	}
}

// Ted turns on two-step verification on My account; signing in then asks for a code. An
// administrator resets it from Ted's page in Users, after a confirmation; Ted then signs in with
// his password alone.
func TestAdminFlowsResetTwoStepVerificationInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	engineer, _ := roleID(s, a, "Engineer")
	ted := adminUser(t, s, a, "Ted", "Tester", "ted@contoso.example", engineer)
	const tedPassword = "Ted-tests-two-steps-9"
	s.GivePassword(a.ID, a.AdminKey, ted, "ted@contoso.example", 1, tedPassword)

	// Each browser opened clears the test's screenshots: both open before the first one.
	tp := s.Open(t)
	p := signInAdmin(t, s, a)

	tp.SignIn("ted@contoso.example", tedPassword, "Ted Tester", "/account")
	tp.WaitPath("/account")
	tp.ByRole("heading", "My account").WaitVisible()
	tp.ByRole("button", "Set up two-step verification").Click()
	tp.ByLabel("Code from the app").WaitVisible()
	tp.Step("ted-two-step-setup")
	secret := strings.ReplaceAll(evalString(t, tp, `document.querySelector("code.secret")?.textContent ?? ""`), " ", "")
	if secret == "" {
		t.Fatal("the setup shows no key to type")
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tp.ByLabel("Code from the app").Fill(code)
	tp.ByRole("button", "Turn on two-step verification").Click()
	tp.ByRole("heading", "Save your recovery codes").WaitVisible()
	tp.ByRole("checkbox", "I have saved these codes").Click()
	tp.ByRole("button", "Done").Click()
	tp.WaitText("Two-step verification is on.")
	tp.Step("ted-two-step-on")

	// Signing in again asks for a code after the password.
	tp.ByRole("button", "User menu (Ted Tester)").Click()
	tp.ByRole("menuitem", "Sign out").Click()
	tp.WaitText("You are signed out.")
	tp.ByLabel("Email").Fill("ted@contoso.example")
	tp.ByLabel("Password").Fill(tedPassword)
	tp.ByRole("button", "Sign in").Click()
	tp.ByLabel("Code from your authenticator app").WaitVisible()
	tp.Step("ted-asked-for-code")

	// The administrator resets it from Ted's page, after confirming.
	p.Goto("/settings/users")
	p.ByRole("link", "Ted Tester").WaitVisible()
	p.A11y()
	p.ByRole("link", "Ted Tester").Click()
	p.WaitPath("/settings/users/" + ted)
	p.ByRole("heading", "Ted Tester").WaitVisible()
	p.Step("admin-ted")
	p.ByRole("button", "Reset two-step verification").Click()
	dialog := p.ByRole("alertdialog", "Reset two-step verification of Ted Tester?")
	dialog.WaitVisible()
	p.Step("admin-reset-confirm")
	dialog.ByRole("button", "Reset").Click()
	p.WaitText("Two-step verification is reset and their sessions are closed.")
	p.Step("admin-reset-done")

	// The password alone now signs Ted in; his account says two-step verification is off.
	tp.Goto("/signin")
	tp.ByRole("heading", "Sign in").WaitVisible()
	tp.A11y()
	tp.SignIn("ted@contoso.example", tedPassword, "Ted Tester", "/account")
	tp.WaitPath("/account")
	tp.WaitText("Two-step verification is off.")
	tp.Step("ted-signed-in-without-code")
}

// An IT Glue company is mapped to an organization; disconnecting IT Glue with its data, from
// its Manage data page, after a confirmation, removes the integration and the IT Glue column
// of the Setup Organizations grid, with the mapping; the Autotask column stays. The
// organization made in Orgplane (not by the sync) stays too.
func TestAdminFlowsDisconnectAndDeleteDataInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: 6})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	acct := "/v1/accounts/" + a.ID
	body, _ := json.Marshal(map[string]any{"kind": "itglue", "endpoint": s.Sims.ITGlue.URL, "credentials": map[string]string{"apiKey": simulators.ITGlueAPIKey}})
	in := s.Must(http.StatusOK, "POST", acct+"/integrations", a.AdminKey, string(body))
	itg := in["id"].(string)
	name, _ := in["displayName"].(string)
	if name == "" {
		name = "IT Glue"
	}
	// Autotask stays connected, so the grid keeps a column to tell the IT Glue one's absence from.
	body, _ = json.Marshal(map[string]any{"kind": "autotask", "endpoint": s.Sims.Autotask.URL, "credentials": map[string]string{
		"apiUser": simulators.AutotaskAPIUser, "secret": simulators.AutotaskSecret, "integrationCode": simulators.AutotaskIntegrationCode}})
	autotask, _ := s.Must(http.StatusOK, "POST", acct+"/integrations", a.AdminKey, string(body))["displayName"].(string)
	if autotask == "" {
		autotask = "Autotask"
	}
	ext := waitExternals(t, s, a, itg)[0]
	extID, extName := ext["externalId"].(string), ext["name"].(string)
	const orgName = "Fabrikam Dental"
	org := s.Must(http.StatusOK, "POST", acct+"/organizations", a.AdminKey, fmt.Sprintf(`{"name":%q}`, orgName))["id"].(string)
	s.Settle() // mapping learns of the organization from org's events
	batch, _ := json.Marshal(map[string]any{"changes": []map[string]string{{"organizationId": org, "version": "0", "integrationId": itg, "externalOrganizationId": extID}}})
	s.Must(http.StatusOK, "POST", acct+"/mappings:batchSave", a.AdminKey, string(batch))
	s.Settle()

	p := signInAdmin(t, s, a)
	p.Goto("/setup-organizations")
	p.ByRole("grid", "Organizations and their mappings").WaitVisible()
	p.ByRole("button", name+" for "+orgName+": "+extName).WaitVisible()
	p.Step("grid-mapped")

	p.Goto("/integrations")
	p.ByRole("link", "Settings and data of "+name).Click()
	p.WaitPath("/integrations/" + itg)
	p.ByRole("heading", "Pause or disconnect").WaitVisible()
	p.Step("manage-data")
	p.ByRole("button", "Disconnect and delete its organizations").Click()
	dialog := p.ByRole("alertdialog", "Disconnect and delete its organizations?")
	dialog.WaitVisible()
	p.WaitText("This cannot be undone.")
	p.Step("disconnect-confirm")
	dialog.ByRole("button", "Disconnect and delete its organizations").Click()
	p.WaitPath("/integrations")
	p.ByRole("button", "Connect IT Glue").WaitVisible()
	p.ByRole("link", "Settings and data of "+name).WaitGone()
	p.Step("disconnected")

	if r := s.Call("GET", acct+"/integrations/"+itg, a.AdminKey, ""); r.Code != http.StatusNotFound {
		t.Fatalf("after disconnecting, IT Glue answers %d: %s", r.Code, r.Body)
	}
	s.Settle() // mapping drops the integration's links from integration-sync's events
	p.Goto("/setup-organizations")
	p.ByRole("grid", "Organizations and their mappings").WaitVisible()
	p.ByRole("rowheader", orgName).WaitVisible()
	p.ByRole("button", autotask+" for "+orgName+": Not mapped").WaitVisible()
	p.ByRole("button", name+" for "+orgName+": "+extName).WaitGone()
	if n := p.ByRole("columnheader", "").Count(); n != 2 {
		t.Errorf("the grid has %d columns after disconnecting IT Glue, want 2 (organizations and %s)", n, autotask)
	}
	if strings.Contains(p.ByRole("grid", "Organizations and their mappings").Text(), name) {
		t.Errorf("the grid still names %s after it was disconnected", name)
	}
	p.Step("grid-after-disconnect")
	for _, c := range setupGrid(t, s, a)[orgName].Cells {
		if c.IntegrationID == itg {
			t.Fatalf("the grid still maps %s in the disconnected integration: %+v", orgName, c)
		}
	}
	s.Must(http.StatusOK, "GET", acct+"/organizations/"+org, a.AdminKey, "")
}

// The MSP connects Autotask from the Integrations page against the simulated Autotask, tests
// the connection and refreshes; the Setup Organizations grid then has an Autotask column.
func TestAdminFlowsConnectAutotaskInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: 6})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	const orgName = "Fabrikam Dental"
	s.Must(http.StatusOK, "POST", "/v1/accounts/"+a.ID+"/organizations", a.AdminKey, fmt.Sprintf(`{"name":%q}`, orgName))
	p := signInAdmin(t, s, a)

	p.Goto("/integrations")
	p.ByRole("heading", "Integrations").WaitVisible()
	p.ByRole("button", "Connect Autotask PSA").Click()
	form := p.ByRole("form", "Connect Autotask PSA")
	form.ByLabel("Endpoint").Fill(s.Sims.Autotask.URL)
	for label, v := range map[string]string{
		"API user": simulators.AutotaskAPIUser, "Secret": simulators.AutotaskSecret,
		"Integration code": simulators.AutotaskIntegrationCode, "Webhook secret": simulators.WebhookSecret,
	} {
		form.ByLabel(label).Fill(v)
	}
	p.Step("autotask-form")
	form.ByRole("button", "Connect Autotask PSA").Click()
	p.WaitText("Autotask PSA is connected.")
	if strings.Contains(p.HTML(), simulators.AutotaskSecret) {
		t.Fatal("the page shows the Autotask secret after saving it")
	}
	p.ByRole("button", "Test the connection to Autotask PSA").Click()
	p.WaitText("Autotask PSA accepted the connection.")
	p.ByRole("button", "Refresh Autotask PSA").Click()
	p.WaitText("Autotask PSA refresh finished:")
	p.Step("autotask-connected")
	at := integrationByKind(t, s, a, "autotask")
	if at["state"] != "INTEGRATION_STATE_CONNECTED" || at["lastRefreshTime"] == nil {
		t.Fatalf("after the test and refresh in the page, Autotask is %v, last refreshed %v", at["state"], at["lastRefreshTime"])
	}
	name, _ := at["displayName"].(string)
	if name == "" {
		name = "Autotask"
	}

	s.Settle()
	p.Goto("/setup-organizations")
	p.ByRole("grid", "Organizations and their mappings").WaitVisible()
	p.ByRole("button", name+" for "+orgName+": Not mapped").WaitVisible()
	p.ByRole("grid", "Organizations and their mappings").ByText(name).WaitVisible()
	p.Step("grid-autotask-column")
}
