package browser_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/orgplane/orgplane/deploy/devstack/browser"
)

// orgsSignIn gives the account's administrator a password through the invitation (by the API,
// as the invitation page's form would) and signs in at /signin in the browser.
func orgsSignIn(t *testing.T, s *browser.Suite, a browser.Account, p *browser.Page) {
	t.Helper()
	const password = "Grace-Hopper-and-the-moth-1947"
	s.GivePassword(a.ID, a.AdminKey, a.AdminID, a.AdminEmail, 1, password)
	p.SignIn(a.AdminEmail, password, "Ada Admin", "")
	p.ByRole("heading", "Organizations").WaitVisible()
}

// orgsPick chooses option in the combobox labelled label, typing part of it as a person does.
func orgsPick(p *browser.Page, label, typed, option string) {
	p.ByLabel(label).Fill(typed)
	p.ByRole("option", option).Click()
	p.ByRole("option", option).WaitGone()
}

// orgsGet reads an organization through the API (nil when it is gone).
func orgsGet(t *testing.T, s *browser.Suite, a browser.Account, id string) map[string]any {
	t.Helper()
	r := s.Call("GET", "/v1/accounts/"+a.ID+"/organizations/"+id, a.AdminKey, "")
	switch r.Code {
	case http.StatusNotFound:
		return nil
	case http.StatusOK:
		return r.JSON(t)
	}
	t.Fatalf("GET organization %s = %d: %s", id, r.Code, r.Body)
	return nil
}

// orgsByName finds an organization's id by its exact name through the API.
func orgsByName(t *testing.T, s *browser.Suite, a browser.Account, name string) string {
	t.Helper()
	list := s.Must(http.StatusOK, "GET", "/v1/accounts/"+a.ID+"/organizations?query="+url.QueryEscape(name), a.AdminKey, "")
	orgs, _ := list["organizations"].([]any)
	for _, o := range orgs {
		if o := o.(map[string]any); o["name"] == name {
			return o["id"].(string)
		}
	}
	t.Fatalf("no organization named %q", name)
	return ""
}

