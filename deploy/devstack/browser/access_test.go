package browser_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devstack/browser"
)

// firstSignIn takes a user from an invitation to a signed-in session in p: the link in their
// nth email sets their password, and they sign in with it.
func firstSignIn(t *testing.T, s *browser.Suite, p *browser.Page, email string, nth int, password string) {
	t.Helper()
	p.AcceptInvitation(s.LinkIn(s.WaitMail(email, nth), "/invitations/accept"), password)
	p.ByLabel("Email").Fill(email)
	p.ByLabel("Password").Fill(password)
	p.A11y()
	p.ByRole("button", "Sign in").Click()
}

// signInAdmin invites account a's administrator and signs them in in a new browser.
func signInAdmin(t *testing.T, s *browser.Suite, a browser.Account) *browser.Page {
	t.Helper()
	// The notification service learns the administrator's address from org's events.
	s.Settle()
	s.Must(http.StatusOK, "POST", "/v1/accounts/"+a.ID+"/users/"+a.AdminID+":invite", a.AdminKey, "{}")
	p := s.Open(t)
	firstSignIn(t, s, p, a.AdminEmail, 1, "Admin-password-for-tests-1")
	p.ByRole("button", "User menu (Ada Admin)").WaitVisible()
	p.WaitLanded()
	p.A11y()
	return p
}

// choose picks the option starting with text in the select labelled label, by typing as a
// keyboard user does, and checks the select then holds want.
func choose(t *testing.T, p *browser.Page, label, text, want string) {
	t.Helper()
	sel := p.ByLabel(label)
	sel.Focus()
	p.Press(text)
	if got := sel.Value(); got != want {
		t.Fatalf("%s holds %q after typing %q, want %q", label, got, text, want)
	}
}

// roleID is the id of the role of account a named name ("" when there is none).
func roleID(s *browser.Suite, a browser.Account, name string) (string, map[string]any) {
	for _, r := range s.Must(http.StatusOK, "GET", "/v1/accounts/"+a.ID+"/roles", a.AdminKey, "")["roles"].([]any) {
		if r := r.(map[string]any); r["name"] == name {
			perms, _ := r["permissions"].(map[string]any)
			return r["id"].(string), perms
		}
	}
	return "", nil
}

