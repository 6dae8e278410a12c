package stack_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	authzv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/authz/v1"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// listRoute is a REST list route that pages with tokens, as the API document declares it.
type listRoute struct {
	op, path string
	filters  []apiParam // query parameters besides the page size and token
	// signedIn routes list a signed-in person's own items (their sessions): only a session
	// reaches them, so they are called with a cookie.
	signedIn bool
}

type apiParam struct {
	Name    string   `json:"name"`
	In      string   `json:"in"`
	Type    string   `json:"type"`
	Format  string   `json:"format"`
	Enum    []string `json:"enum"`
	Default string   `json:"default"`
}

// listRoutes reads every GET with a pageToken parameter from the gateway's API document, and
// fails if an RPC named List* with a page_token field has no such route (it would go untested).
func listRoutes(w *world) []listRoute {
	w.t.Helper()
	r := w.do("GET", "/openapi.json", "", "")
	if r.code != http.StatusOK {
		w.t.Fatalf("GET /openapi.json = %d", r.code)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string     `json:"operationId"`
			Parameters  []apiParam `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		w.t.Fatal(err)
	}
	var routes []listRoute
	for path, ops := range doc.Paths {
		op, ok := ops["get"]
		if !ok || !slices.ContainsFunc(op.Parameters, func(p apiParam) bool { return p.Name == "pageToken" }) {
			continue
		}
		lr := listRoute{op: op.OperationID, path: path}
		for _, p := range op.Parameters {
			if p.In == "query" && p.Name != "pageToken" && p.Name != "pageSize" {
				lr.filters = append(lr.filters, p)
			}
		}
		routes = append(routes, lr)
	}
	slices.SortFunc(routes, func(a, b listRoute) int { return strings.Compare(a.path, b.path) })

	var rpcs []string
	signedIn := map[string]bool{}
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "orgplane.") {
			return true
		}
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			for j := range s.Methods().Len() {
				m := s.Methods().Get(j)
				if !strings.HasPrefix(string(m.Name()), "List") || m.Input().Fields().ByName("page_token") == nil {
					continue
				}
				// A list only services may call (integration-sync's directory, which mapping
				// reads) is no REST caller's to reach: its own service's tests page it.
				caller, _, err := rpc.MethodRule(m)
				if err == nil && caller == authzv1.Caller_CALLER_SERVICE {
					continue
				}
				rpcs = append(rpcs, string(s.Name())+"_"+string(m.Name()))
				signedIn[string(s.Name())+"_"+string(m.Name())] = caller == authzv1.Caller_CALLER_SIGNED_IN_USER
			}
		}
		return true
	})
	if len(rpcs) == 0 {
		w.t.Fatal("no List RPC with a page_token is registered: the test reads the wrong registry")
	}
	for _, rpc := range rpcs {
		if !slices.ContainsFunc(routes, func(r listRoute) bool { return r.op == rpc }) {
			w.t.Errorf("%s pages with tokens but has no GET route with pageToken: this test cannot reach it", rpc)
		}
	}
	for i := range routes {
		routes[i].signedIn = signedIn[routes[i].op]
	}
	return routes
}

// startWorldWithoutEventTap is startWorld for a test that reads no events: it runs on the
// suite's own clock and needs no NATS connection of its own.
func startWorldWithoutEventTap(t *testing.T, adjust ...func(*stack.Options)) *world {
	t.Helper()
	c := &clock{now: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)}
	return &world{suite: startStack(t, func(o *stack.Options) {
		o.Clock = c.Now
		for _, f := range adjust {
			f(o)
		}
	}), clock: c}
}

// advance moves the suite's clock forward.
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// badToken requires a 400 that names pageToken (as REST clients spell it) and carries no list.
func badToken(t *testing.T, what string, r response) {
	t.Helper()
	if r.code != http.StatusBadRequest {
		t.Errorf("%s: %d %s, want 400 naming pageToken", what, r.code, truncate(r.body))
		return
	}
	var st struct {
		Details []struct {
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	}
	_ = json.Unmarshal(r.body, &st)
	for _, d := range st.Details {
		for _, v := range d.FieldViolations {
			if v.Field == "pageToken" {
				return
			}
		}
	}
	t.Errorf("%s: a 400 that does not name pageToken: %s", what, r.body)
}

// firstPage is a page's items and the token of the page after it.
func firstPage(t *testing.T, r response) ([]map[string]any, string) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("%d %s", r.code, r.body)
	}
	var items []map[string]any
	token := ""
	body := r.json(t)
	if _, grid := body["rows"]; grid {
		delete(body, "integrations") // the grid's columns, not the items it pages
	}
	for k, v := range body {
		switch v := v.(type) {
		case []any:
			for _, it := range v {
				items = append(items, it.(map[string]any))
			}
		case string:
			if k == "nextPageToken" {
				token = v
			}
		}
	}
	return items, token
}

// strings of an item: every text value in it, however deep.
func textsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, textsOf(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, textsOf(e)...)
		}
		return out
	}
	return nil
}

// Every list route that pages with tokens, read from the API document: a token opens only for
// the caller it was issued to (account, principal, visibility), on the list and with the query
// it was issued for, unaltered, for pagetoken.TTL; and it shows nothing of the item it continues
// after. Each refusal is a 400 naming page_token.
func TestPageTokensAreSealedAndBoundOnEveryListRoute(t *testing.T) {
	// Every list route is called dozens of times with the same few keys, faster than the
	// gateway's per-credential limit allows (which gatewayguards_test.go tests).
	w := startWorldWithoutEventTap(t, func(o *stack.Options) { o.RateLimit = gatewaysvc.RateLimit{PerSecond: 1e6, Burst: 1e6} })
	a, b := w.newMSP("Contoso MSP"), w.newMSP("Fabrikam IT")
	acct := "/v1/accounts/" + a.id
	group := w.must(200, "POST", acct+"/groups", a.adminKey, `{"name":"East"}`)["id"].(string)
	org := w.createOrg(a, a.adminKey, `{"name":"Contoso Plaintext Marker","groupIds":["`+group+`"]}`)["id"].(string)
	other := w.createOrg(a, a.adminKey, `{"name":"Globex","groupIds":["`+group+`"]}`)["id"].(string)
	for _, title := range []string{"Quarterly alignment", "Annual plan"} {
		w.must(200, "POST", acct+"/reviews", a.adminKey, fmt.Sprintf(`{"organizationId":"%s","title":"%s"}`, org, title))
	}
	// An integration with two cached organizations, two orphans and more than one refresh, so the
	// integration lists page too.
	sims := startSimulators(t)
	integ := pagedIntegration(w, a, sims)
	imp := pagedImport(w, a, integ)
	// Two PSA integrations syncing both ways: an organization created in both and linked in both
	// (two syncs, two links); with IT Glue, three integrations of four kinds.
	synced := pagedSyncs(w, a, sims, group)
	// Two organizations whose IT Glue twins are still free: two organizations with suggestions.
	pagedSuggestions(w, a, integ, group)
	// A second license change (the trial was the first), a second group, two organization types.
	w.must(200, "POST", acct+"/subscription:addLicenses", a.adminKey, `{"count":5}`)
	w.must(200, "POST", acct+"/groups", a.adminKey, `{"name":"North"}`)
	for _, name := range []string{"Managed", "Co-managed"} {
		w.must(200, "POST", acct+"/organizationTypes", a.adminKey, `{"name":"`+name+`"}`)
	}
	// The same role as the administrator, limited to the group that holds everything above: it
	// sees the same items, through another principal and another visibility.
	limitedUser, limitedKey := w.keyFor(a, "lim@example.com", "IT Provider Admin", group)
	// Two notifications in each one's feed (and their deliveries in the account's record): both
	// reviews' engineer becomes the group-limited user, their vCIO the administrator.
	reviews := w.must(200, "GET", acct+"/reviews", a.adminKey, "")["reviews"].([]any)
	for _, rv := range reviews {
		w.must(200, "POST", acct+"/reviews/"+rv.(map[string]any)["id"].(string)+":reassign", a.adminKey,
			fmt.Sprintf(`{"engineerId":%q,"vcioId":%q}`, limitedUser, a.adminID))
	}
	for _, rv := range reviews {
		id := rv.(map[string]any)["id"].(string)
		w.waitNotification(a, limitedKey, id)
		w.waitNotification(a, a.adminKey, id)
	}
	knownIDs := []string{org, other, group, limitedUser, a.adminID, synced}
	// A person signed in twice (two sessions to list) with the administrator's role, and
	// another person of the account, for the lists of a person's own.
	const pagerEmail, pagerPassword = "pager@example.com", "Paging through 2 sessions"
	signedInPerson := func(email, password string, sessions int) *browser {
		user := w.must(200, "POST", acct+"/users", a.adminKey, fmt.Sprintf(
			`{"firstName":"Page","lastName":"Turner","email":%q,"roleId":%q,"allOrganizations":true}`,
			email, w.roleID(a, "IT Provider Admin")))["id"].(string)
		w.giveSignIn(a, user, email, password, 1)
		var br *browser
		for range sessions {
			br = newBrowser(w.suite)
			br.mustSignIn(email, password)
		}
		return br
	}
	pager := signedInPerson(pagerEmail, pagerPassword, 2)
	otherPerson := signedInPerson("other-pager@example.com", "Another person's password", 1)

	type caller struct {
		account, key string
		b            *browser // a signed-in person's own list: the cookie, not a key
	}
	routes := listRoutes(w)
	if len(routes) < 4 {
		t.Fatalf("found %d list routes with page tokens, want at least accounts, organizations, reviews and users", len(routes))
	}
	for _, r := range routes {
		if strings.Contains(strings.NewReplacer("{accountId}", "", "{integrationId}", "", "{importId}", "", "{organizationId}", "").Replace(r.path), "{") {
			t.Fatalf("%s: teach the test the path parameters of %s", r.op, r.path)
		}
	}
	pathOf := func(r listRoute, account string) string {
		return strings.NewReplacer("{accountId}", account, "{integrationId}", integ, "{importId}", imp, "{organizationId}", synced).Replace(r.path)
	}
	// Query parameters a route needs to list two items, sent on every call unless the call sets
	// them: usage history is of a range (two days), and a page of one organization's suggestions
	// is one item when each has one.
	required := map[string]url.Values{
		"BillingService_ListUsageHistory":     {"startDate": {"2026-01-14"}, "endDate": {"2026-01-15"}},
		"MappingService_ListMatchSuggestions": {"perOrganization": {"1"}},
	}
	accountScoped := func(r listRoute) bool { return strings.Contains(r.path, "{accountId}") }
	owner := func(r listRoute) caller {
		if r.signedIn {
			return caller{b: pager}
		}
		if accountScoped(r) {
			return caller{account: a.id, key: a.adminKey}
		}
		return caller{key: operatorToken}
	}
	list := func(r listRoute, c caller, q url.Values) response {
		q = maps.Clone(q)
		for k, v := range required[r.op] {
			if !q.Has(k) {
				q[k] = v
			}
		}
		if c.b != nil {
			return c.b.do("GET", pathOf(r, c.account)+"?"+q.Encode(), "", false)
		}
		return w.do("GET", pathOf(r, c.account)+"?"+q.Encode(), c.key, "")
	}
	page := func(size int, token string) url.Values {
		q := url.Values{"pageSize": {fmt.Sprint(size)}}
		if token != "" {
			q.Set("pageToken", token)
		}
		return q
	}

	tokens := map[string]string{} // route path → the owner's token of its second page
	for _, r := range routes {
		items, token := firstPage(t, list(r, owner(r), page(1, "")))
		if token == "" || len(items) != 1 {
			t.Errorf("%s: %d items and token %q on a page of 1: seed this list with two items", r.op, len(items), token)
			continue
		}
		tokens[r.path] = token
		t.Run(r.op, func(t *testing.T) {
			// The token shows nothing of the item it continues after, in clear or base64-decoded.
			decoded := token
			for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.StdEncoding} {
				if d, err := enc.DecodeString(token); err == nil {
					decoded += "\x00" + string(d)
				}
			}
			for _, s := range textsOf(items[0]) {
				if len(s) >= 6 && strings.Contains(decoded, s) {
					t.Errorf("the token shows %q of the last item: %s", s, token)
				}
			}

			// The owner continues, at any page size (a position means the same at every size).
			for _, size := range []int{1, 2} {
				next, _ := firstPage(t, list(r, owner(r), page(size, token)))
				if len(next) == 0 || itemID(items[0]) == "" || itemID(next[0]) == itemID(items[0]) {
					t.Errorf("page size %d: the second page %v does not continue after %v", size, next, itemID(items[0]))
				}
			}

			// Another account, and (inside the account) the same role with another visibility.
			switch {
			case r.signedIn:
				// A person's own list: another person of the same account, with the same role.
				badToken(t, "another person replaying a person's token", list(r, caller{b: otherPerson}, page(1, token)))
			case accountScoped(r):
				badToken(t, "account B replaying account A's token", list(r, caller{account: b.id, key: b.adminKey}, page(1, token)))
				badToken(t, "a group-limited key replaying the administrator's token", list(r, caller{account: a.id, key: limitedKey}, page(1, token)))
			default:
				// One operator credential runs in the suite: another principal is a tenant, which
				// may be refused the route itself (403) before its token is looked at.
				if res := list(r, caller{key: a.adminKey}, page(1, token)); res.code != http.StatusForbidden {
					badToken(t, "a tenant replaying the operator's token", res)
				}
			}

			// Another list.
			for _, o := range routes {
				if o.path != r.path {
					badToken(t, "the token on "+o.op, list(o, owner(o), page(1, token)))
				}
			}

			// Another query: each filter set to a value that lists fine without the token.
			for _, f := range r.filters {
				var candidates []string
				switch {
				case len(f.Enum) > 0:
					for _, e := range f.Enum {
						if e != f.Default {
							candidates = append(candidates, e)
						}
					}
				case f.Type == "boolean":
					candidates = []string{"true"}
				case f.Type == "integer":
					candidates = []string{"2", "1"}
				case f.Name == "orderBy":
					// Not the default order ("" and "name" are the same one).
					candidates = []string{"name desc", "create_time", "update_time desc"}
				case strings.HasSuffix(f.Name, "Date"):
					candidates = []string{"2026-01-13", "2026-01-16"}
				case f.Format == "uuid" || strings.HasSuffix(f.Name, "Id") || strings.HasSuffix(f.Name, "Ids"):
					candidates = append([]string{uuid.NewString()}, knownIDs...)
				default:
					candidates = []string{"zz"}
				}
				value := ""
				for _, c := range candidates {
					q := page(1, "")
					q.Set(f.Name, c)
					if list(r, owner(r), q).code == http.StatusOK {
						value = c
						break
					}
				}
				if value == "" {
					t.Errorf("filter %s: no value of %v lists without a token: teach the test one", f.Name, candidates)
					continue
				}
				q := page(1, token)
				q.Set(f.Name, value)
				badToken(t, "the token with "+f.Name+"="+value, list(r, owner(r), q))
			}

			// Altered: a character changed at the start, the middle and the end, cut short, lengthened.
			flip := func(i int) string {
				c := "A"
				if token[i] == 'A' {
					c = "B"
				}
				return token[:i] + c + token[i+1:]
			}
			for what, bad := range map[string]string{
				"changed at the start": flip(0), "changed in the middle": flip(len(token) / 2),
				"changed at the end": flip(len(token) - 1), "cut short": token[:len(token)-4], "lengthened": token + "AAAA",
			} {
				badToken(t, "the token "+what, list(r, owner(r), page(1, bad)))
			}
		})
	}
	// The caller's visibility changes: its tokens issued before are stale.
	limited := caller{account: a.id, key: limitedKey}
	limitedTokens := map[string]string{}
	for _, r := range routes {
		if !accountScoped(r) {
			continue
		}
		if _, token := firstPage(t, list(r, limited, page(1, ""))); token != "" {
			limitedTokens[r.path] = token
		} else {
			t.Errorf("%s: the group-limited key gets no second page: seed this list in its group", r.op)
		}
	}
	west := w.must(200, "POST", acct+"/groups", a.adminKey, `{"name":"West"}`)["id"].(string)
	w.must(200, "PATCH", acct+"/users/"+limitedUser+"?updateMask=groupIds", a.adminKey,
		fmt.Sprintf(`{"groupIds":["%s","%s"]}`, group, west))
	for _, r := range routes {
		if tok, ok := limitedTokens[r.path]; ok {
			badToken(t, r.op+": a token issued before the caller's groups changed", list(r, limited, page(1, tok)))
		}
	}

	// Expiry, on the org service's clock: alive just before pagetoken.TTL, refused from then on.
	w.clock.advance(pagetoken.TTL - time.Minute)
	// The person's sessions have idled out by then; a token is the person's, not the session's,
	// so a new session continues it.
	pager.mustSignIn(pagerEmail, pagerPassword)
	for _, r := range routes {
		if tokens[r.path] == "" {
			continue
		}
		if res := list(r, owner(r), page(1, tokens[r.path])); res.code != http.StatusOK {
			t.Errorf("%s: a token a minute from expiry: %d %s", r.op, res.code, res.body)
		}
	}
	w.clock.advance(2 * time.Minute)
	for _, r := range routes {
		if tokens[r.path] != "" {
			badToken(t, r.op+": an expired token", list(r, owner(r), page(1, tokens[r.path])))
		}
	}
}

// itemID is a listed item's identity: every identifying field it has (its id; the organization,
// integration and tool's id of a link, sync or suggestion; a kind's name; a day's date), so that
// two items of one organization (its links, its syncs) are told apart.
func itemID(item map[string]any) string {
	var id []string
	for _, k := range []string{"id", "organizationId", "integrationId", "externalId", "externalOrganizationId", "name", "date"} {
		if v, ok := item[k].(string); ok && v != "" {
			id = append(id, k+"="+v)
		}
	}
	return strings.Join(id, " ")
}

// pagedIntegration connects a to a simulated IT Glue holding six organizations, refreshes it,
// then removes four and refreshes again, and dismisses two of the four orphans: two orphans
// listed, two sync log entries, two operations.
func pagedIntegration(w *world, a msp, sims *simulators.Set) string {
	w.t.Helper()
	var ids []int64
	for _, name := range []string{"Paged Alpha", "Paged Beta", "Paged Gamma", "Paged Delta", "Paged Epsilon", "Paged Zeta"} {
		ids = append(ids, sims.ITGlue.Sim.Store.Add(simkit.Company{Name: name, Active: true}).ID)
	}
	base := "/v1/accounts/" + a.id + "/integrations"
	integ := w.must(200, "POST", base, a.adminKey, fmt.Sprintf(`{"kind":"itglue","endpoint":%q,"credentials":{"apiKey":%q}}`,
		sims.ITGlue.URL, simulators.ITGlueAPIKey))["id"].(string)
	refresh := func() {
		// The scheduler may have started one: :refresh returns it; wait for whichever runs.
		op := w.must(200, "POST", base+"/"+integ+":refresh", a.adminKey, `{"mode":"REFRESH_MODE_FULL"}`)["id"].(string)
		deadline := time.Now().Add(30 * time.Second)
		for w.must(200, "GET", "/v1/accounts/"+a.id+"/operations/"+op, a.adminKey, "")["state"] == "OPERATION_STATE_RUNNING" {
			if time.Now().After(deadline) {
				w.t.Fatalf("refresh %s did not end", op)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	refresh()
	for _, id := range ids[:4] {
		sims.ITGlue.Sim.Store.Remove(id)
	}
	for range 5 {
		refresh()
		if w.must(200, "GET", "/v1/accounts/"+a.id+"/orphans", a.adminKey, "")["totalSize"] == "4" {
			// Two dismissed: two orphans listed, and two entries in the sync log.
			w.must(200, "POST", "/v1/accounts/"+a.id+"/orphans:resolve", a.adminKey, fmt.Sprintf(
				`{"action":"ORPHAN_ACTION_DISMISS","orphans":[{"integrationId":%q,"externalId":"%d"},{"integrationId":%q,"externalId":"%d"}]}`,
				integ, ids[0], integ, ids[1]))
			if got := w.must(200, "GET", "/v1/accounts/"+a.id+"/orphans", a.adminKey, "")["totalSize"]; got != "2" {
				w.t.Fatalf("after dismissing two of four orphans, %v listed", got)
			}
			return integ
		}
	}
	w.t.Fatal("the removed organizations were not orphaned")
	return ""
}

// pagedImport waits until mapping lists the integration's two import candidates, then imports two
// unknown ids (two failed items: the candidates stay candidates) and returns the import.
func pagedImport(w *world, a msp, integ string) string {
	w.t.Helper()
	base := "/v1/accounts/" + a.id + "/integrations/" + integ
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := w.do("GET", base+"/importCandidates", a.adminKey, "")
		if r.code == 200 && r.json(w.t)["totalSize"] == "2" {
			break
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("mapping never listed the two import candidates: %d %s", r.code, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return w.must(200, "POST", base+":import", a.adminKey,
		fmt.Sprintf(`{"requestId":%q,"externalOrganizationIds":["paged-unknown-1","paged-unknown-2"]}`, uuid.NewString()))["id"].(string)
}

// pagedSyncs connects ConnectWise and Autotask, both syncing every organization both ways, and
// creates an organization of group that the sync creates and links in both: two syncs and two
// links of one organization, whose id it returns.
func pagedSyncs(w *world, a msp, sims *simulators.Set, group string) string {
	w.t.Helper()
	var ids []string
	for _, fx := range []integrationFixture{connectWiseIntegration(w, a, sims), psaAutotaskIntegration(w, a, sims)} {
		psaSetSync(fx, psaTwoWay())
		fx.refresh("REFRESH_MODE_FULL")
		ids = append(ids, fx.id)
	}
	org := w.createOrg(a, a.adminKey, `{"name":"Harbor Dental","groupIds":["`+group+`"]}`)["id"].(string)
	psaWaitSynced(w, a, org, 30*time.Second, ids...)
	return org
}

// pagedSuggestions creates organizations of group named as the two IT Glue organizations left
// free, and waits until mapping suggests each its twin.
func pagedSuggestions(w *world, a msp, integ, group string) {
	w.t.Helper()
	for _, name := range []string{"Paged Epsilon", "Paged Zeta"} {
		w.createOrg(a, a.adminKey, `{"name":"`+name+`","groupIds":["`+group+`"]}`)
	}
	path := "/v1/accounts/" + a.id + "/integrations/" + integ + "/matchSuggestions?perOrganization=1"
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := w.do("GET", path, a.adminKey, "")
		if r.code == http.StatusOK {
			if s, _ := r.json(w.t)["suggestions"].([]any); len(s) == 2 {
				return
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("mapping never suggested the two organizations their twins: %d %s", r.code, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
