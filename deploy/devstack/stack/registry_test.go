package stack_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/testkit"
)

// clock is the suite's time; tests move it forward to age organizations.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advanceDays(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.AddDate(0, 0, n)
}

func (c *clock) AddMonths(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.AddDate(0, n, 0)
}

// testLog discards the suite's logs unless ORGPLANE_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("ORGPLANE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// world is a running suite plus an event tap on the org stream.
type world struct {
	*suite
	clock *clock
	// an account and an organization for the fuzzer to aim at
	fuzzAccount msp
	fuzzOrg     string
	mu          sync.Mutex
	events      []*nats.Msg
}

func startWorld(t testing.TB) *world {
	t.Helper()
	dbURL := testkit.EmptyDB(t)
	c := &clock{now: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := stack.Start(ctx, stack.Options{
		Log: testLog(), DatabaseURL: dbURL, NATSDir: t.TempDir(), Host: "127.0.0.1",
		AdminPort: -1, Keys: testkit.Keyring(t), OperatorToken: operatorToken, Clock: c.Now,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := st.Wait(); err != nil {
			t.Errorf("stack stopped with %v", err)
		}
	})
	w := &world{suite: &suite{t: t, st: st, dbURL: dbURL}, clock: c}
	nc, err := nats.Connect(st.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	// A core subscription sees every event as the relay publishes it.
	sub, err := nc.Subscribe("orgplane.>", func(m *nats.Msg) {
		w.mu.Lock()
		w.events = append(w.events, m)
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return w
}

// event waits for an event on subject whose payload satisfies match.
func event[T proto.Message](w *world, subject string, newT func() T, match func(T) bool) T {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		msgs := append([]*nats.Msg(nil), w.events...)
		w.mu.Unlock()
		for _, m := range msgs {
			if m.Subject != subject {
				continue
			}
			v := newT()
			if err := proto.Unmarshal(m.Data, v); err != nil {
				w.t.Fatalf("%s: %v", subject, err)
			}
			if match(v) {
				return v
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no %s event matched within 10 s", subject)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) countEvents(subject string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.events {
		if m.Subject == subject {
			n++
		}
	}
	return n
}

type msp struct {
	id       string
	adminKey string
	adminID  string
}

func (w *world) newMSP(name string) msp {
	w.t.Helper()
	r := w.do("POST", "/v1/accounts", operatorToken, accountBody(name))
	if r.code != http.StatusOK {
		w.t.Fatalf("create account: %d %s", r.code, r.body)
	}
	m := r.json(w.t)
	return msp{
		id:       m["account"].(map[string]any)["id"].(string),
		adminKey: m["administratorApiKey"].(string),
		adminID:  m["administrator"].(map[string]any)["id"].(string),
	}
}

// must calls and requires the status, returning the decoded body.
func (w *world) must(code int, method, path, key, body string) map[string]any {
	w.t.Helper()
	r := w.do(method, path, key, body)
	if r.code != code {
		w.t.Fatalf("%s %s = %d, want %d: %s", method, path, r.code, code, r.body)
	}
	if len(r.body) == 0 || r.header.Get("Content-Type") != "application/json" {
		return nil
	}
	return r.json(w.t)
}

func (w *world) createOrg(a msp, key string, fields string) map[string]any {
	w.t.Helper()
	return w.must(200, "POST", "/v1/accounts/"+a.id+"/organizations", key, fields)
}

func (w *world) roleID(a msp, name string) string {
	w.t.Helper()
	roles := w.must(200, "GET", "/v1/accounts/"+a.id+"/roles", a.adminKey, "")["roles"].([]any)
	for _, r := range roles {
		if r.(map[string]any)["name"] == name {
			return r.(map[string]any)["id"].(string)
		}
	}
	w.t.Fatalf("no role %q", name)
	return ""
}

// keyFor creates a user with a role (and optional groups) and an API key acting as them.
func (w *world) keyFor(a msp, email, role string, groups ...string) (userID, key string) {
	w.t.Helper()
	roleID := w.roleID(a, role)
	body := map[string]any{"firstName": "Test", "lastName": email, "email": email, "roleId": roleID, "allOrganizations": len(groups) == 0, "groupIds": groups}
	b, _ := json.Marshal(body)
	u := w.must(200, "POST", "/v1/accounts/"+a.id+"/users", a.adminKey, string(b))
	userID = u["id"].(string)
	k := w.must(200, "POST", "/v1/accounts/"+a.id+"/apiKeys", a.adminKey,
		fmt.Sprintf(`{"name":"%s key","roleId":"%s","userId":"%s"}`, email, roleID, userID))
	return userID, k["secret"].(string)
}

func TestOrganizationNamesAreUniqueCaseSensitively(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	org := w.createOrg(a, a.adminKey, `{"name":"Northwind Traders","notes":"first client"}`)
	ev := event(w, "orgplane.org.v1.organization.created", func() *orgv1.OrganizationCreated { return &orgv1.OrganizationCreated{} },
		func(e *orgv1.OrganizationCreated) bool { return e.GetOrganization().GetId() == org["id"] })
	if ev.GetAccountId() != a.id || ev.GetOrganization().GetName() != "Northwind Traders" || ev.GetOrganization().GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE {
		t.Fatalf("organization.created = %v", ev)
	}
	if r := w.do("POST", "/v1/accounts/"+a.id+"/organizations", a.adminKey, `{"name":"Northwind Traders"}`); r.code != http.StatusConflict {
		t.Fatalf("duplicate name: %d %s", r.code, r.body)
	}
	w.createOrg(a, a.adminKey, `{"name":"northwind traders"}`)
	// Another account may use the same name.
	b := w.newMSP("Fabrikam IT")
	w.createOrg(b, b.adminKey, `{"name":"Northwind Traders"}`)

	// Renaming onto a taken name is refused too; a real rename publishes organization.updated.
	other := w.createOrg(a, a.adminKey, `{"name":"Tailspin Toys"}`)
	path := "/v1/accounts/" + a.id + "/organizations/" + other["id"].(string) + "?updateMask=name"
	if r := w.do("PATCH", path, a.adminKey, `{"name":"Northwind Traders"}`); r.code != http.StatusConflict {
		t.Fatalf("rename onto a taken name: %d %s", r.code, r.body)
	}
	w.must(200, "PATCH", path, a.adminKey, `{"name":"Tailspin Toys Ltd"}`)
	event(w, "orgplane.org.v1.organization.updated", func() *orgv1.OrganizationUpdated { return &orgv1.OrganizationUpdated{} },
		func(e *orgv1.OrganizationUpdated) bool {
			return e.GetOrganization().GetName() == "Tailspin Toys Ltd" && strings.Join(e.GetChangedFields(), ",") == "name"
		})
}

func TestReactivationWaitsTwelveMonths(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	org := w.createOrg(a, a.adminKey, `{"name":"Northwind Traders"}`)
	base := "/v1/accounts/" + a.id + "/organizations/" + org["id"].(string)
	got := w.must(200, "POST", base+":deactivate", a.adminKey, `{}`)
	if got["state"] != "ORGANIZATION_STATE_INACTIVE" || got["deactivateTime"] == nil {
		t.Fatalf("deactivated = %v", got)
	}
	event(w, "orgplane.org.v1.organization.deactivated", func() *orgv1.OrganizationDeactivated { return &orgv1.OrganizationDeactivated{} },
		func(e *orgv1.OrganizationDeactivated) bool { return e.GetOrganization().GetId() == org["id"] })

	w.clock.AddMonths(11)
	r := w.do("POST", base+":reactivate", a.adminKey, `{}`)
	if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "12 months") {
		t.Fatalf("reactivation at 11 months: %d %s", r.code, r.body)
	}
	if r := w.do("POST", base+":reactivate", a.adminKey, `{"overrideCooldown":true}`); r.code != http.StatusForbidden {
		t.Fatalf("a tenant overriding the rule: %d %s", r.code, r.body)
	}
	w.clock.AddMonths(1)
	if got := w.must(200, "POST", base+":reactivate", a.adminKey, `{}`); got["state"] != "ORGANIZATION_STATE_ACTIVE" {
		t.Fatalf("reactivated = %v", got)
	}
	event(w, "orgplane.org.v1.organization.reactivated", func() *orgv1.OrganizationReactivated { return &orgv1.OrganizationReactivated{} },
		func(e *orgv1.OrganizationReactivated) bool {
			return e.GetOrganization().GetId() == org["id"] && !e.GetCooldownOverridden()
		})

	// A platform operator may override at once.
	w.must(200, "POST", base+":deactivate", a.adminKey, `{}`)
	w.must(200, "POST", base+":reactivate", operatorToken, `{"overrideCooldown":true}`)
	event(w, "orgplane.org.v1.organization.reactivated", func() *orgv1.OrganizationReactivated { return &orgv1.OrganizationReactivated{} },
		func(e *orgv1.OrganizationReactivated) bool { return e.GetCooldownOverridden() })
}

func TestDeletingAParentDeletesItsSubOrganizations(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	parent := w.createOrg(a, a.adminKey, `{"name":"Northwind Holdings"}`)
	child := w.createOrg(a, a.adminKey, fmt.Sprintf(`{"name":"Northwind East","parentId":"%s"}`, parent["id"]))
	grandchild := w.createOrg(a, a.adminKey, fmt.Sprintf(`{"name":"Northwind East Lab","parentId":"%s"}`, child["id"]))
	keep := w.createOrg(a, a.adminKey, `{"name":"Tailspin Toys"}`)
	orgs := "/v1/accounts/" + a.id + "/organizations/"

	// A parent cannot become its own descendant's child.
	r := w.do("PATCH", orgs+parent["id"].(string)+"?updateMask=parentId", a.adminKey, fmt.Sprintf(`{"parentId":"%s"}`, grandchild["id"]))
	if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "organization.parent_id") {
		t.Fatalf("cycle: %d %s", r.code, r.body)
	}

	// While a sub-organization is kept in sync, deletion is refused with a way forward.
	conn, err := pgx.Connect(context.Background(), w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE org.organizations SET syncing_integrations = 1 WHERE id = $1`, grandchild["id"]); err != nil {
		t.Fatal(err)
	}
	r = w.do("DELETE", orgs+parent["id"].(string), a.adminKey, "")
	if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "disable sync first") {
		t.Fatalf("delete while syncing: %d %s", r.code, r.body)
	}
	if _, err := conn.Exec(context.Background(), `UPDATE org.organizations SET syncing_integrations = 0`); err != nil {
		t.Fatal(err)
	}

	del := w.must(200, "DELETE", orgs+parent["id"].(string), a.adminKey, "")
	if n := len(del["deletedOrganizationIds"].([]any)); n != 3 {
		t.Fatalf("deleted %v, want the parent and its two descendants", del)
	}
	for _, o := range []map[string]any{parent, child, grandchild} {
		id := o["id"].(string)
		if r := w.do("GET", orgs+id, a.adminKey, ""); r.code != http.StatusNotFound {
			t.Errorf("%s still there: %d", o["name"], r.code)
		}
		event(w, "orgplane.org.v1.organization.deleted", func() *orgv1.OrganizationDeleted { return &orgv1.OrganizationDeleted{} },
			func(e *orgv1.OrganizationDeleted) bool {
				return e.GetOrganizationId() == id && e.GetDeletedWithId() == parent["id"] && e.GetName() == o["name"]
			})
	}
	time.Sleep(200 * time.Millisecond)
	if n := w.countEvents("orgplane.org.v1.organization.deleted"); n != 3 {
		t.Errorf("%d organization.deleted events, want exactly 3", n)
	}
	w.must(200, "GET", orgs+keep["id"].(string), a.adminKey, "")
	// The totals the lists report follow deletions and deactivations.
	w.must(200, "POST", orgs+keep["id"].(string)+":deactivate", a.adminKey, `{}`)
	list := "/v1/accounts/" + a.id + "/organizations"
	for query, want := range map[string]string{"": "1", "?state=ORGANIZATION_STATE_ACTIVE": "0", "?state=ORGANIZATION_STATE_INACTIVE": "1"} {
		if got := w.must(200, "GET", list+query, a.adminKey, "")["totalSize"]; got != want {
			t.Errorf("list%s totalSize = %v, want %s", query, got, want)
		}
	}
}

func TestGroupRestrictedUserSeesOnlyTheirGroups(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	group := w.must(200, "POST", "/v1/accounts/"+a.id+"/groups", a.adminKey, `{"name":"East region","color":"#3366FF"}`)
	inside := w.createOrg(a, a.adminKey, fmt.Sprintf(`{"name":"Alpine Ski House","groupIds":["%s"]}`, group["id"]))
	outside := w.createOrg(a, a.adminKey, `{"name":"Alpine Bank"}`)
	_, key := w.keyFor(a, "east@contoso.example", "vCIO", group["id"].(string))
	orgs := "/v1/accounts/" + a.id + "/organizations"

	list := w.must(200, "GET", orgs, key, "")
	if list["totalSize"] != "1" || len(list["organizations"].([]any)) != 1 || list["organizations"].([]any)[0].(map[string]any)["id"] != inside["id"] {
		t.Fatalf("restricted list = %v", list)
	}
	if search := w.must(200, "GET", orgs+"?query=alpine", key, ""); len(search["organizations"].([]any)) != 1 {
		t.Fatalf("restricted search = %v", search)
	}
	if search := w.must(200, "GET", orgs+"?query=bank", key, ""); len(search["organizations"].([]any)) != 0 {
		t.Fatalf("search found a hidden organization: %v", search)
	}
	hidden := orgs + "/" + outside["id"].(string)
	for _, c := range []struct{ method, path, body string }{
		{"GET", hidden, ""},
		{"PATCH", hidden + "?updateMask=notes", `{"notes":"x"}`},
		{"POST", hidden + ":deactivate", `{}`},
		{"DELETE", hidden, ""},
	} {
		if r := w.do(c.method, c.path, key, c.body); r.code != http.StatusNotFound {
			t.Errorf("%s hidden organization: %d %s", c.method, r.code, r.body)
		}
	}
	w.must(200, "GET", orgs+"/"+inside["id"].(string), key, "")
	// The administrator sees both.
	if all := w.must(200, "GET", orgs, a.adminKey, ""); all["totalSize"] != "2" {
		t.Fatalf("admin list = %v", all)
	}
}

func TestPermissionsAreEnforced(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	_, engineer := w.keyFor(a, "eng@contoso.example", "Engineer")
	settings := "/v1/accounts/" + a.id + "/settings?updateMask=timeZone"
	if r := w.do("PATCH", settings, engineer, `{"timeZone":"Europe/Paris"}`); r.code != http.StatusForbidden {
		t.Fatalf("engineer changing settings: %d %s", r.code, r.body)
	}
	if r := w.do("POST", "/v1/accounts/"+a.id+"/organizations", engineer, `{"name":"Sneaky"}`); r.code != http.StatusForbidden {
		t.Fatalf("engineer creating an organization: %d %s", r.code, r.body)
	}
	w.must(200, "GET", "/v1/accounts/"+a.id+"/organizations", engineer, "")

	// A custom role with organizations READ_ONLY cannot write; FULL can.
	role := w.must(200, "POST", "/v1/accounts/"+a.id+"/roles", a.adminKey,
		`{"name":"Dispatcher","permissions":{"organizations":"PERMISSION_LEVEL_FULL"}}`)
	k := w.must(200, "POST", "/v1/accounts/"+a.id+"/apiKeys", a.adminKey, fmt.Sprintf(`{"name":"dispatch","roleId":"%s"}`, role["id"]))
	w.must(200, "POST", "/v1/accounts/"+a.id+"/organizations", k["secret"].(string), `{"name":"Dispatched"}`)
	if r := w.do("GET", "/v1/accounts/"+a.id+"/users", k["secret"].(string), ""); r.code != http.StatusForbidden {
		t.Fatalf("custom role without users permission listing users: %d", r.code)
	}

	// Emails are unique within an account, whatever their case.
	if r := w.do("POST", "/v1/accounts/"+a.id+"/users", a.adminKey, `{"firstName":"Eve","lastName":"Dup","email":"ENG@contoso.example"}`); r.code != http.StatusConflict {
		t.Fatalf("duplicate email: %d %s", r.code, r.body)
	}

	// A key only works in its own account; elsewhere the account looks missing.
	b := w.newMSP("Fabrikam IT")
	if r := w.do("GET", "/v1/accounts/"+b.id+"/organizations", a.adminKey, ""); r.code != http.StatusNotFound {
		t.Fatalf("key of A on B: %d %s", r.code, r.body)
	}
	// A revoked key is refused at once.
	w.must(200, "POST", "/v1/accounts/"+a.id+"/apiKeys/"+k["apiKey"].(map[string]any)["id"].(string)+":revoke", a.adminKey, `{}`)
	if r := w.do("GET", "/v1/accounts/"+a.id+"/organizations", k["secret"].(string), ""); r.code != http.StatusUnauthorized {
		t.Fatalf("revoked key: %d %s", r.code, r.body)
	}
}

func pngOf(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

func TestBadInputIsRefusedNamingTheFieldAndNothingIsWritten(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	org := w.createOrg(a, a.adminKey, `{"name":"Northwind Traders"}`)
	acct := "/v1/accounts/" + a.id
	logoBody := func(data []byte) string { return `{"data":"` + base64.StdEncoding.EncodeToString(data) + `"}` }
	svgWithScript := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`)
	cases := []struct {
		name, method, path, body, field string
	}{
		{"name of 10,000 characters", "POST", acct + "/organizations", `{"name":"` + strings.Repeat("n", 10000) + `"}`, "organization.name"},
		{"untrimmed name", "POST", acct + "/organizations", `{"name":" Contoso "}`, "organization.name"},
		{"invalid UTF-8", "POST", acct + "/organizations", "{\"name\":\"Bad \xff\xfe name\"}", "name"},
		{"time zone on Mars", "PATCH", acct + "/settings?updateMask=timeZone", `{"timeZone":"Mars/Olympus"}`, "settings.time_zone"},
		{"unknown currency", "PATCH", acct + "/settings?updateMask=currency", `{"currency":"XQZ"}`, "settings.currency"},
		{"3 MiB logo", "PUT", acct + "/logo", logoBody(bytes.Repeat([]byte{1}, 3<<20)), "data"},
		{"logo that is not an image", "PUT", acct + "/logo", logoBody([]byte("just some text, not an image")), "data"},
		{"svg with a script", "PUT", acct + "/logo", logoBody(svgWithScript), "data"},
		{"unknown parent", "POST", acct + "/organizations", `{"name":"Orphan","parentId":"00000000-0000-4000-8000-000000000000"}`, "organization.parent_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.do(c.method, c.path, a.adminKey, c.body)
			if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), c.field) {
				t.Fatalf("%d %s", r.code, r.body)
			}
		})
	}
	list := w.must(200, "GET", acct+"/organizations", a.adminKey, "")
	if list["totalSize"] != "1" {
		t.Errorf("refused requests wrote organizations: %v", list)
	}
	st := w.must(200, "GET", acct+"/settings", a.adminKey, "")
	if st["timeZone"] != "UTC" || st["currency"] != "USD" || st["hasLogo"] == true {
		t.Errorf("refused requests changed settings: %v", st)
	}

	// A good logo is scaled, stored and served with caching headers, as an organization's too.
	info := w.must(200, "PUT", acct+"/organizations/"+org["id"].(string)+"/logo", a.adminKey, logoBody(pngOf(520, 100)))
	if info["width"] != float64(260) || info["height"] != float64(50) || info["contentType"] != "image/png" {
		t.Fatalf("logo info = %v", info)
	}
	r := w.do("GET", acct+"/organizations/"+org["id"].(string)+"/logo", a.adminKey, "")
	if r.code != 200 || r.header.Get("Content-Type") != "image/png" || r.header.Get("ETag") == "" || !strings.Contains(r.header.Get("Cache-Control"), "max-age") {
		t.Fatalf("logo GET: %d %v", r.code, r.header)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(r.body))
	if err != nil || cfg.Width != 260 || cfg.Height != 50 {
		t.Fatalf("served logo %dx%d (%v)", cfg.Width, cfg.Height, err)
	}

	// Valid settings are saved and published.
	w.must(200, "PATCH", acct+"/settings?updateMask=timeZone,currency,dateFormat", a.adminKey,
		`{"timeZone":"America/Chicago","currency":"EUR","dateFormat":"DATE_FORMAT_DD_MM_YYYY"}`)
	event(w, "orgplane.org.v1.account_settings.updated", func() *orgv1.AccountSettingsUpdated { return &orgv1.AccountSettingsUpdated{} },
		func(e *orgv1.AccountSettingsUpdated) bool {
			return e.GetSettings().GetTimeZone() == "America/Chicago" && e.GetSettings().GetCurrency() == "EUR"
		})
}

