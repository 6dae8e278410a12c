package stack_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestMSPStory drives only the REST API, the way a new MSP would. Keep extending it as
// capabilities land.
func TestMSPStory(t *testing.T) {
	w := startWorld(t)
	// The platform operator creates the account and hands over the administrator's key.
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	key := a.adminKey

	// The administrator sets up the company.
	w.must(200, "PATCH", acct+"/settings?updateMask=companyName,timeZone,currency", key,
		`{"companyName":"Contoso Managed Services","timeZone":"America/Chicago","currency":"USD"}`)
	w.must(200, "PUT", acct+"/logo", key, `{"data":"`+base64.StdEncoding.EncodeToString(pngOf(600, 200))+`"}`)
	settings := w.must(200, "GET", acct+"/settings", key, "")
	if settings["companyName"] != "Contoso Managed Services" || settings["hasLogo"] != true {
		t.Fatalf("settings = %v", settings)
	}
	if r := w.do("GET", acct+"/logo", key, ""); r.code != 200 || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("logo: %d %v", r.code, r.header)
	}

	// Adds an engineer and a vCIO.
	engineer := w.must(200, "POST", acct+"/users", key,
		fmt.Sprintf(`{"firstName":"Erin","lastName":"Engineer","email":"erin@contoso.example","roleId":"%s"}`, w.roleID(a, "Engineer")))["id"].(string)
	vcio := w.must(200, "POST", acct+"/users", key,
		fmt.Sprintf(`{"firstName":"Victor","lastName":"Vcio","email":"victor@contoso.example","roleId":"%s"}`, w.roleID(a, "vCIO")))["id"].(string)

	// Creates a custom role and an API key with it for a script.
	role := w.must(200, "POST", acct+"/roles", key,
		`{"name":"Onboarding script","permissions":{"organizations":"PERMISSION_LEVEL_FULL","reviews":"PERMISSION_LEVEL_FULL","subscription":"PERMISSION_LEVEL_READ_ONLY"}}`)
	script := w.must(200, "POST", acct+"/apiKeys", key, fmt.Sprintf(`{"name":"onboarding","roleId":"%s"}`, role["id"]))["secret"].(string)

	// The script creates organizations and a sub-organization.
	parent := w.createOrg(a, script, fmt.Sprintf(`{"name":"Northwind Traders","defaultEngineerId":"%s","defaultVcioId":"%s"}`, engineer, vcio))
	w.createOrg(a, script, fmt.Sprintf(`{"name":"Northwind Traders - Seattle","parentId":"%s"}`, parent["id"]))
	tailspin := w.createOrg(a, script, `{"name":"Tailspin Toys"}`)

	// Searches as the user types.
	found := w.must(200, "GET", acct+"/organizations?query=northw", script, "")
	if found["totalSize"] != "2" {
		t.Fatalf("search = %v", found)
	}

	// Deactivates one and tries to bring it back at once.
	w.must(200, "POST", acct+"/organizations/"+tailspin["id"].(string)+":deactivate", script, `{}`)
	r := w.do("POST", acct+"/organizations/"+tailspin["id"].(string)+":reactivate", script, `{}`)
	if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "12 months") {
		t.Fatalf("immediate reactivation: %d %s", r.code, r.body)
	}

	// Creates a review and reassigns it.
	review := w.must(200, "POST", acct+"/reviews", script, fmt.Sprintf(`{"organizationId":"%s","title":"Q1 alignment"}`, parent["id"]))
	if review["engineerId"] != engineer || review["vcioId"] != vcio {
		t.Fatalf("review defaults = %v", review)
	}
	w.must(200, "POST", acct+"/reviews/"+review["id"].(string)+":reassign", script, fmt.Sprintf(`{"engineerId":"%s"}`, a.adminID))

	// Reads the license usage.
	w.subscribed(a)
	usage := w.must(200, "GET", acct+"/subscription/usage", script, "")
	if usage["used"] != float64(2) || usage["remaining"] != usage["organizationLimit"].(float64)-2 {
		t.Fatalf("usage = %v", usage)
	}
	if os.Getenv("ORGPLANE_STORY_VERBOSE") != "" {
		b, _ := json.MarshalIndent(usage, "", "  ")
		t.Logf("usage: %s", b)
	}
}
