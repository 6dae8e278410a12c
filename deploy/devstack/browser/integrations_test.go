package browser_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"

	"github.com/orgplane/orgplane/deploy/devstack/browser"
	"github.com/orgplane/orgplane/deploy/simulators"
)

// integrationsSignIn signs the account's administrator in, in the browser, through the
// invitation email (the only way a person gets a password), and leaves the tab signed in.
func integrationsSignIn(t *testing.T, s *browser.Suite, a browser.Account) *browser.Page {
	t.Helper()
	// The notification service learns the administrator's address from org's events.
	s.Settle()
	s.Must(http.StatusOK, "POST", "/v1/accounts/"+a.ID+"/users/"+a.AdminID+":invite", a.AdminKey, "{}")
	p := s.Open(t)
	const password = "Integrations-and-orphans-2026"
	p.AcceptInvitation(s.LinkIn(s.WaitMail(a.AdminEmail, 1), "/invitations/accept"), password)
	p.SignIn(a.AdminEmail, password, "Ada Admin", "")
	p.A11y()
	return p
}

// integrationsSimulator calls a simulator's control API (not part of any vendor's API).
func integrationsSimulator(t *testing.T, method, url, body string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s = %d", method, url, resp.StatusCode)
	}
}

// integrationByKind is the account's integration of kind, read through the API.
func integrationByKind(t *testing.T, s *browser.Suite, a browser.Account, kind string) map[string]any {
	t.Helper()
	list, _ := s.Must(http.StatusOK, "GET", "/v1/accounts/"+a.ID+"/integrations", a.AdminKey, "")["integrations"].([]any)
	for _, i := range list {
		if i := i.(map[string]any); i["kind"] == kind {
			return i
		}
	}
	t.Fatalf("the account has no %s integration", kind)
	return nil
}

