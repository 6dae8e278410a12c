package stack_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// patchCase is one update route called without an update mask: the body names some fields
// (a nested one where the resource has nested messages), and everything else must stay.
type patchCase struct {
	// setup creates the resource and returns the route's path and how to read the resource back.
	setup func(w *world, a msp) (path string, read func() map[string]any)
	token func(a msp) string
	body  string
}

// findByID reads a list and returns its member with id.
func findByID(w *world, path, key, list, id string) map[string]any {
	w.t.Helper()
	for _, v := range w.must(200, "GET", path, key, "")[list].([]any) {
		if m := v.(map[string]any); m["id"] == id {
			return m
		}
	}
	w.t.Fatalf("%s lists no %s", path, id)
	return nil
}

func adminToken(a msp) string { return a.adminKey }

var patchCases = map[string]patchCase{
	"UpdateOrganization": {token: adminToken, body: `{"notes":"changed"}`,
		setup: func(w *world, a msp) (string, func() map[string]any) {
			id := w.createOrg(a, a.adminKey, `{"name":"Patched","notes":"first"}`)["id"].(string)
			path := "/v1/accounts/" + a.id + "/organizations/" + id
			return path, func() map[string]any { return w.must(200, "GET", path, a.adminKey, "") }
		}},
	"UpdateGroup": {token: adminToken, body: `{"color":"#00ff00"}`,
		setup: func(w *world, a msp) (string, func() map[string]any) {
			id := w.must(200, "POST", "/v1/accounts/"+a.id+"/groups", a.adminKey, `{"name":"East","color":"#ff0000"}`)["id"].(string)
			return "/v1/accounts/" + a.id + "/groups/" + id, func() map[string]any {
				return findByID(w, "/v1/accounts/"+a.id+"/groups", a.adminKey, "groups", id)
			}
		}},
	"UpdateUser": {token: adminToken, body: `{"lastName":"Changed","emailPreferences":{"reviewCreated":true}}`,
		setup: func(w *world, a msp) (string, func() map[string]any) {
			id := w.must(200, "POST", "/v1/accounts/"+a.id+"/users", a.adminKey,
				`{"firstName":"Pat","lastName":"First","email":"pat@example.com","allOrganizations":true,`+
					`"emailPreferences":{"reviewAssigned":true,"reviewCreated":false}}`)["id"].(string)
			path := "/v1/accounts/" + a.id + "/users/" + id
			return path, func() map[string]any { return w.must(200, "GET", path, a.adminKey, "") }
		}},
	"UpdateRole": {token: adminToken, body: `{"permissions":{"users":"PERMISSION_LEVEL_FULL"}}`,
		setup: func(w *world, a msp) (string, func() map[string]any) {
			id := w.must(200, "POST", "/v1/accounts/"+a.id+"/roles", a.adminKey,
				roleBody(w.t.(*testing.T), "Dispatcher", orgv1.PermissionLevel_PERMISSION_LEVEL_READ_ONLY, "organizations", "reviews"))["id"].(string)
			return "/v1/accounts/" + a.id + "/roles/" + id, func() map[string]any {
				return findByID(w, "/v1/accounts/"+a.id+"/roles", a.adminKey, "roles", id)
			}
		}},
	"UpdateAccountSettings": {token: adminToken, body: `{"alignmentReportTitle":"Quarterly alignment"}`,
		setup: func(w *world, a msp) (string, func() map[string]any) {
			path := "/v1/accounts/" + a.id + "/settings"
			return path, func() map[string]any { return w.must(200, "GET", path, a.adminKey, "") }
		}},
	"UpdateIntegration": {token: adminToken, body: `{"displayName":"Documentation"}`,
		setup: func(w *world, a msp) (string, func() map[string]any) {
			// A tool that does not answer (nothing listens on port 9).
			id := w.must(200, "POST", "/v1/accounts/"+a.id+"/integrations", a.adminKey,
				`{"kind":"itglue","endpoint":"http://127.0.0.1:9","credentials":{"apiKey":"patch-key"}}`)["id"].(string)
			path := "/v1/accounts/" + a.id + "/integrations/" + id
			return path, func() map[string]any {
				m := w.must(200, "GET", path, a.adminKey, "")
				// What the scheduler's refresh of a new integration changes meanwhile, not the PATCH.
				for _, k := range []string{"budget", "runningOperationId", "state", "stateMessage"} {
					delete(m, k)
				}
				return m
			}
		}},
	// A nested field: the other recipients of the same kind stay.
	"UpdateNotificationSettings": {token: adminToken, body: `{"hourlyEmailCap":250,"reviewCreated":{"addresses":["new@example.com"]}}`,
		setup: func(w *world, a msp) (string, func() map[string]any) {
			path := "/v1/accounts/" + a.id + "/notificationSettings"
			w.must(200, "PATCH", path+"?updateMask=ownershipChanged,reviewCreated,reminderQuietDays", a.adminKey,
				`{"ownershipChanged":{"addresses":["keep@example.com"]},"reviewCreated":{"userIds":["`+a.adminID+`"]},"reminderQuietDays":10}`)
			return path, func() map[string]any { return w.must(200, "GET", path, a.adminKey, "") }
		}},
	"UpdateSubscription": {token: func(msp) string { return operatorToken }, body: `{"planName":"Partner plan"}`,
		setup: func(w *world, a msp) (string, func() map[string]any) {
			path := w.subscribed(a)
			return path, func() map[string]any { return w.must(200, "GET", path, operatorToken, "") }
		}},
}