func TestReviewsPublishCreationAndOwnerChanges(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	engA, _ := w.keyFor(a, "eng.a@contoso.example", "Engineer")
	engB, _ := w.keyFor(a, "eng.b@contoso.example", "Engineer")
	vcio, _ := w.keyFor(a, "vcio@contoso.example", "vCIO")
	event(w, "orgplane.org.v1.user.created", func() *orgv1.UserCreated { return &orgv1.UserCreated{} },
		func(e *orgv1.UserCreated) bool {
			return e.GetUser().GetId() == engA && e.GetUser().GetEmail() == "eng.a@contoso.example"
		})
	org := w.createOrg(a, a.adminKey, fmt.Sprintf(`{"name":"Northwind Traders","defaultEngineerId":"%s","defaultVcioId":"%s"}`, engA, vcio))
	rv := w.must(200, "POST", "/v1/accounts/"+a.id+"/reviews", a.adminKey,
		fmt.Sprintf(`{"organizationId":"%s","title":"Q1 alignment","engineerDueDate":"2026-03-31"}`, org["id"]))
	if rv["engineerId"] != engA || rv["vcioId"] != vcio || rv["status"] != "REVIEW_STATUS_NOT_STARTED" {
		t.Fatalf("review = %v", rv)
	}
	event(w, "orgplane.org.v1.review.created", func() *orgv1.ReviewCreated { return &orgv1.ReviewCreated{} },
		func(e *orgv1.ReviewCreated) bool {
			return e.GetReview().GetId() == rv["id"] && e.GetOrganizationName() == "Northwind Traders" && e.GetReview().GetEngineerDueDate() == "2026-03-31"
		})

	got := w.must(200, "POST", "/v1/accounts/"+a.id+"/reviews/"+rv["id"].(string)+":reassign", a.adminKey,
		fmt.Sprintf(`{"engineerId":"%s","engineerDueDate":"2026-04-15"}`, engB))
	if got["engineerId"] != engB || got["vcioId"] != vcio {
		t.Fatalf("reassigned = %v", got)
	}
	ev := event(w, "orgplane.org.v1.review.owner_changed", func() *orgv1.ReviewOwnerChanged { return &orgv1.ReviewOwnerChanged{} },
		func(e *orgv1.ReviewOwnerChanged) bool { return e.GetReviewId() == rv["id"] })
	if ev.GetRole() != orgv1.ReviewRole_REVIEW_ROLE_ENGINEER || ev.GetPreviousAssigneeId() != engA || ev.GetNewAssigneeId() != engB ||
		ev.GetDueDate() != "2026-04-15" || ev.GetOrganizationName() != "Northwind Traders" || ev.GetChangedBy() != a.adminID {
		t.Fatalf("review.owner_changed = %v", ev)
	}
	time.Sleep(200 * time.Millisecond)
	if n := w.countEvents("orgplane.org.v1.review.owner_changed"); n != 1 {
		t.Errorf("%d owner_changed events for one changed assignee, want 1", n)
	}
	if r := w.do("POST", "/v1/accounts/"+a.id+"/reviews/"+rv["id"].(string)+":reassign", a.adminKey, `{"vcioId":"not-a-uuid"}`); r.code != 400 || !strings.Contains(string(r.body), "vcio_id") {
		t.Fatalf("bad assignee: %d %s", r.code, r.body)
	}

	// Updating a user publishes user.updated.
	w.must(200, "PATCH", "/v1/accounts/"+a.id+"/users/"+engB+"?updateMask=emailPreferences", a.adminKey,
		`{"emailPreferences":{"reviewAssigned":false}}`)
	event(w, "orgplane.org.v1.user.updated", func() *orgv1.UserUpdated { return &orgv1.UserUpdated{} },
		func(e *orgv1.UserUpdated) bool {
			return e.GetUser().GetId() == engB && !e.GetUser().GetEmailPreferences().GetReviewAssigned()
		})
}