// The MSP connects IT Glue and ConnectWise from the Integrations page: a missing credential is
// refused at its field, a wrong key is rejected by the tool and fixed through Edit (leaving the
// other credentials as they are), and refreshes show their progress until they end. Then a
// mapped ConnectWise company is deleted in ConnectWise: the next refresh makes it an orphan,
// Manage Data lists it and unlinks it, and the sync settings preview what a scope takes in.
func TestIntegrationsConnectRefreshAndOrphansInTheBrowser(t *testing.T) {
	// 24 companies: the simulated ConnectWise flags every 25th deleted, and this test wants its
	// only orphan to be the one it deletes.
	s := browser.StartSuite(t, browser.Options{SimulatorCompanies: 24})
	a := s.NewAccount("Contoso MSP", "ada@contoso.example")
	acct := "/v1/accounts/" + a.ID
	p := integrationsSignIn(t, s, a)

	p.ByRole("link", "Integrations").Click()
	p.WaitPath("/integrations")
	p.ByRole("heading", "Integrations").WaitVisible()
	p.ByRole("button", "Connect IT Glue").WaitVisible()
	p.Step("integrations-none-connected")

	// IT Glue: the API's refusal of a missing key shows at the field.
	p.ByRole("button", "Connect IT Glue").Click()
	p.ByLabel("Endpoint").Fill(s.Sims.ITGlue.URL)
	p.ByRole("button", "Connect IT Glue").Click()
	p.ByLabel("API key").WaitDescription("apiKey is required for IT Glue")
	p.Step("integrations-itglue-missing-key")

	// A wrong key is stored (creating does not call the tool); the test shows the tool's refusal.
	p.ByLabel("API key").Fill("itg-not-the-key")
	p.Press(kb.Enter)
	p.WaitText("IT Glue is connected. Test the connection")
	p.ByRole("button", "Test the connection to IT Glue").Click()
	p.WaitText("The test failed:")
	p.WaitText("Credentials rejected")
	p.Step("integrations-itglue-rejected")
	if strings.Contains(p.HTML(), "itg-not-the-key") {
		t.Fatal("the page shows the API key after saving it")
	}

	// Edit: the key field is empty (write-only) and says it is set; the right key fixes it.
	p.ByRole("button", "Edit IT Glue").Click()
	if v := p.ByLabel("API key").Value(); v != "" {
		t.Fatalf("the edit form shows the stored API key (%d characters)", len(v))
	}
	p.ByLabel("API key").WaitDescription("leave empty to keep it")
	p.ByLabel("API key").Fill(simulators.ITGlueAPIKey)
	p.Step("integrations-itglue-edit")
	p.ByRole("button", "Save changes").Click()
	p.WaitText("IT Glue is saved.")
	p.ByRole("button", "Test the connection to IT Glue").Click()
	p.WaitText("IT Glue accepted the connection.")
	p.ByRole("button", "Refresh IT Glue").Click()
	p.WaitText("IT Glue refresh finished:")
	if itg := integrationByKind(t, s, a, "itglue"); itg["state"] != "INTEGRATION_STATE_CONNECTED" || itg["lastRefreshTime"] == nil {
		t.Fatalf("after the test and refresh in the page, IT Glue is %v, last refreshed %v", itg["state"], itg["lastRefreshTime"])
	}

	// ConnectWise, with every credential of the simulated site.
	p.ByRole("button", "Connect ConnectWise PSA").Click()
	cw := p.ByRole("form", "Connect ConnectWise PSA")
	cw.ByLabel("Endpoint").Fill(s.Sims.ConnectWise.URL)
	for label, v := range map[string]string{
		"Site": "api-na.myconnectwise.net", "Company ID": simulators.ConnectWiseCompanyID, "Public key": simulators.ConnectWisePublicKey,
		"Private key": simulators.ConnectWisePrivateKey, "Client ID": simulators.ConnectWiseClientID, "Webhook secret": simulators.WebhookSecret,
	} {
		cw.ByLabel(label).Fill(v)
	}
	p.Step("integrations-connectwise-form")
	cw.ByRole("button", "Connect ConnectWise PSA").Click()
	p.WaitText("ConnectWise PSA is connected.")
	p.ByRole("button", "Test the connection to ConnectWise PSA").Click()
	p.WaitText("ConnectWise PSA accepted the connection.")
	// A slow ConnectWise keeps the refresh on screen long enough to see its progress. (The
	// first full refresh starts on its own when an integration is made; asking while it runs
	// follows that one.)
	cwControl := s.Sims.ConnectWise.URL + "/_control"
	integrationsSimulator(t, "PUT", cwControl+"/latency", `{"latency":"1500ms"}`)
	p.ByRole("button", "Refresh ConnectWise PSA").Click()
	p.ByRole("progressbar", "Refreshing ConnectWise PSA").WaitVisible()
	p.Step("integrations-refreshing")
	p.ByRole("progressbar", "Refreshing ConnectWise PSA").WaitGone()
	p.WaitText("ConnectWise PSA refresh finished:")
	integrationsSimulator(t, "PUT", cwControl+"/latency", `{"latency":"0s"}`)
	p.Step("integrations-connected")
	p.Resize(browser.Tablet)
	p.Step("integrations-connected-tablet")
	p.Resize(browser.Desktop)

	// Map one ConnectWise company to an organization, through the API.
	integ := integrationByKind(t, s, a, "connectwise")
	cwID := integ["id"].(string)
	exts, _ := s.Must(http.StatusOK, "GET", acct+"/integrations/"+cwID+"/externalOrganizations?pageSize=1000&state=EXTERNAL_ORGANIZATION_STATE_SYNCING", a.AdminKey, "")["externalOrganizations"].([]any)
	if len(exts) < 3 {
		t.Fatalf("ConnectWise's refresh cached %d companies", len(exts))
	}
	company := exts[0].(map[string]any)
	companyID, companyName := company["externalId"].(string), company["name"].(string)
	org := s.Must(http.StatusOK, "POST", acct+"/organizations", a.AdminKey, fmt.Sprintf(`{"name":%q}`, companyName+" (Orgplane)"))["id"].(string)
	s.Settle() // mapping learns of the organization from org's events
	batch, _ := json.Marshal(map[string]any{"changes": []map[string]string{{"organizationId": org, "version": "0", "integrationId": cwID, "externalOrganizationId": companyID}}})
	s.Must(http.StatusOK, "POST", acct+"/mappings:batchSave", a.AdminKey, string(batch))
	s.Settle()

	// Delete the company in ConnectWise (its deletedFlag), then refresh in the page.
	integrationsSimulator(t, "DELETE", cwControl+"/companies/"+companyID+"?mode=flag", "")
	p.ByRole("button", "Refresh ConnectWise PSA").Click()
	p.WaitText("ConnectWise PSA refresh finished:")
	p.WaitText("1 orphaned")
	s.Settle()

	// Manage Data lists the orphan; unlinking it keeps the organization.
	p.ByRole("link", "Settings and data of ConnectWise PSA").Click()
	p.WaitPath("/integrations/" + cwID)
	p.ByRole("heading", "Manage Data").WaitVisible()
	p.ByRole("rowheader", companyName+" #"+companyID).WaitVisible()
	p.ByRole("cell", "Linked to an organization").WaitVisible()
	p.Step("integrations-orphan")
	p.ByLabel("Select " + companyName).Click()
	p.ByRole("button", "Unlink").Click()
	p.ByRole("alertdialog", "Unlink 1 orphan?").WaitVisible()
	p.Step("integrations-orphan-confirm")
	p.ByRole("alertdialog", "Unlink 1 orphan?").ByRole("button", "Unlink").Click()
	p.WaitText("Unlinked; the organization stays: 1 of 1.")
	p.WaitText("No orphans")
	p.Step("integrations-orphan-resolved")
	orphans := s.Must(http.StatusOK, "GET", acct+"/orphans", a.AdminKey, "")
	if n, _ := orphans["orphans"].([]any); len(n) != 0 {
		t.Fatalf("after unlinking in the page the account still has orphans: %v", n)
	}
	s.Must(http.StatusOK, "GET", acct+"/organizations/"+org, a.AdminKey, "")

	// Sync settings: ticking a PSA company type previews what the scope leaves out, as the API
	// counts it.
	other := ""
	for _, e := range exts[1:] {
		if e := e.(map[string]any); e["typeId"] != nil && e["typeId"] != exts[1].(map[string]any)["typeId"] {
			other = e["typeName"].(string)
		}
	}
	first := exts[1].(map[string]any)
	typeID, typeName := first["typeId"].(string), first["typeName"].(string)
	if other == "" {
		t.Fatal("the simulated ConnectWise companies all have one type; the scope preview needs two")
	}
	want := s.Must(http.StatusOK, "POST", acct+"/integrations/"+cwID+"/syncSettings:preview", a.AdminKey,
		fmt.Sprintf(`{"direction":"SYNC_DIRECTION_FROM_PSA","scope":{"psaTypeIds":[%q]}}`, typeID))
	p.ByRole("radio", "From the PSA Companies in the scope, and their changes, flow into Orgplane.").Click()
	p.ByRole("group", "PSA company types").ByLabel(typeName).Click()
	p.WaitText(fmt.Sprintf("With these settings %v cached companies sync; %v would stop syncing", want["inScope"], orZero(want["stopSyncing"])))
	p.Step("integrations-sync-preview")
	p.ByRole("button", "Save sync settings").Click()
	p.WaitText("The sync settings are saved.")
	saved := integrationByKind(t, s, a, "connectwise")["syncSettings"].(map[string]any)
	if saved["direction"] != "SYNC_DIRECTION_FROM_PSA" || !strings.Contains(fmt.Sprint(saved["scope"]), typeID) {
		t.Fatalf("the saved sync settings are %v", saved)
	}
	p.Resize(browser.Tablet)
	p.Step("integrations-detail-tablet")
	p.Resize(browser.Desktop)

	// Pausing is explained before it is confirmed, and Resume undoes it.
	p.ByRole("button", "Pause").Click()
	p.ByRole("alertdialog", "Pause this integration?").WaitVisible()
	p.WaitText("Resume picks up where it left off.")
	p.Step("integrations-pause-confirm")
	p.ByRole("alertdialog", "Pause this integration?").ByRole("button", "Pause").Click()
	p.ByRole("button", "Resume").WaitVisible()
	if integrationByKind(t, s, a, "connectwise")["paused"] != true {
		t.Fatal("the page says paused, the API does not")
	}
	p.ByRole("button", "Resume").Click()
	p.ByRole("button", "Resume").WaitGone()
	p.A11y()
	if integrationByKind(t, s, a, "connectwise")["paused"] == true {
		t.Fatal("resumed in the page, still paused in the API")
	}
}

// orZero is a JSON count that protojson leaves out when it is 0.
func orZero(v any) any {
	if v == nil {
		return 0
	}
	return v
}