// leaves flattens a JSON object into dotted paths and the JSON of each leaf (arrays are leaves).
func leaves(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			leaves(prefix+k+".", x, out)
		}
		return
	}
	b, _ := json.Marshal(v)
	out[strings.TrimSuffix(prefix, ".")] = string(b)
}

// Issue 12: PATCH /roles/{id} without updateMask failed with 400 (the mask grpc-gateway derives
// from the body names permissions.users, which was refused). Every PATCH route, read from the
// protos, is called without a mask: exactly the fields in the body change.
func TestPatchWithoutMaskChangesExactlyTheFieldsInTheBody(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	var routes []string
	for _, r := range matrixRoutes(t) {
		if r.verb == "PATCH" {
			routes = append(routes, r.rpc)
		}
	}
	sort.Strings(routes)
	if len(routes) == 0 {
		t.Fatal("no PATCH routes found")
	}
	for _, rpc := range routes {
		c, ok := patchCases[rpc]
		if !ok {
			t.Errorf("PATCH route of %s has no case in patchCases: add one", rpc)
			continue
		}
		path, read := c.setup(w, a)
		before := map[string]string{}
		leaves("", read(), before)
		r := w.do("PATCH", path, c.token(a), c.body)
		if r.code != 200 {
			t.Errorf("%s: PATCH %s without a mask = %d %s", rpc, path, r.code, r.body)
			continue
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(c.body), &body); err != nil {
			t.Fatal(err)
		}
		sent := map[string]string{}
		leaves("", body, sent)
		after := map[string]string{}
		leaves("", read(), after)
		for k, v := range after {
			switch {
			case sent[k] != "":
				if v != sent[k] {
					t.Errorf("%s: %s = %s after the PATCH, want %s", rpc, k, v, sent[k])
				}
			case strings.Contains(strings.ToLower(k), "update"), strings.Contains(strings.ToLower(k), "etag"):
				// when it changed, not what
			case v != before[k]:
				t.Errorf("%s: %s changed from %s to %s though the body did not name it", rpc, k, before[k], v)
			}
		}
		for k := range sent {
			if _, ok := after[k]; !ok {
				t.Errorf("%s: %s missing after the PATCH", rpc, k)
			}
		}
	}
}
