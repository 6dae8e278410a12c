package connectwise_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	simcw "github.com/orgplane/orgplane/deploy/simulators/connectwise"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector/connectwise"
)

var tenant = simcw.Options{CompanyID: "orgplane", PublicKey: "pubKEY123", PrivateKey: "privKEY456", ClientID: "4d3c2b1a-0000-4000-8000-00000000c11d"}

const listRoute = "GET /v4_6_release/apis/3.0/company/companies"

type env struct {
	sim *simcw.Server
	srv *httptest.Server
	rec *recorder
}

// recorder keeps the bodies of requests the connector sent (to check the JSON Patch).
type recorder struct {
	mu     sync.Mutex
	bodies map[string][]string
	next   http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		r.bodies[req.Method] = append(r.bodies[req.Method], string(b))
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

func (r *recorder) last(method string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bodies[method]
	if len(b) == 0 {
		return ""
	}
	return b[len(b)-1]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sim := simcw.New(tenant)
	sim.Tool().SetQuota(0, time.Minute)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &env{sim: sim, srv: srv, rec: &recorder{bodies: map[string][]string{}, next: http.DefaultTransport}}
}

func (e *env) connector(t *testing.T, override map[string]string) *connectwise.Connector {
	t.Helper()
	creds := map[string]string{"site": "api-na.myconnectwise.net", "companyId": tenant.CompanyID, "publicKey": tenant.PublicKey,
		"privateKey": tenant.PrivateKey, "clientId": tenant.ClientID, "webhookSecret": "hook-secret"}
	for k, v := range override {
		creds[k] = v
	}
	c, err := connectwise.New(connector.Config{Credentials: creds, BaseURL: e.srv.URL}, &http.Client{Transport: e.rec, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) add(n int) {
	for i := range n {
		e.sim.Tool().Store.Add(simkit.Company{Name: "Client " + strconv.Itoa(i+1), TypeID: 1, StatusID: 1, Active: true})
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	k := connectwise.Kind()
	if k.Name != "connectwise" || k.PageSize != 1000 || !k.Incremental || !k.PSA || k.Budget.Requests != 1000 || k.Budget.Window != time.Minute || k.Budget.Concurrency != 0 {
		t.Fatalf("kind %+v", k)
	}
	for _, f := range k.Fields {
		if !f.Secret {
			t.Errorf("field %s is not secret", f.Name)
		}
	}
	_, err := k.New(connector.Config{Credentials: map[string]string{"site": "api-na.myconnectwise.net", "privateKey": "s3cret"}}, http.DefaultClient)
	if err == nil || !strings.Contains(err.Error(), "clientId") || !strings.Contains(err.Error(), "publicKey") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("missing credentials: %v", err)
	}
}

func listAll(t *testing.T, c *connectwise.Connector, q connector.ListQuery) ([]connector.Company, []connector.Page) {
	t.Helper()
	var out []connector.Company
	var pages []connector.Page
	for {
		p, err := c.ListOrganizations(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		out = append(out, p.Companies...)
		if p.Next == "" {
			return out, pages
		}
		q.Cursor = p.Next
	}
}

func TestFullListingUsesExactlyThePagesNeeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.add(2500)
	e.sim.Tool().Store.SoftDelete(19300 + 10)
	e.sim.Tool().Acct.Reset()
	c := e.connector(t, nil)
	got, pages := listAll(t, c, connector.ListQuery{})
	if len(got) != 2500 {
		t.Fatalf("listed %d", len(got))
	}
	seen := map[string]bool{}
	deleted := 0
	for _, co := range got {
		if seen[co.ExternalID] {
			t.Fatalf("%s listed twice", co.ExternalID)
		}
		seen[co.ExternalID] = true
		if co.Deleted {
			deleted++
			if co.ExternalID != "19310" || co.StatusName != "Active" {
				t.Fatalf("deleted company %+v", co)
			}
		}
		if co.Name == "" || co.TypeName != "Client" || co.UpdatedAt.IsZero() {
			t.Fatalf("company %+v", co)
		}
	}
	if deleted != 1 {
		t.Fatalf("full listing shows %d flagged companies, want 1", deleted)
	}
	st := e.sim.Tool().Acct.Snapshot()
	if n := st.Requests[listRoute]; n != 3 {
		t.Fatalf("%d list requests for 2500 companies, want 3 (%v)", n, st.Requests)
	}
	if n := st.Requests["GET /login/companyinfo/{companyId}"]; n != 1 {
		t.Fatalf("codebase discovered %d times", n)
	}
	if pages[0].TotalPages != 3 || pages[2].TotalPages != 3 || pages[0].Total != -1 {
		t.Fatalf("total pages %d/%d", pages[0].TotalPages, pages[2].TotalPages)
	}

	// Exactly a multiple of the page size: still no wasted request.
	e2 := newEnv(t)
	e2.add(2000)
	c2 := e2.connector(t, nil)
	if got, _ := listAll(t, c2, connector.ListQuery{}); len(got) != 2000 {
		t.Fatalf("listed %d of 2000", len(got))
	}
	if n := e2.sim.Tool().Acct.Snapshot().Requests[listRoute]; n != 2 {
		t.Fatalf("%d list requests for 2000 companies", n)
	}
}

func TestCursorResumesAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.add(2100)
	first, err := e.connector(t, nil).ListOrganizations(context.Background(), connector.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Next == "" || strings.Contains(first.Next, e.srv.URL) {
		t.Fatalf("cursor %q", first.Next)
	}
	// A new connector (a restarted process) picks up from the stored cursor.
	fresh := e.connector(t, nil)
	second, err := fresh.ListOrganizations(context.Background(), connector.ListQuery{Cursor: first.Next})
	if err != nil {
		t.Fatal(err)
	}
	lastOfFirst, _ := strconv.Atoi(first.Companies[len(first.Companies)-1].ExternalID)
	firstOfSecond, _ := strconv.Atoi(second.Companies[0].ExternalID)
	if len(second.Companies) != 1000 || firstOfSecond != lastOfFirst+1 {
		t.Fatalf("resumed at %d after %d (%d companies)", firstOfSecond, lastOfFirst, len(second.Companies))
	}
	third, err := fresh.ListOrganizations(context.Background(), connector.ListQuery{Cursor: second.Next})
	if err != nil || len(third.Companies) != 100 || third.Next != "" {
		t.Fatalf("third page: %d companies, next %q, %v", len(third.Companies), third.Next, err)
	}
	if _, err := fresh.ListOrganizations(context.Background(), connector.ListQuery{Cursor: "system/members?page=2"}); !errors.Is(err, connector.ErrRejected) {
		t.Fatalf("foreign cursor: %v", err)
	}
}

func TestIncrementalMissesFlaggedDeletesFullCatchesThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := e.sim.Tool().Store
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	store.SetClock(func() time.Time { return old })
	e.add(1500)
	store.SetClock(time.Now)
	since := time.Now().Add(-time.Minute)
	changed := map[string]bool{}
	for _, id := range []int64{19300, 19301 + 999, 19300 + 1499} {
		name := "Renamed " + strconv.FormatInt(id, 10)
		if _, ok := store.Update(id, false, func(c *simkit.Company) { c.Name = name }); !ok {
			t.Fatalf("no company %d", id)
		}
		changed[strconv.FormatInt(id, 10)] = true
	}
	store.SoftDelete(19305) // the pitfall: lastUpdated stays in 2024
	c := e.connector(t, nil)
	e.sim.Tool().Acct.Reset()
	got, _ := listAll(t, c, connector.ListQuery{ChangedSince: since})
	if len(got) != len(changed) {
		t.Fatalf("incremental listed %d, want %d", len(got), len(changed))
	}
	for _, co := range got {
		if !changed[co.ExternalID] || !strings.HasPrefix(co.Name, "Renamed") {
			t.Fatalf("unexpected %+v", co)
		}
	}
	if n := e.sim.Tool().Acct.Snapshot().Requests[listRoute]; n != 1 {
		t.Fatalf("incremental used %d requests", n)
	}
	full, _ := listAll(t, c, connector.ListQuery{})
	for _, co := range full {
		if co.ExternalID == "19305" && (!co.Deleted || !co.UpdatedAt.Equal(old)) {
			t.Fatalf("flagged company in full listing: %+v", co)
		}
	}
}

func TestCreateUpdateDeactivateDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.connector(t, nil)
	ctx := context.Background()

	parent, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "St. Mary's Pharmacy, LLC"})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := e.sim.Tool().Store.Get(mustID(t, parent.ExternalID))
	if stored.Identifier != "StMarysPharmacyLLC" || parent.Identifier != stored.Identifier || parent.TypeName != "Client" || !parent.Active {
		t.Fatalf("created %+v (identifier %q)", parent, stored.Identifier)
	}
	// A caller's identifier is used as it is: a clash is the caller's to resolve.
	if _, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "Another", Identifier: "stmarysPharmacyLLC"}); !errors.Is(err, connector.ErrRejected) ||
		!errors.Is(err, connector.ErrIdentifierTaken) || !strings.Contains(err.Error(), "identifier") {
		t.Fatalf("duplicate identifier: %v", err)
	}
	child, err := c.CreateOrganization(ctx, connector.NewCompany{Name: strings.Repeat("Long Name ", 3), TypeID: "3", ParentID: parent.ExternalID})
	if err != nil {
		t.Fatal(err)
	}
	if child.ParentID != parent.ExternalID || child.TypeID != "3" {
		t.Fatalf("child %+v", child)
	}

	name := "Renamed Child"
	updated, err := c.UpdateOrganization(ctx, child.ExternalID, connector.Changes{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Name != name || updated.ParentID != parent.ExternalID {
		t.Fatalf("updated %+v", updated)
	}
	if got := e.rec.last(http.MethodPatch); got != `[{"op":"replace","path":"name","value":"Renamed Child"}]` {
		t.Fatalf("patch body %s", got)
	}
	none := ""
	if u, err := c.UpdateOrganization(ctx, child.ExternalID, connector.Changes{ParentID: &none}); err != nil || u.ParentID != "" {
		t.Fatalf("clear parent: %+v %v", u, err)
	}
	if got := e.rec.last(http.MethodPatch); got != `[{"op":"remove","path":"parentCompany"}]` {
		t.Fatalf("patch body %s", got)
	}
	typ := "2"
	if _, err := c.UpdateOrganization(ctx, child.ExternalID, connector.Changes{TypeID: &typ}); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("type change: %v", err)
	}

	if err := c.DeactivateOrganization(ctx, child.ExternalID); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetOrganization(ctx, child.ExternalID)
	if err != nil || got.Active || got.StatusName != "Inactive" {
		t.Fatalf("after deactivate: %+v %v", got, err)
	}
	if body := e.rec.last(http.MethodPatch); body != `[{"op":"replace","path":"status/id","value":2}]` {
		t.Fatalf("deactivate patch %s", body)
	}

	if err := c.DeleteOrganization(ctx, parent.ExternalID); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetOrganization(ctx, parent.ExternalID)
	if err != nil || !got.Deleted || got.StatusName != "Active" {
		t.Fatalf("after delete: %+v %v", got, err)
	}
	if _, err := c.GetOrganization(ctx, "424242"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}

	types, err := c.ListTypes(ctx)
	if err != nil || len(types) < 4 || types[0].Name != "Client" {
		t.Fatalf("types %v %v", types, err)
	}
	statuses, err := c.ListStatuses(ctx)
	if err != nil || len(statuses) < 3 || statuses[1].Name != "Inactive" {
		t.Fatalf("statuses %v %v", statuses, err)
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCredentialsAndFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if err := e.connector(t, nil).Verify(ctx); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	for name, override := range map[string]map[string]string{
		"private key": {"privateKey": "wrong-private"},
		"client id":   {"clientId": "00000000-0000-0000-0000-000000000000"},
		"company id":  {"companyId": "otherco"},
	} {
		err := e.connector(t, override).Verify(ctx)
		var ve *connector.VendorError
		if !errors.Is(err, connector.ErrUnauthorized) || !errors.As(err, &ve) || ve.Message == "" {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), "wrong-private") || strings.Contains(err.Error(), tenant.PrivateKey) {
			t.Errorf("%s: error leaks a key: %v", name, err)
		}
	}
	c := e.connector(t, nil)
	e.sim.Tool().Faults.SetRejectCredentials(true)
	if _, err := c.ListOrganizations(ctx, connector.ListQuery{}); !errors.Is(err, connector.ErrUnauthorized) || !strings.Contains(err.Error(), "invalid credentials") {
		t.Fatalf("revoked: %v", err)
	}
	e.sim.Tool().Faults.SetRejectCredentials(false)
	e.sim.Tool().Faults.Inject(simkit.Fault{Status: http.StatusInternalServerError})
	if _, err := c.ListOrganizations(ctx, connector.ListQuery{}); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("5xx: %v", err)
	}
	e.sim.Tool().Faults.Inject(simkit.Fault{Status: http.StatusTooManyRequests, RetryAfter: 2})
	if err := c.Verify(ctx); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("429: %v", err)
	}
}

