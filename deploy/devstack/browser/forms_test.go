package browser_test

import (
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devstack/browser"
)

// A person who made a mistake corrects it and presses the button again with the mouse: the
// corrected form is sent. (The server's error under the field used to vanish only when the field
// lost focus, on the button's mouse down, moving the button from under the pointer: the click
// was lost. useApiForm now drops the error as the person types.)
func TestAFieldErrorThenACorrectionSubmitsWithAClick(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	p := s.Open(t)
	orgsSignIn(t, s, a, p)
	p.WaitText("No organizations yet")
	p.A11y()
	p.Goto("/organizations/new")
	name := p.ByLabel("Name")
	name.Fill(strings.Repeat("n", 256))
	p.ByRole("button", "Create organization").Click()
	name.WaitDescription("at most 255")
	p.Step("form-field-refused")
	name.Fill("Corrected Dental")
	p.ByRole("button", "Create organization").Click()
	p.WaitText("Corrected Dental is created.")
	p.Step("form-corrected-created")
}
