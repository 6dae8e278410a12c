package stack_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The escalation matrix, through the gateway as an attacker inside a tenant would go: each kind
// of limited credential tries to create or raise every other kind of credential, and every
// attempt is refused with 403, by the rule "no one grants more than they hold"
// (domain.Grant.Covers) or "nobody changes their own role or scope", whenever the credential
// holds the route's own permission; the administrator may still do what is not about itself.
// Then: a key works only while its creator is active and within its creator's current rights;
// and a cascading delete does not reach what its caller cannot see.

// escCred is a credential of the matrix and what it holds.
type escCred struct {
	name   string
	key    string
	roleID string // its role
	userID string // the user behind it: the one it acts as, else its owner
	// Route permissions it holds (area:write), and whether it sees every organization.
	writes  []string
	allOrgs bool
}

func (c escCred) can(perm string) bool {
	for _, w := range c.writes {
		if w == perm {
			return true
		}
	}
	return false
}

// escAttempt is one way of creating or raising a credential.
type escAttempt struct {
	name string
	perm string // the permission of its route
	// allowed is true when the attempt is no escalation for c (it grants what c holds).
	allowed func(c escCred) bool
	call    func(c escCred) response
}

func TestEscalationMatrix(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	admin := a.adminKey
	post := func(path, body string) map[string]any { return w.must(200, "POST", acct+path, admin, body) }

	east := post("/groups", `{"name":"East","color":"#3366FF"}`)["id"].(string)
	west := post("/groups", `{"name":"West","color":"#FF6633"}`)["id"].(string)
	w.createOrg(a, admin, fmt.Sprintf(`{"name":"East Client","groupIds":["%s"]}`, east))
	westOrg := w.createOrg(a, admin, fmt.Sprintf(`{"name":"West Client","groupIds":["%s"]}`, west))
	role := func(name string, levels map[string]string) string {
		p := map[string]string{}
		for area, l := range levels {
			p[area] = "PERMISSION_LEVEL_" + l
		}
		b, _ := json.Marshal(map[string]any{"name": name, "permissions": p})
		return post("/roles", string(b))["id"].(string)
	}
	adminRole := w.roleID(a, "IT Provider Admin")
	everythingFull := map[string]string{}
	everythingRO := map[string]string{}
	for _, area := range []string{"organizations", "reviews", "users", "roles", "accountSettings", "integrations", "mappings", "subscription", "apiKeys", "groups", "notifications"} {
		everythingFull[area], everythingRO[area] = "FULL", "READ_ONLY"
	}
	keysmithRole := role("Keysmith", map[string]string{"apiKeys": "FULL", "organizations": "READ_ONLY"})
	roleEditorRole := role("Role editor", map[string]string{"roles": "FULL"})
	peopleRole := role("People manager", map[string]string{"users": "FULL", "organizations": "READ_ONLY"})
	keyMgrRole := role("Key manager", map[string]string{"apiKeys": "FULL", "organizations": "FULL"})
	auditorRole := role("Auditor", everythingRO)
	scriptKey := func(name, roleID string) string {
		return post("/apiKeys", fmt.Sprintf(`{"name":"%s","roleId":"%s"}`, name, roleID))["secret"].(string)
	}
	peopleUser, peopleKey := w.keyFor(a, "people@contoso.example", "People manager", east)
	limitedUser, limitedKey := w.keyFor(a, "keys@contoso.example", "Key manager", east)
	// A peer in East, plain Engineer: the target of "raise someone else".
	peer := post("/users", fmt.Sprintf(`{"firstName":"P","lastName":"Peer","email":"peer@contoso.example","roleId":"%s","groupIds":["%s"]}`,
		w.roleID(a, "Engineer"), east))["id"].(string)

	creds := []escCred{
		{"custom role: API keys full, organizations read-only", scriptKey("keysmith", keysmithRole), keysmithRole, a.adminID,
			[]string{"api_keys:write"}, true},
		{"custom role: roles full only", scriptKey("role editor", roleEditorRole), roleEditorRole, a.adminID,
			[]string{"roles:write"}, true},
		{"group-limited user with users full", peopleKey, peopleRole, peopleUser, []string{"users:write"}, false},
		{"group-limited user's key with API keys full", limitedKey, keyMgrRole, limitedUser, []string{"api_keys:write", "organizations:write"}, false},
		{"read-only key", scriptKey("auditor", auditorRole), auditorRole, a.adminID, nil, true},
	}

	n := 0
	uniq := func() int { n++; return n }
	never := func(escCred) bool { return false }
	attempts := []escAttempt{
		{"mint a key with the IT Provider Admin role", "api_keys:write", never, func(c escCred) response {
			return w.do("POST", acct+"/apiKeys", c.key, fmt.Sprintf(`{"name":"admin %d","roleId":"%s"}`, uniq(), adminRole))
		}},
		{"mint a key acting as no one, seeing every group", "api_keys:write", func(c escCred) bool { return c.allOrgs }, func(c escCred) response {
			return w.do("POST", acct+"/apiKeys", c.key, fmt.Sprintf(`{"name":"wide %d","roleId":"%s"}`, uniq(), c.roleID))
		}},
		{"mint a key acting as the administrator", "api_keys:write", func(c escCred) bool { return c.allOrgs }, func(c escCred) response {
			return w.do("POST", acct+"/apiKeys", c.key, fmt.Sprintf(`{"name":"as admin %d","roleId":"%s","userId":"%s"}`, uniq(), c.roleID, a.adminID))
		}},
		{"create a role above its own", "roles:write", never, func(c escCred) response {
			b, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("Above %d", uniq()), "permissions": levelsJSON(everythingFull)})
			return w.do("POST", acct+"/roles", c.key, string(b))
		}},
		{"edit its own role to Full everywhere", "roles:write", never, func(c escCred) response {
			b, _ := json.Marshal(map[string]any{"permissions": levelsJSON(everythingFull)})
			return w.do("PATCH", acct+"/roles/"+c.roleID+"?updateMask=permissions", c.key, string(b))
		}},
		{"create an IT Provider Admin user with All Organizations", "users:write", never, func(c escCred) response {
			return w.do("POST", acct+"/users", c.key, fmt.Sprintf(`{"firstName":"E","lastName":"Vil","email":"evil%d@contoso.example","roleId":"%s","allOrganizations":true}`, uniq(), adminRole))
		}},
		{"create a user with its own role and All Organizations", "users:write", func(c escCred) bool { return c.allOrgs }, func(c escCred) response {
			return w.do("POST", acct+"/users", c.key, fmt.Sprintf(`{"firstName":"E","lastName":"Vil","email":"wide%d@contoso.example","roleId":"%s","allOrganizations":true}`, uniq(), c.roleID))
		}},
		{"set its own scope to All Organizations", "users:write", never, func(c escCred) response {
			return w.do("PATCH", acct+"/users/"+c.userID+"?updateMask=allOrganizations", c.key, `{"allOrganizations":true}`)
		}},
		{"set its own groups", "users:write", never, func(c escCred) response {
			return w.do("PATCH", acct+"/users/"+c.userID+"?updateMask=groupIds", c.key, fmt.Sprintf(`{"groupIds":["%s","%s"]}`, east, west))
		}},
		{"set its own role to IT Provider Admin", "users:write", never, func(c escCred) response {
			return w.do("PATCH", acct+"/users/"+c.userID+"?updateMask=roleId", c.key, fmt.Sprintf(`{"roleId":"%s"}`, adminRole))
		}},
		{"raise a peer to IT Provider Admin", "users:write", never, func(c escCred) response {
			return w.do("PATCH", acct+"/users/"+peer+"?updateMask=roleId", c.key, fmt.Sprintf(`{"roleId":"%s"}`, adminRole))
		}},
		{"give a peer All Organizations", "users:write", func(c escCred) bool { return c.allOrgs }, func(c escCred) response {
			return w.do("PATCH", acct+"/users/"+peer+"?updateMask=allOrganizations", c.key, `{"allOrganizations":true}`)
		}},
	}

	for _, c := range creds {
		for _, at := range attempts {
			t.Run(c.name+"/"+at.name, func(t *testing.T) {
				r := at.call(c)
				if c.can(at.perm) && at.allowed(c) {
					if r.code != http.StatusOK {
						t.Fatalf("not an escalation, yet %d: %s", r.code, r.body)
					}
					return
				}
				if r.code != http.StatusForbidden {
					t.Fatalf("escalation answered %d, want 403: %s", r.code, r.body)
				}
				// Holding the route's permission, only the grant rule stands in the way.
				if c.can(at.perm) && !strings.Contains(string(r.body), "GRANT_EXCEEDS_CALLER") && !strings.Contains(string(r.body), "OWN_GRANT") {
					t.Fatalf("refused, but not by the grant rules: %s", r.body)
				}
			})
		}
	}

	// Nothing refused took hold: no admin key, no wide user, the peer and the roles unchanged.
	for _, k := range w.must(200, "GET", acct+"/apiKeys", admin, "")["apiKeys"].([]any) {
		k := k.(map[string]any)
		if k["roleId"] == adminRole && k["name"] != "Initial administrator key" {
			t.Errorf("an admin key was minted: %v", k)
		}
	}
	if p := w.must(200, "GET", acct+"/users/"+peer, admin, ""); p["roleId"] == adminRole || p["allOrganizations"] == true {
		t.Errorf("the peer was raised: %v", p)
	}
	for _, u := range []string{peopleUser, limitedUser} {
		if p := w.must(200, "GET", acct+"/users/"+u, admin, ""); p["roleId"] == adminRole || p["allOrganizations"] == true || len(p["groupIds"].([]any)) != 1 {
			t.Errorf("a limited user raised itself: %v", p)
		}
	}
	for _, r := range w.must(200, "GET", acct+"/roles", admin, "")["roles"].([]any) {
		r := r.(map[string]any)
		if r["id"] == roleEditorRole && r["permissions"].(map[string]any)["organizations"] == "PERMISSION_LEVEL_FULL" {
			t.Errorf("the role editor raised its role: %v", r)
		}
	}
	// The group-limited key still sees only its group: West's organization is hidden.
	if r := w.do("GET", acct+"/organizations/"+westOrg["id"].(string), limitedKey, ""); r.code != http.StatusNotFound {
		t.Errorf("the limited key reads West's organization: %d", r.code)
	}

	// The administrator can still do all of it; "its own" role and user are here a custom role
	// and the peer's, since nobody changes their own.
	adminCred := escCred{name: "administrator", key: admin, roleID: keysmithRole, userID: peer}
	for _, at := range attempts {
		if r := at.call(adminCred); r.code != http.StatusOK {
			t.Errorf("administrator: %s = %d: %s", at.name, r.code, r.body)
		}
	}
	if r := w.do("PATCH", acct+"/roles/"+roleEditorRole+"?updateMask=permissions", admin, `{"permissions":{"roles":"PERMISSION_LEVEL_FULL","users":"PERMISSION_LEVEL_FULL"}}`); r.code != http.StatusOK {
		t.Errorf("administrator editing a custom role: %d %s", r.code, r.body)
	}
	if r := w.do("PATCH", acct+"/users/"+a.adminID+"?updateMask=roleId", admin, fmt.Sprintf(`{"roleId":"%s"}`, keysmithRole)); r.code != http.StatusForbidden ||
		!strings.Contains(string(r.body), "OWN_GRANT") {
		t.Errorf("the administrator changing its own role: %d %s", r.code, r.body)
	}
}