func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type delivery struct {
		h    http.Header
		body []byte
	}
	got := make(chan delivery, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
	}))
	defer hook.Close()
	e.sim.Tool().SetWebhook(hook.URL, "hook-secret")
	e.add(1)
	d := <-got

	c := e.connector(t, nil)
	ev, err := c.VerifyWebhook(d.h, d.body)
	if err != nil {
		t.Fatalf("good delivery: %v", err)
	}
	if ev.CompanyID != "19300" || ev.Action != "added" || ev.DeliveryID == "" {
		t.Fatalf("event %+v", ev)
	}
	forged := bytes.Replace(d.body, []byte(`"ID":19300`), []byte(`"ID":19301`), 1)
	if bytes.Equal(forged, d.body) {
		t.Fatal("test did not alter the body")
	}
	if _, err := c.VerifyWebhook(d.h, forged); !errors.Is(err, connector.ErrBadSignature) {
		t.Fatalf("forged body: %v", err)
	}
	wrongKey := http.Header{"X-Content-Signature": {simcw.Sign(d.body, "not-the-secret")}}
	if _, err := c.VerifyWebhook(wrongKey, d.body); !errors.Is(err, connector.ErrBadSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := c.VerifyWebhook(http.Header{}, d.body); !errors.Is(err, connector.ErrBadSignature) {
		t.Fatalf("missing signature: %v", err)
	}
	if _, err := e.connector(t, map[string]string{"webhookSecret": ""}).VerifyWebhook(d.h, d.body); !errors.Is(err, connector.ErrBadSignature) {
		t.Fatalf("no secret configured: %v", err)
	}
}

