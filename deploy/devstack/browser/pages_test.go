package browser_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/orgplane/orgplane/deploy/devstack/browser"
)

// user creates a user of account a with the role named role, and an API key acting as them.
func user(t *testing.T, s *browser.Suite, a browser.Account, email, role string) (id, key string) {
	acct := "/v1/accounts/" + a.ID
	roleID := ""
	for _, r := range s.Must(http.StatusOK, "GET", acct+"/roles", a.AdminKey, "")["roles"].([]any) {
		if r := r.(map[string]any); r["name"] == role {
			roleID = r["id"].(string)
		}
	}
	if roleID == "" {
		t.Fatalf("no role %q", role)
	}
	id = s.Must(http.StatusOK, "POST", acct+"/users", a.AdminKey, fmt.Sprintf(
		`{"firstName":"Eve","lastName":"Engineer","email":%q,"roleId":%q,"allOrganizations":true}`, email, roleID))["id"].(string)
	key = s.Must(http.StatusOK, "POST", acct+"/apiKeys", a.AdminKey, fmt.Sprintf(
		`{"name":"%s's key","roleId":%q,"userId":%q}`, email, roleID, id))["secret"].(string)
	return id, key
}

// emailOn tells whether key's user gets emails of kind.
func emailOn(s *browser.Suite, a browser.Account, key, kind string) bool {
	for _, p := range s.Must(http.StatusOK, "GET", "/v1/accounts/"+a.ID+"/notificationPreferences", key, "")["preferences"].([]any) {
		if p := p.(map[string]any); p["kind"] == kind {
			return p["email"] != false
		}
	}
	return true
}

// A person unsubscribes from one kind of email with the link in it: the link opens a page that
// only asks; the button turns that kind off for them, and the page says which.
func TestUnsubscribeFromAnEmailInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	acct := "/v1/accounts/" + a.ID
	engineer, engineerKey := user(t, s, a, "eve@contoso.example", "Engineer")
	org := s.Must(http.StatusOK, "POST", acct+"/organizations", a.AdminKey, `{"name":"Northwind Traders"}`)["id"].(string)
	review := s.Must(http.StatusOK, "POST", acct+"/reviews", a.AdminKey,
		fmt.Sprintf(`{"organizationId":%q,"title":"Quarterly alignment"}`, org))["id"].(string)
	// The notification service learns the engineer's address from org's events.
	s.Settle()
	s.Must(http.StatusOK, "POST", acct+"/reviews/"+review+":reassign", a.AdminKey, fmt.Sprintf(`{"engineerId":%q}`, engineer))
	link := s.LinkIn(s.WaitMail("eve@contoso.example", 1), "/unsubscribe")

	p := s.Open(t)
	p.Goto(link)
	p.ByRole("heading", "Stop these emails?").WaitVisible()
	p.WaitText("Nothing changes until you press the button.")
	p.Step("unsubscribe-form")
	const kind = "NOTIFICATION_KIND_REVIEW_ASSIGNED"
	if !emailOn(s, a, engineerKey, kind) {
		t.Fatal("opening the link turned the emails off")
	}

	p.ByRole("button", "Unsubscribe").Click()
	p.ByRole("heading", "You are unsubscribed").WaitVisible()
	p.WaitText("You will no longer get emails about reviews assigned to you.")
	p.Step("unsubscribe-done")
	p.Resize(browser.Tablet)
	p.Step("unsubscribe-done-tablet")
	if emailOn(s, a, engineerKey, kind) {
		t.Error("the confirmation shows, but the engineer's emails about assigned reviews are still on")
	}
	for _, other := range []string{"NOTIFICATION_KIND_REVIEW_REASSIGNED", "NOTIFICATION_KIND_OWNERSHIP_CHANGED"} {
		if !emailOn(s, a, engineerKey, other) {
			t.Errorf("unsubscribing from one kind turned %s off too", other)
		}
	}

	// A link cut short is refused in plain words, on an accessible page too.
	p.Goto("/unsubscribe?token=")
	p.ByRole("heading", "This link is not valid").WaitVisible()
	p.Step("unsubscribe-invalid")
}

// The API reference at /docs/ loads in a browser and lists the API. It is Swagger UI, built by
// a third party (github.com/swaggest/swgui) and served as it comes: axe-core's findings on it
// are reported in the test's log but do not fail the run, since Orgplane cannot fix them
// without forking it; the pages Orgplane writes itself are held to the full check.
func TestAPIReferenceLoadsInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	p := s.Open(t)
	p.Goto("/docs/")
	p.WaitText("Orgplane API")
	p.ByText("/v1/accounts").First().WaitVisible()
	p.Shot("api-reference")
	vs := p.A11yReport("third-party Swagger UI")
	serious := 0
	for _, v := range vs {
		if v.Serious() {
			serious++
		}
	}
	t.Logf("axe-core on the API reference: %d rules broken, %d of them serious or critical", len(vs), serious)
}

// An administrator's first day: the invitation email's link opens the web UI, where a common
// password is refused next to the field and a good one is set; then sign-in at /signin, the
// signed-in app, My account, and sign-out, which ends the session.
func TestSignInThroughAnInvitationInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	// The notification service learns the administrator's address from org's events.
	s.Settle()
	s.Must(http.StatusOK, "POST", "/v1/accounts/"+a.ID+"/users/"+a.AdminID+":invite", a.AdminKey, "{}")
	link := s.LinkIn(s.WaitMail(a.AdminEmail, 1), "/invitations/accept")

	p := s.Open(t)
	p.Goto(link)
	p.ByRole("heading", "Welcome to Orgplane").WaitVisible()
	p.Step("invitation")

	// The server's refusal of a common password shows at the field it names.
	newPassword, confirm := p.ByLabel("New password"), p.ByLabel("Confirm the new password")
	newPassword.Fill("1qaz2wsx3edc")
	confirm.Fill("1qaz2wsx3edc")
	p.ByRole("button", "Set my password").Click()
	newPassword.WaitDescription("one of the most common passwords")
	p.Step("invitation-refused")

	const password = "Cobol-and-compilers-1959"
	newPassword.Fill(password)
	confirm.Fill(password)
	p.ByRole("button", "Set my password").Click()
	p.WaitPath("/signin")
	p.WaitText("Your password is set. Sign in with it.")
	p.ByRole("heading", "Sign in").WaitVisible()
	p.ByLabel("Email").Fill(a.AdminEmail)
	p.ByLabel("Password").Fill(password)
	p.Step("signin")
	p.ByRole("button", "Sign in").Click()

	// Signed in: the app shell with the person's menu; My account from it.
	menu := p.ByRole("button", "User menu (Ada Admin)")
	menu.WaitVisible()
	p.WaitLanded()
	p.Step("signed-in")
	menu.Click()
	p.ByRole("menuitem", "My account").Click()
	p.WaitPath("/account")
	p.ByRole("heading", "My account").WaitVisible()
	p.WaitText(a.AdminEmail)
	p.WaitText("Contoso MSP")
	p.Step("account")
	p.Resize(browser.Tablet)
	p.Step("account-tablet")
	p.Resize(browser.Desktop)

	// Signing out ends the session: the account page asks for sign-in again.
	menu.Click()
	p.ByRole("menuitem", "Sign out").Click()
	p.WaitText("You are signed out.")
	p.Goto("/account")
	p.WaitPath("/signin")
	p.ByRole("heading", "Sign in").WaitVisible()
	p.A11y()
}