// An administrator makes a custom role with the permission matrix, adds a user with it and
// invites them; the user accepts in another browser and signs in; searching users finds them.
// Then an API key: its secret shows once, works, is gone after a reload, and stops working when
// revoked. Last, deleting the role the user holds is refused with why, and an unheld role goes.
func TestAccessRolesUsersAndApiKeysInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	// Each browser opened clears the test's screenshots: both open before the first one.
	rita := s.Open(t)
	p := signInAdmin(t, s, a)

	// Roles: the built-in ones are listed; a custom role gets its matrix.
	p.Goto("/settings/roles")
	p.ByRole("heading", "Roles").WaitVisible()
	p.ByRole("rowheader", "Engineer").WaitVisible()
	p.Step("roles")
	p.ByRole("button", "New role").Click()
	p.ByLabel("Role name").Fill("Reviewer")
	p.ByLabel("Organizations: Read-only").Click()
	p.ByLabel("Reviews: Full").Click()
	p.ByLabel("Users: Read-only").Click()
	p.Step("role-matrix")
	p.ByRole("button", "Create role").Click()
	p.WaitText("The role Reviewer is created.")
	p.Step("role-created")
	reviewer, perms := roleID(s, a, "Reviewer")
	if reviewer == "" {
		t.Fatal("the page says the role is created, but the API lists no Reviewer")
	}
	for area, want := range map[string]string{"organizations": "PERMISSION_LEVEL_READ_ONLY", "reviews": "PERMISSION_LEVEL_FULL", "users": "PERMISSION_LEVEL_READ_ONLY"} {
		if perms[area] != want {
			t.Errorf("Reviewer's %s: %v, want %s (all: %v)", area, perms[area], want, perms)
		}
	}
	if lv := perms["roles"]; lv != nil && lv != "PERMISSION_LEVEL_NONE" {
		t.Errorf("Reviewer's roles level is %v, want none", lv)
	}
	// Editing shows the saved matrix; a taken name is refused and said so.
	p.ByRole("button", "Edit the role Reviewer").Click()
	p.ByLabel("Role name").Fill("Engineer")
	p.ByRole("button", "Save role").Click()
	p.WaitText("role with this name already exists")
	p.Step("role-refused")
	p.ByRole("button", "Cancel").Click()

	// Users: add one with the new role, then invite them.
	p.Goto("/settings/users")
	p.ByRole("heading", "Users").WaitVisible()
	p.ByRole("link", "Ada Admin").WaitVisible()
	p.Step("users")
	p.ByRole("link", "Add user").Click()
	p.WaitPath("/settings/users/new")
	p.ByLabel("First name").Fill("Rita")
	p.ByLabel("Last name").Fill("Reviewer")
	p.ByLabel("Email").Fill("rita@contoso.example")
	choose(t, p, "Role", "Reviewer", reviewer)
	p.Step("user-new")
	p.ByRole("button", "Add user").Click()
	p.WaitText("Rita Reviewer is added.")
	p.ByRole("heading", "Rita Reviewer").WaitVisible()
	p.Step("user")
	s.Settle() // the notification service learns Rita's address from org's events
	p.ByRole("button", "Send invitation").Click()
	p.WaitText("Invitation sent to rita@contoso.example.")

	firstSignIn(t, s, rita, "rita@contoso.example", 1, "Rita-reviews-everything-7")
	rita.ByRole("button", "User menu (Rita Reviewer)").WaitVisible()
	rita.WaitLanded()
	rita.Step("invited-user-signed-in")

	// Deactivate and reactivate Rita.
	p.ByRole("button", "Deactivate user").Click()
	p.ByRole("alertdialog", "").ByRole("button", "Deactivate").Click()
	p.WaitText("The user is deactivated.")
	p.Step("user-deactivated")
	p.ByRole("button", "Reactivate user").Click()
	p.WaitText("The user is active again.")

	// Searching users narrows the list as one types: by a part of a name or of an email.
	p.Goto("/settings/users")
	p.ByRole("link", "Ada Admin").WaitVisible()
	p.ByLabel("Search users").Fill("REVIEW")
	p.ByRole("link", "Ada Admin").WaitGone()
	p.ByRole("link", "Rita Reviewer").WaitVisible()
	p.Step("users-search")
	p.ByLabel("Search users").Fill("ada@")
	p.ByRole("link", "Rita Reviewer").WaitGone()
	p.ByRole("link", "Ada Admin").WaitVisible()
	p.ByLabel("Search users").Fill("nobody here")
	p.WaitText("No user’s name or email holds “nobody here”")
	p.Step("users-search-none")
	p.ByLabel("Search users").Fill("")
	p.ByRole("link", "Rita Reviewer").WaitVisible()
	p.ByRole("link", "Ada Admin").WaitVisible()

	// API keys: the secret shows once.
	p.Goto("/settings/api-keys")
	p.ByRole("heading", "API keys").WaitVisible()
	p.A11y()
	p.ByRole("button", "Create API key").Click()
	p.ByLabel("Name").Fill("PSA sync script")
	choose(t, p, "Role", "Reviewer", reviewer)
	p.Step("api-key-new")
	p.ByRole("button", "Create API key").Click()
	p.WaitText("You will not see this key again.")
	secret := p.ByLabel("The new API key").Value()
	if secret == "" {
		t.Fatal("no key shown")
	}
	p.Step("api-key-secret")
	s.Must(http.StatusOK, "GET", "/v1/accounts/"+a.ID+"/organizations", secret, "")
	p.Goto("/settings/api-keys")
	p.ByRole("rowheader", "PSA sync script").WaitVisible()
	if strings.Contains(p.HTML(), secret) {
		t.Error("the key's secret is still on the page after a reload")
	}
	p.WaitNoText("You will not see this key again.")
	p.Step("api-keys")
	p.ByRole("group", "Actions for PSA sync script").ByRole("button", "Revoke").Click()
	p.ByRole("alertdialog", "").ByRole("button", "Revoke").Click()
	p.WaitText("The API key PSA sync script is revoked.")
	p.Step("api-key-revoked")
	if r := s.Call("GET", "/v1/accounts/"+a.ID+"/organizations", secret, ""); r.Code != http.StatusUnauthorized {
		t.Errorf("a revoked key still answers %d", r.Code)
	}
	p.Resize(browser.Tablet)
	p.Step("api-keys-tablet")
	p.Resize(browser.Desktop)

	// Deleting roles: one Rita holds is refused, saying so (her revoked key no longer holds it);
	// one nobody holds goes.
	s.Must(http.StatusOK, "POST", "/v1/accounts/"+a.ID+"/roles", a.AdminKey, `{"name":"Temporary","permissions":{}}`)
	p.Goto("/settings/roles")
	p.ByRole("rowheader", "Temporary").WaitVisible()
	p.ByRole("group", "Actions for the role Reviewer").ByRole("button", "Delete").Click()
	confirm := p.ByRole("alertdialog", "Delete the role Reviewer?")
	confirm.ByRole("button", "Delete role").Click()
	p.WaitText(`role "Reviewer" is still held by 1 user: give the users another role before deleting it`)
	p.Step("role-delete-refused")
	confirm.ByRole("button", "Cancel").Click()
	confirm.WaitGone()
	if id, _ := roleID(s, a, "Reviewer"); id != reviewer {
		t.Fatal("the refused delete removed the role")
	}
	p.ByRole("group", "Actions for the role Temporary").ByRole("button", "Delete").Click()
	p.ByRole("alertdialog", "Delete the role Temporary?").ByRole("button", "Delete role").Click()
	p.WaitText("The role Temporary is deleted.")
	p.ByRole("rowheader", "Temporary").WaitGone()
	p.Step("role-deleted")
	if id, _ := roleID(s, a, "Temporary"); id != "" {
		t.Fatal("the page says the role is deleted, but the API still lists it")
	}
}