func TestIdentifier(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		n    int
		want string
	}{
		{"Acme Dental, LLC", 0, "AcmeDentalLLC"},
		{"Johnson & Sons", 0, "JohnsonSons"},
		{"Café Zürich 24/7", 0, "CafeZurich247"},
		{"Straße Œuvre Łódź", 0, "StrasseOEuvreLodz"},
		{"株式会社", 0, "Company"},
		{"!!!", 3, "Company4"},
		{"Acme Corporation", 1, "AcmeCorporation2"},
		{"Acme Corporation", 9, "AcmeCorporation10"},
		{strings.Repeat("ab", 40), 0, strings.Repeat("ab", 15)},
		{strings.Repeat("ab", 40), 1, strings.Repeat("ab", 14) + "a2"},
		{strings.Repeat("ab", 40), 20, strings.Repeat("ab", 14) + "21"},
		{strings.Repeat("x", 29) + "ß", 0, strings.Repeat("x", 29) + "s"},
	} {
		got := connectwise.Identifier(tc.name, tc.n)
		if got != tc.want || len(got) > 30 {
			t.Errorf("Identifier(%q, %d) = %q, want %q", tc.name, tc.n, got, tc.want)
		}
	}
}

func TestCreateStepsPastTakenIdentifiers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.connector(t, nil)
	ctx := context.Background()
	st := e.sim.Tool().Store
	// Someone else's companies hold the first two identifiers, one spelled in other case.
	st.Add(simkit.Company{Name: "Acme Corp (old)", Identifier: "ACMECORPORATION", TypeID: 1, StatusID: 1, Active: true})
	st.Add(simkit.Company{Name: "Acme Corp (older)", Identifier: "AcmeCorporation2", TypeID: 1, StatusID: 1, Active: true})

	got, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "Acme Corporation"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Identifier != "AcmeCorporation3" || got.Name != "Acme Corporation" {
		t.Fatalf("created %+v", got)
	}
	if w := e.sim.Tool().Writes(); len(w) != 1 || w[0].Action != "create" || w[0].CompanyID != mustID(t, got.ExternalID) {
		t.Fatalf("writes %+v", w)
	}
	if n := e.sim.Tool().Acct.Snapshot().Requests["POST /v4_6_release/apis/3.0/company/companies"]; n != 3 {
		t.Fatalf("%d POSTs, want 3", n)
	}

	// Every derived identifier taken: the create gives up after the base and 20 suffixes.
	for n := range 21 {
		st.Add(simkit.Company{Name: "Full", Identifier: connectwise.Identifier("Full House", n), TypeID: 1, StatusID: 1, Active: true})
	}
	e.sim.Tool().ResetWrites()
	if _, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "Full House"}); !errors.Is(err, connector.ErrIdentifierTaken) {
		t.Fatalf("all taken: %v", err)
	}
	if w := e.sim.Tool().Writes(); len(w) != 0 {
		t.Fatalf("writes %+v", w)
	}

	// Other refusals are not retried.
	before := e.sim.Tool().Acct.Snapshot().Requests["POST /v4_6_release/apis/3.0/company/companies"]
	if _, err := c.CreateOrganization(ctx, connector.NewCompany{Name: strings.Repeat("n", 51)}); !errors.Is(err, connector.ErrRejected) || errors.Is(err, connector.ErrIdentifierTaken) {
		t.Fatalf("long name: %v", err)
	}
	if n := e.sim.Tool().Acct.Snapshot().Requests["POST /v4_6_release/apis/3.0/company/companies"] - before; n != 1 {
		t.Fatalf("a refused name was sent %d times", n)
	}
}

