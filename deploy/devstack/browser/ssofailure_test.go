package browser_test

import (
	"testing"

	"github.com/orgplane/orgplane/deploy/devstack/browser"
)

// A single sign-on return that fails (here: a callback no browser started, as when a link to it
// is opened twice or in another browser) lands on the sign-in page saying so in words, not on a
// JSON body, and the person can sign in from there.
func TestAFailedSingleSignOnReturnsToSignIn(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	p := s.Open(t)
	p.Goto("/v1/singleSignOn/callback?state=not-a-flow&code=not-a-code")
	p.WaitPath("/signin")
	p.WaitText("That single sign-on attempt expired or was already used. Start again.")
	p.ByLabel("Email").WaitVisible()
	p.Step("sso-failed")
}
