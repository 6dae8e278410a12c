package browser

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/chromedp/chromedp"
)

// People in the tests get a password the only way the API gives one, an invitation, and sign in
// at /signin as a person does. The invitation pages' own forms are driven by AcceptInvitation (and
// tested in pages_test.go); GivePassword redeems the link through the API for tests about other
// pages.

// GivePassword invites the user (userID of accountID, by key), waits for the invitation email to
// email — the nth the address receives — and sets password with its link's token through the API.
func (s *Suite) GivePassword(accountID, key, userID, email string, nth int, password string) {
	s.t.Helper()
	// The notification service learns a new user's address from org's events.
	s.Settle()
	s.Must(http.StatusOK, "POST", "/v1/accounts/"+accountID+"/users/"+userID+":invite", key, "{}")
	link, err := url.Parse(s.LinkIn(s.WaitMail(email, nth), "/invitations/accept"))
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"token": link.Query().Get("token"), "password": password})
	s.Must(http.StatusOK, "POST", "/v1/invitations:accept", "", string(body))
}

// AcceptInvitation opens an invitation link in the tab and sets password through the page's form,
// which sends the person to sign in. Both pages are checked for accessibility.
func (p *Page) AcceptInvitation(link, password string) {
	p.t.Helper()
	p.Goto(link)
	p.ByRole("heading", "Welcome to Orgplane").WaitVisible()
	p.A11y()
	p.ByLabel("New password").Fill(password)
	p.ByLabel("Confirm the new password").Fill(password)
	p.ByRole("button", "Set my password").Click()
	p.WaitPath("/signin")
	p.ByRole("heading", "Sign in").WaitVisible()
	p.A11y()
}

// SignIn signs in at /signin (next: where to go after, "" for the app's first page) and waits
// until the app greets name in its user menu.
func (p *Page) SignIn(email, password, name, next string) {
	p.t.Helper()
	if path := p.URL(); next != "" || !hasPath(path, "/signin") {
		target := "/signin"
		if next != "" {
			target += "?next=" + url.QueryEscape(next)
		}
		p.Goto(target)
		p.ByRole("heading", "Sign in").WaitVisible()
		p.A11y()
	}
	p.ByLabel("Email").Fill(email)
	p.ByLabel("Password").Fill(password)
	p.ByRole("button", "Sign in").Click()
	p.ByRole("button", "User menu ("+name+")").WaitVisible()
	p.WaitLanded()
}

// WaitLanded waits until the page has left "/" for the page it leads to and shows that page's
// heading: the shell (and its user menu) renders on "/" a moment before the redirect, and a
// check made then would judge a page nobody sees and leave the real one unchecked.
func (p *Page) WaitLanded() {
	p.t.Helper()
	p.waitFor("wait for the page after sign-in", func(ctx context.Context) (bool, error) {
		return chromedp.Run(ctx, chromedp.Evaluate[bool](`location.pathname !== "/" && !!document.querySelector("h1")`))
	})
}

func hasPath(raw, path string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Path == path
}