func TestListingPagesSearchesAndFilters(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	for _, n := range []string{"Alpha Corp", "Beta LLC", "Gamma Inc", "Delta alpha", "Epsilon"} {
		w.createOrg(a, a.adminKey, `{"name":"`+n+`"}`)
	}
	orgs := "/v1/accounts/" + a.id + "/organizations"
	var names []string
	token := ""
	for range 5 {
		p := w.must(200, "GET", orgs+"?pageSize=2&pageToken="+token, a.adminKey, "")
		if p["totalSize"] != "5" {
			t.Fatalf("totalSize = %v", p["totalSize"])
		}
		for _, o := range p["organizations"].([]any) {
			names = append(names, o.(map[string]any)["name"].(string))
		}
		token, _ = p["nextPageToken"].(string)
		if token == "" {
			break
		}
	}
	if strings.Join(names, ",") != "Alpha Corp,Beta LLC,Delta alpha,Epsilon,Gamma Inc" {
		t.Fatalf("paged names %v", names)
	}
	s := w.must(200, "GET", orgs+"?query=ALPHA", a.adminKey, "")
	if s["totalSize"] != "2" {
		t.Fatalf("search = %v", s)
	}
	if p := w.must(200, "GET", orgs+"?query=%25", a.adminKey, ""); p["totalSize"] != "0" {
		t.Fatalf("a %% in the query is a literal: %v", p)
	}
	first := w.must(200, "GET", orgs+"?pageSize=1", a.adminKey, "")
	if r := w.do("GET", orgs+"?query=beta&pageToken="+first["nextPageToken"].(string), a.adminKey, ""); r.code != 400 {
		t.Fatalf("a page token reused with other filters: %d", r.code)
	}
	inactive := w.must(200, "GET", orgs+"?state=ORGANIZATION_STATE_INACTIVE", a.adminKey, "")
	if inactive["totalSize"] != "0" {
		t.Fatalf("inactive filter = %v", inactive)
	}
}