// loseAnswer sends a request and then reports a network failure instead of its answer: the
// create that happened with nobody hearing of it.
type loseAnswer struct {
	next http.RoundTripper
	lose func(*http.Request) bool
}

func (l loseAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := l.next.RoundTrip(req)
	if err == nil && l.lose(req) {
		_ = res.Body.Close()
		return nil, errors.New("connection reset after the request was sent")
	}
	return res, err
}

func TestFindOrganizationAfterALostCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	creds := map[string]string{"site": "api-na.myconnectwise.net", "companyId": tenant.CompanyID, "publicKey": tenant.PublicKey,
		"privateKey": tenant.PrivateKey, "clientId": tenant.ClientID}
	lossy, err := connectwise.New(connector.Config{Credentials: creds, BaseURL: e.srv.URL}, &http.Client{Transport: loseAnswer{
		next: http.DefaultTransport,
		lose: func(r *http.Request) bool { return r.Method == http.MethodPost },
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := e.connector(t, nil)

	nc := connector.NewCompany{Name: "Blue Ridge Dental", Identifier: connectwise.Identifier("Blue Ridge Dental", 0), TypeID: "1"}
	if _, err := c.FindOrganization(ctx, nc); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("before the create: %v", err)
	}
	if _, err := lossy.CreateOrganization(ctx, nc); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("lost create: %v", err)
	}
	// The retry asks first, finds the company, and does not create a second one.
	found, err := c.FindOrganization(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	w := e.sim.Tool().Writes()
	if len(w) != 1 || found.ExternalID != strconv.FormatInt(w[0].CompanyID, 10) || found.Identifier != "BlueRidgeDental" || found.Name != nc.Name {
		t.Fatalf("found %+v, writes %+v", found, w)
	}
	// Identifiers compare without case, as ConnectWise's uniqueness does; an empty identifier
	// is the derived one.
	for _, q := range []connector.NewCompany{{Identifier: "blueridgedental"}, {Name: "Blue Ridge Dental"}} {
		if got, err := c.FindOrganization(ctx, q); err != nil || got.ExternalID != found.ExternalID {
			t.Fatalf("find %+v: %+v %v", q, got, err)
		}
	}
	// Only the identifier counts: the same name under another identifier is not found, nor
	// a suffixed alternative of the derived one.
	if _, err := c.FindOrganization(ctx, connector.NewCompany{Name: nc.Name, Identifier: "BlueRidge2"}); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("other identifier: %v", err)
	}
	e.sim.Tool().Store.Add(simkit.Company{Name: "Summit IT", Identifier: "SummitIT2", TypeID: 1, StatusID: 1, Active: true})
	if _, err := c.FindOrganization(ctx, connector.NewCompany{Name: "Summit IT"}); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("suffixed alternative: %v", err)
	}
	// A flagged company still holds its identifier.
	if err := c.DeleteOrganization(ctx, found.ExternalID); err != nil {
		t.Fatal(err)
	}
	if got, err := c.FindOrganization(ctx, nc); err != nil || !got.Deleted {
		t.Fatalf("after delete: %+v %v", got, err)
	}
	// Quotes: a double quote is searched in single quotes; both cannot be asked for.
	e.sim.Tool().Store.Add(simkit.Company{Name: "Quoted", Identifier: `Q"uoted`, TypeID: 1, StatusID: 1, Active: true})
	if got, err := c.FindOrganization(ctx, connector.NewCompany{Identifier: `Q"uoted`}); err != nil || got.Name != "Quoted" {
		t.Fatalf("quoted: %+v %v", got, err)
	}
	if _, err := c.FindOrganization(ctx, connector.NewCompany{Identifier: `Q"u'oted`}); !errors.Is(err, connector.ErrRejected) {
		t.Fatalf("both quotes: %v", err)
	}
	e.sim.Tool().Faults.Inject(simkit.Fault{Status: http.StatusServiceUnavailable})
	if _, err := c.FindOrganization(ctx, nc); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("outage: %v", err)
	}
}
