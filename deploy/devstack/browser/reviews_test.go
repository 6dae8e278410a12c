package browser_test

import (
	"net/http"
	"testing"

	"github.com/orgplane/orgplane/deploy/devstack/browser"
)

// reviewsSignIn gives the user a password through their invitation (the email's link, accepted
// through the API) and signs them in at /signin in p, as a person would, going on to next.
func reviewsSignIn(t *testing.T, s *browser.Suite, p *browser.Page, a browser.Account, userID, email, name, next string) {
	t.Helper()
	const password = "Cobol-and-compilers-1959"
	s.GivePassword(a.ID, a.AdminKey, userID, email, len(s.MailTo(email))+1, password)
	p.SignIn(email, password, name, next)
	p.WaitPath(next)
}

// An administrator creates a review and reassigns its engineer (a malformed due date is refused
// at its field first); the engineer, signed in in another browser, sees the notification arrive
// in the bell and the feed without reloading, finds it under Mine (the administrator does not),
// follows it to the review and marks it read.
func TestReviewsReassignNotifiesInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	acct := "/v1/accounts/" + a.ID
	eve, eveKey := user(t, s, a, "eve@contoso.example", "Engineer")
	s.Must(http.StatusOK, "POST", acct+"/organizations", a.AdminKey, `{"name":"Northwind Traders"}`)
	// The notification service learns the users' addresses from org's events.
	s.Settle()

	admin := s.Open(t)
	reviewsSignIn(t, s, admin, a, a.AdminID, a.AdminEmail, "Ada Admin", "/reviews")
	engineer := s.Open(t)
	reviewsSignIn(t, s, engineer, a, eve, "eve@contoso.example", "Eve Engineer", "/notifications")

	engineer.ByRole("heading", "Notifications").WaitVisible()
	engineer.WaitText("No notifications yet")
	engineer.ByRole("link", "Notifications, none unread").WaitVisible()
	engineer.Step("notifications-empty")

	admin.WaitText("No reviews yet")
	admin.Step("reviews-empty")

	// Create: the organization is found by typing part of its name.
	admin.ByRole("button", "New review").Click()
	dialog := admin.ByRole("dialog", "New review")
	dialog.ByLabel("Organization").Fill("North")
	admin.ByRole("option", "Northwind Traders").Click()
	dialog.ByLabel("Title").Fill("Quarterly alignment")
	dialog.ByLabel("vCIO due date").Fill("2026-05-01")
	admin.Step("reviews-create")
	dialog.ByRole("button", "Create review").Click()
	admin.WaitText("“Quarterly alignment” is created.")
	admin.ByRole("link", "Quarterly alignment").WaitVisible()
	admin.WaitText("Due 05/01/2026")
	admin.Step("reviews-list")

	// Reassign: the API's refusal of a malformed due date shows at that field.
	admin.ByRole("button", "Reassign Quarterly alignment").Click()
	reassign := admin.ByRole("dialog", "Reassign “Quarterly alignment”")
	due := reassign.ByLabel("Engineer due date")
	due.Fill("next week")
	reassign.ByRole("button", "Reassign").Click()
	due.WaitDescription("must be a date")
	admin.Step("reviews-reassign-refused")
	due.Fill("2026-04-15")
	reassign.ByRole("button", "Unassigned Engineer").Click()
	admin.ByRole("option", "Eve Engineer").Click()
	reassign.ByRole("button", "Reassign").Click()
	admin.WaitText("“Quarterly alignment” is reassigned.")
	admin.WaitText("Due 04/15/2026")
	admin.WaitText("Eve Engineer")
	admin.Step("reviews-reassigned")

	// The engineer's open feed and bell change by themselves.
	const title = "New review assignment: Quarterly alignment (Northwind Traders)"
	engineer.ByRole("link", title).WaitVisible()
	engineer.ByRole("link", "Notifications, 1 unread").WaitVisible()
	engineer.WaitText("1 unread.")
	engineer.Step("notifications-arrived")

	// Mine (the API's assigneeId=me) shows the review to its engineer, and not to the
	// administrator, who is neither its engineer nor its vCIO.
	engineer.Goto("/reviews")
	engineer.ByRole("radio", "Mine").Click()
	engineer.ByRole("link", "Quarterly alignment").WaitVisible()
	engineer.Step("reviews-mine")
	admin.ByRole("radio", "Mine").Click()
	admin.WaitText("No reviews are assigned to you")
	admin.ByRole("link", "Quarterly alignment").WaitGone()
	admin.Step("reviews-mine-none")
	admin.ByRole("radio", "All reviews").Click()
	admin.ByRole("link", "Quarterly alignment").WaitVisible()

	// The notification leads to the review; marking it read empties the bell.
	engineer.ByRole("link", "Notifications, 1 unread").Click()
	engineer.WaitPath("/notifications")
	engineer.ByRole("button", "Mark read: "+title).Click()
	engineer.ByRole("link", "Notifications, none unread").WaitVisible()
	engineer.ByRole("button", "Mark read: "+title).WaitGone()
	engineer.Step("notifications-read")
	engineer.ByRole("link", title).Click()
	engineer.ByRole("heading", "Quarterly alignment").WaitVisible()
	engineer.WaitText("Northwind Traders")
	engineer.WaitText("Eve Engineer, due 04/15/2026")
	engineer.Step("review-detail")
	if n := s.Must(http.StatusOK, "GET", acct+"/notifications:unreadCount", eveKey, "")["unreadCount"]; n != nil && n != "0" {
		t.Errorf("after Mark read the engineer has %v unread notifications, want 0", n)
	}
}
