package browser_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/orgplane/orgplane/deploy/devstack/browser"
)

// settingsLogo writes a small PNG for the logo upload and returns its path.
func settingsLogo(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 120, 40))
	for x := range 120 {
		for y := range 40 {
			img.Set(x, y, color.RGBA{R: 29, G: 78, B: 216, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "logo.png")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// An administrator sets the account's General settings (the date format and time zone change
// how dates show on the other pages), uploads a logo after previewing it, chooses who is told
// about new reviews and the reminder period, and reads the licenses and their usage.
func TestAccountSettingsInTheBrowser(t *testing.T) {
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: -1})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	acct := "/v1/accounts/" + a.ID
	eve, _ := user(t, s, a, "eve@contoso.example", "Engineer")
	org := s.Must(http.StatusOK, "POST", acct+"/organizations", a.AdminKey, `{"name":"Northwind Traders"}`)["id"].(string)
	review := s.Must(http.StatusOK, "POST", acct+"/reviews", a.AdminKey,
		fmt.Sprintf(`{"organizationId":%q,"title":"Quarterly alignment","engineerDueDate":"2026-03-31"}`, org))["id"].(string)
	s.Must(http.StatusOK, "PATCH", acct+"/settings", a.AdminKey, `{"timeZone":"UTC","dateFormat":"DATE_FORMAT_MM_DD_YYYY"}`)
	s.Settle()

	p := s.Open(t)
	reviewsSignIn(t, s, p, a, a.AdminID, a.AdminEmail, "Ada Admin", "/reviews/"+review)
	p.ByRole("heading", "Quarterly alignment").WaitVisible()
	p.WaitText("due 03/31/2026")
	p.WaitText("UTC")

	// General: the date format and time zone.
	p.ByRole("link", "Settings").Click()
	p.WaitPath("/settings")
	p.ByRole("heading", "Account settings: General").WaitVisible()
	p.ByRole("navigation", "Account settings").ByRole("link", "Subscription").WaitVisible()
	p.Step("settings-general")
	p.ByLabel("Company name").Fill("Contoso Managed Services")
	p.ByRole("button", "12/31/2026 Date format").Click()
	p.ByRole("option", "31/12/2026").Click()
	p.ByLabel("Time zone").Fill("Tokyo")
	p.ByRole("option", "Asia/Tokyo").Click()
	p.ByRole("button", "Save settings").Click()
	p.WaitText("The settings are saved.")
	got := s.Must(http.StatusOK, "GET", acct+"/settings", a.AdminKey, "")
	if got["companyName"] != "Contoso Managed Services" || got["timeZone"] != "Asia/Tokyo" || got["dateFormat"] != "DATE_FORMAT_DD_MM_YYYY" {
		t.Errorf("after Save the settings are %v", got)
	}

	// The logo: previewed, then uploaded and shown.
	ctx, cancel := context.WithTimeout(p.Context(), browser.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`input[type="file"]`), []string{settingsLogo(t)})); err != nil {
		t.Fatalf("choose the logo file: %v", err)
	}
	p.ByRole("image", "Preview of logo.png, not saved yet").WaitVisible()
	p.Step("settings-logo-preview")
	p.ByRole("button", "Upload logo").Click()
	p.ByRole("image", "The company logo").WaitVisible()
	if got := s.Must(http.StatusOK, "GET", acct+"/settings", a.AdminKey, ""); got["hasLogo"] != true {
		t.Errorf("the logo shows, but the settings say hasLogo = %v", got["hasLogo"])
	}
	p.Step("settings-general-saved")

	// Dates elsewhere follow the new format and zone.
	p.Goto("/reviews/" + review)
	p.WaitText("due 31/03/2026")
	p.WaitText("GMT+9")
	p.Step("settings-dates-changed")

	// Notifications: Eve hears of every new review; reminders after 14 quiet days.
	p.Goto("/settings")
	p.ByRole("navigation", "Account settings").ByRole("link", "Notifications").Click()
	p.WaitPath("/settings/notifications")
	p.ByRole("heading", "Account settings: Notifications").WaitVisible()
	p.ByLabel("Add to Assign reviews").Fill("Eve")
	p.ByRole("option", "Eve Engineer (eve@contoso.example)").Click()
	// The list stays open for adding more; Escape closes it.
	p.Press(kb.Escape)
	p.ByRole("button", "Remove Eve Engineer from Assign reviews").WaitVisible()
	p.ByLabel("Reminder period (days)").Fill("14")
	p.Step("settings-notifications")
	p.ByRole("button", "Save notification settings").Click()
	p.WaitText("The notification settings are saved.")
	if ids, _ := s.Must(http.StatusOK, "GET", acct+"/settings", a.AdminKey, "")["assignReviewsRecipientIds"].([]any); !slices.Contains(ids, any(eve)) {
		t.Errorf("assign reviews recipients are %v, want Eve (%s)", ids, eve)
	}
	if d := s.Must(http.StatusOK, "GET", acct+"/notificationSettings", a.AdminKey, "")["reminderQuietDays"]; d != float64(14) {
		t.Errorf("the reminder period is %v, want 14", d)
	}

	// Subscription: licenses and their use, at tablet size too.
	p.ByRole("navigation", "Account settings").ByRole("link", "Subscription").Click()
	p.WaitPath("/settings/subscription")
	p.ByRole("heading", "Account settings: Subscription").WaitVisible()
	p.ByRole("list", "License counts").WaitVisible()
	p.WaitText("Used (active organizations)")
	p.ByRole("heading", "Usage over the last 30 days").WaitVisible()
	p.WaitNoText("Loading the usage history")
	p.Step("settings-subscription")
	p.Resize(browser.Tablet)
	p.Step("settings-subscription-tablet")
	p.Resize(browser.Desktop)
}