// orgsWaitRows waits until the list's rows are the organizations named want, in that order.
func orgsWaitRows(t *testing.T, p *browser.Page, want ...string) {
	t.Helper()
	var got []string
	var err error
	for deadline := time.Now().Add(browser.Timeout); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(p.Context(), 10*time.Second)
		got, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(".orgs-table tbody th a"), (a) => a.textContent)`))
		cancel()
		if err == nil && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the list's rows are %v (%v), want %v", got, err, want)
		}
	}
}

// orgsLogo writes a small PNG for the logo upload.
func orgsLogo(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 48, 24))
	for x := range 48 {
		for y := range 24 {
			img.Set(x, y, color.RGBA{R: 29, G: 78, B: 216, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "northwind.png")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// An MSP administrator manages the client list in the browser: creates organizations (type,
// engineer, group, logo with preview) and a sub-organization, sees the API's refusal of a name
// under the field, searches and filters (the filter outlives a reload, Reset clears it), orders
// the list by a column header (by mouse and by keyboard; remembered, and reset by Reset), saves
// one edit and cancels another, deactivates a sub-organization (the page says from when it can
// be reactivated) and deletes the parent after the dialog lists the sub-organization it takes.
func TestOrganizationsInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	acct := "/v1/accounts/" + a.ID
	s.Must(http.StatusOK, "POST", acct+"/organizationTypes", a.AdminKey, `{"name":"Managed services"}`)
	vip := s.Must(http.StatusOK, "POST", acct+"/groups", a.AdminKey, `{"name":"VIP clients","color":"#1D4ED8"}`)["id"].(string)
	s.Must(http.StatusOK, "POST", acct+"/organizations", a.AdminKey, `{"name":"Contoso Retail"}`)

	p := s.Open(t)
	orgsSignIn(t, s, a, p)
	p.WaitText("Contoso Retail")
	p.WaitText("1 organization")
	p.Step("organizations-list")

	// Create, with a logo previewed before it is sent.
	p.ByRole("link", "New organization").Click()
	p.WaitPath("/organizations/new")
	p.ByRole("heading", "New organization").WaitVisible()
	p.ByLabel("Name").Fill("Northwind Traders")
	orgsPick(p, "Type", "Manag", "Managed services")
	orgsPick(p, "Engineer", "Ada", "Ada Admin")
	p.ByRole("checkbox", "VIP clients").Click()
	ctx, cancel := context.WithTimeout(p.Context(), browser.Timeout)
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(`input[type=file][name="logo"]`, []string{orgsLogo(t)})); err != nil {
		t.Fatalf("choose the logo: %v", err)
	}
	cancel()
	p.ByRole("image", "Preview of the new logo").WaitVisible()
	p.Step("organization-new")
	p.ByRole("button", "Create organization").Click()
	p.WaitText("Northwind Traders is created.")
	p.ByRole("image", "Logo of Northwind Traders").WaitVisible()
	p.Step("organization-created")
	parent := orgsByName(t, s, a, "Northwind Traders")
	got := orgsGet(t, s, a, parent)
	if got["hasLogo"] != true || got["typeId"] == nil || got["defaultEngineerId"] != a.AdminID {
		t.Errorf("the organization the page created is %v, want a logo, a type and Ada as engineer", got)
	}
	if groups, _ := got["groupIds"].([]any); len(groups) != 1 || groups[0] != vip {
		t.Errorf("the new organization's groups are %v, want [%s]", got["groupIds"], vip)
	}

	// A sub-organization, its parent found by typing part of its name.
	p.Goto("/organizations/new")
	p.ByLabel("Name").Fill("Northwind East")
	orgsPick(p, "Parent organization", "Northw", "Northwind Traders")
	p.ByRole("button", "Create organization").Click()
	p.WaitText("Northwind East is created.")
	sub := orgsByName(t, s, a, "Northwind East")
	p.Step("sub-organization-created")
	if got := orgsGet(t, s, a, sub); got["parentId"] != parent {
		t.Errorf("the sub-organization's parent is %v, want %s", got["parentId"], parent)
	}

	// The API's refusal of a name too long shows under the name.
	p.Goto("/organizations/new")
	name := p.ByLabel("Name")
	name.Fill(strings.Repeat("n", 256))
	p.ByRole("button", "Create organization").Click()
	name.WaitDescription("at most 255")
	p.Step("organization-name-refused")
	p.ByRole("link", "Cancel").Click()
	p.WaitPath("/organizations")

	// Search as one types narrows the list.
	p.WaitText("3 organizations")
	p.ByLabel("Search by name").Fill("contoso")
	p.WaitText("1 organization match")
	p.WaitNoText("Northwind Traders")
	p.Step("organizations-search")
	p.ByLabel("Search by name").Fill("")
	p.WaitText("3 organizations")

	// A filter is remembered across a reload, and Reset clears it.
	orgsPick(p, "Group", "VIP", "VIP clients")
	p.WaitText("1 organization match")
	p.WaitNoText("Contoso Retail")
	p.Goto("/organizations")
	p.WaitText("1 organization match")
	if v := p.ByLabel("Group").Value(); v != "VIP clients" {
		t.Errorf("after a reload the group filter shows %q, want VIP clients", v)
	}
	p.Step("organizations-filter-remembered")
	p.ByRole("button", "Reset").Click()
	p.WaitText("3 organizations")
	p.WaitText("Contoso Retail")

	// A column header orders the list by its column, and again the other way; the order is
	// remembered with the filters, and Reset goes back to names A to Z.
	orgsWaitRows(t, p, "Contoso Retail", "Northwind East", "Northwind Traders")
	if got := p.ByRole("columnheader", "Name").Attribute("aria-sort"); got != "ascending" {
		t.Errorf("the Name column's aria-sort is %q, want ascending", got)
	}
	p.ByRole("button", "Name").Click()
	orgsWaitRows(t, p, "Northwind Traders", "Northwind East", "Contoso Retail")
	if got := p.ByRole("columnheader", "Name").Attribute("aria-sort"); got != "descending" {
		t.Errorf("after pressing Name its column's aria-sort is %q, want descending", got)
	}
	p.Step("organizations-sorted-by-name-desc")
	// By keyboard: the Created header, newest first.
	p.ByRole("button", "Created").Focus()
	p.Press(kb.Enter)
	orgsWaitRows(t, p, "Northwind East", "Northwind Traders", "Contoso Retail")
	if name, created := p.ByRole("columnheader", "Name").Attribute("aria-sort"), p.ByRole("columnheader", "Created").Attribute("aria-sort"); name != "" || created != "descending" {
		t.Errorf("ordered by creation, aria-sort is %q on Name and %q on Created, want none and descending", name, created)
	}
	p.Goto("/organizations")
	orgsWaitRows(t, p, "Northwind East", "Northwind Traders", "Contoso Retail")
	p.Step("organizations-order-remembered")
	p.ByRole("button", "Reset").Click()
	orgsWaitRows(t, p, "Contoso Retail", "Northwind East", "Northwind Traders")

	// An edit saved, then one cancelled, which leaves the organization as it was.
	p.ByRole("link", "Northwind Traders").Click()
	p.WaitPath("/organizations/" + parent)
	p.ByLabel("Notes").Fill("Quarterly on-site visit.")
	p.ByRole("button", "Save").Click()
	p.WaitText("Saved.")
	p.Step("organization-saved")
	if got := orgsGet(t, s, a, parent); got["notes"] != "Quarterly on-site visit." {
		t.Errorf("saved notes are %q", got["notes"])
	}
	p.ByLabel("Name").Fill("Northwind Renamed")
	p.ByLabel("Notes").Fill("Never mind.")
	p.ByRole("link", "Cancel").Click()
	p.WaitPath("/organizations")
	p.WaitText("Northwind Traders")
	if got := orgsGet(t, s, a, parent); got["name"] != "Northwind Traders" || got["notes"] != "Quarterly on-site visit." {
		t.Errorf("after Cancel the organization is %q with notes %q, want it unchanged", got["name"], got["notes"])
	}

	// Deactivating says, before and after, from when it can be reactivated.
	p.Goto("/organizations/" + sub)
	p.ByRole("button", "Deactivate").Click()
	dialog := p.ByRole("alertdialog", "Deactivate Northwind East?")
	dialog.ByText(time.Now().UTC().AddDate(1, 0, 0).Format("01/02/2006")).WaitVisible()
	p.Step("organization-deactivate")
	dialog.ByRole("button", "Deactivate").Click()
	dialog.WaitGone()
	got = orgsGet(t, s, a, sub)
	deactivated, err := time.Parse(time.RFC3339Nano, fmt.Sprint(got["deactivateTime"]))
	if got["state"] != "ORGANIZATION_STATE_INACTIVE" || err != nil {
		t.Fatalf("after Deactivate the organization is %v", got)
	}
	p.WaitText(fmt.Sprintf("It can be reactivated from %s, 12 months after its deactivation.", deactivated.UTC().AddDate(1, 0, 0).Format("01/02/2006")))
	if p.ByRole("button", "Reactivate").Attribute("data-disabled") != "true" {
		t.Error("Reactivate can be pressed within 12 months of the deactivation")
	}
	p.Step("organization-deactivated")

	// Deleting the parent lists the sub-organization it takes before asking.
	p.Goto("/organizations/" + parent)
	p.ByRole("button", "Delete").Click()
	dialog = p.ByRole("alertdialog", "Delete Northwind Traders?")
	dialog.ByRole("list", "Sub-organizations deleted with it").ByText("Northwind East").WaitVisible()
	p.Step("organization-delete")
	dialog.ByRole("button", "Delete 2 organizations").Click()
	p.WaitPath("/organizations")
	p.WaitText("Northwind Traders is deleted, with 1 sub-organization.")
	if orgsGet(t, s, a, parent) != nil || orgsGet(t, s, a, sub) != nil {
		t.Error("the page said the organizations were deleted, but the API still has them")
	}
	p.WaitText("1 organization")
	p.Resize(browser.Tablet)
	p.Step("organizations-tablet")
}