func levelsJSON(levels map[string]string) map[string]string {
	out := map[string]string{}
	for area, l := range levels {
		out[area] = "PERMISSION_LEVEL_" + l
	}
	return out
}

// A key works only while the person behind it is active, and only within that person's current
// rights: narrowing them narrows the key, deactivating them stops it at the next request.
func TestKeysStopAndNarrowWithTheirCreator(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	east := w.must(200, "POST", acct+"/groups", a.adminKey, `{"name":"East","color":"#3366FF"}`)["id"].(string)
	w.must(200, "POST", acct+"/roles", a.adminKey, `{"name":"Key manager","permissions":{"apiKeys":"PERMISSION_LEVEL_FULL","organizations":"PERMISSION_LEVEL_FULL"}}`)
	user, key := w.keyFor(a, "mia@contoso.example", "Key manager", east)

	// The case: the group-limited user's key mints a key acting as no one. Refused.
	if r := w.do("POST", acct+"/apiKeys", key, fmt.Sprintf(`{"name":"wide","roleId":"%s"}`, w.roleID(a, "Key manager"))); r.code != http.StatusForbidden {
		t.Fatalf("a limited key minting a key that sees every group: %d %s", r.code, r.body)
	}
	// It may mint one acting as its user, who is then behind it.
	minted := w.must(200, "POST", acct+"/apiKeys", key, fmt.Sprintf(`{"name":"minted","roleId":"%s","userId":"%s"}`, w.roleID(a, "Key manager"), user))["secret"].(string)
	w.createOrg(a, minted, fmt.Sprintf(`{"name":"East Client","groupIds":["%s"]}`, east))

	// Narrowing the user to Engineer narrows both keys at once: no more creates, reads still.
	w.must(200, "PATCH", acct+"/users/"+user+"?updateMask=roleId", a.adminKey, fmt.Sprintf(`{"roleId":"%s"}`, w.roleID(a, "Engineer")))
	for name, k := range map[string]string{"minted": minted, "minting": key} {
		if r := w.do("POST", acct+"/organizations", k, fmt.Sprintf(`{"name":"Another","groupIds":["%s"]}`, east)); r.code != http.StatusForbidden {
			t.Fatalf("the %s key of a narrowed creator creating: %d %s", name, r.code, r.body)
		}
		if r := w.do("GET", acct+"/organizations", k, ""); r.code != http.StatusOK {
			t.Fatalf("the %s key of a narrowed creator reading: %d %s", name, r.code, r.body)
		}
	}
	// Narrowing its scope narrows what they see.
	w.must(200, "PATCH", acct+"/users/"+user+"?updateMask=groupIds", a.adminKey, `{"groupIds":[]}`)
	if l := w.must(200, "GET", acct+"/organizations", minted, ""); l["totalSize"] != "0" {
		t.Fatalf("the key of a creator in no group lists %v", l)
	}
	// Deactivating the user stops both keys at their next request.
	w.must(200, "PATCH", acct+"/users/"+user+"?updateMask=setActive", a.adminKey, `{"setActive":false}`)
	for name, k := range map[string]string{"minted": minted, "minting": key} {
		if r := w.do("GET", acct+"/organizations", k, ""); r.code != http.StatusUnauthorized {
			t.Errorf("the %s key of a deactivated creator: %d %s", name, r.code, r.body)
		}
	}
}