// Single sign-on through the stack's OpenID Connect provider: requiring it is refused while no
// provider is set up (shown at the setting), the provider is set up with its redirect URI
// shown, then required; a fresh browser signs in through the provider's own login page.
func TestAccessSingleSignOnInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	a := s.NewAccount("Contoso MSP", s.OIDCPerson.Email)
	sso := s.Open(t) // opened first: each browser opened clears the test's screenshots
	p := signInAdmin(t, s, a)

	p.Goto("/settings/security")
	p.ByRole("heading", "Security").WaitVisible()
	p.WaitText("No identity provider is set up")
	p.Step("security")
	p.ByRole("checkbox", "").First().WaitVisible()
	p.ByLabel("Require single sign-on (password sign-in stays only as an administrator's recorded break-glass)").Click()
	p.ByRole("button", "Save requirements").Click()
	p.ByRole("alertdialog", "").ByRole("button", "Save and apply").Click()
	p.WaitText("Set up the account's identity provider before requiring single sign-on")
	p.Step("security-sso-refused")

	p.ByLabel("Issuer URL").Fill(s.OIDC.Issuer)
	p.ByLabel("Client ID").Fill(s.OIDCClientID)
	p.ByLabel("Client secret").Fill(s.OIDCClientSecret)
	p.ByRole("button", "Set up the identity provider").Click()
	p.WaitText("The identity provider is saved.")
	if got, want := p.ByLabel("Redirect URI").Value(), s.GatewayURL+"/v1/singleSignOn/callback"; got != want {
		t.Errorf("the redirect URI shown is %q, want %q", got, want)
	}
	if strings.Contains(p.HTML(), s.OIDCClientSecret) {
		t.Error("the client secret is on the page after saving")
	}
	p.Step("security-provider")
	p.Resize(browser.Tablet)
	p.Step("security-tablet")
	p.Resize(browser.Desktop)

	// Requiring it ends this password session too: the browser lands on sign-in.
	p.ByRole("button", "Save requirements").Click()
	p.ByRole("alertdialog", "").ByRole("button", "Save and apply").Click()
	p.WaitPath("/signin")
	p.A11y()
	settings := s.Must(http.StatusOK, "GET", "/v1/accounts/"+a.ID+"/settings", a.AdminKey, "")
	if settings["requireSingleSignOn"] != true {
		t.Fatalf("the settings after requiring single sign-on: %v", settings)
	}

	sso.Goto("/signin")
	sso.ByLabel("Email").Fill(s.OIDCPerson.Email)
	sso.A11y()
	sso.ByRole("button", "Sign in with single sign-on").Click()
	// The provider's own page, in the browser.
	sso.WaitText("Orgplane's development identity provider")
	sso.Step("identity-provider")
	sso.ByLabel("Password").Fill(s.OIDCPerson.Password)
	sso.ByRole("button", "Sign in").Click()
	sso.ByRole("button", "User menu (Ada Admin)").WaitVisible()
	sso.WaitLanded() // the shell shows on "/" a moment before the redirect
	sso.A11y()
	sso.Goto("/account")
	sso.ByRole("heading", "My account").WaitVisible()
	sso.WaitText("Single sign-on")
	sso.Step("signed-in-through-sso")
}