// Deleting a parent as a group-limited writer is refused when a sub-organization is outside its
// groups, with how many and nothing about which; nothing is deleted.
func TestCascadingDeleteIsRefusedOverHiddenSubOrganizations(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	east := w.must(200, "POST", acct+"/groups", a.adminKey, `{"name":"East","color":"#3366FF"}`)["id"].(string)
	parent := w.createOrg(a, a.adminKey, fmt.Sprintf(`{"name":"Northwind","groupIds":["%s"]}`, east))
	hidden := w.createOrg(a, a.adminKey, fmt.Sprintf(`{"name":"Northwind Secret Lab","parentId":"%s"}`, parent["id"]))
	_, key := w.keyFor(a, "east@contoso.example", "vCIO", east)

	r := w.do("DELETE", acct+"/organizations/"+parent["id"].(string), key, "")
	body := string(r.body)
	if r.code != http.StatusForbidden || !strings.Contains(body, "1 of its sub-organizations") || !strings.Contains(body, "SUBTREE_NOT_VISIBLE") {
		t.Fatalf("deleting over a hidden sub-organization: %d %s", r.code, body)
	}
	if strings.Contains(body, hidden["id"].(string)) || strings.Contains(body, "Secret Lab") {
		t.Fatalf("the refusal names the hidden organization: %s", body)
	}
	for _, org := range []map[string]any{parent, hidden} {
		w.must(200, "GET", acct+"/organizations/"+org["id"].(string), a.adminKey, "")
	}
	// The administrator deletes both.
	del := w.must(200, "DELETE", acct+"/organizations/"+parent["id"].(string), a.adminKey, "")
	if ids := del["deletedOrganizationIds"].([]any); len(ids) != 2 {
		t.Fatalf("administrator's delete = %v", del)
	}
}
