package autotask_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sim "github.com/orgplane/orgplane/deploy/simulators/autotask"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector/autotask"
)

const (
	apiUser = "orgplane-api@msp.example"
	secret  = "S3cr3t-Value-Do-Not-Log"
	code    = "ORGPLANE-TRACKING-ID"
	hookKey = "webhook-secret-key"
)

func startSim(t *testing.T) (*sim.Server, *httptest.Server) {
	t.Helper()
	s := sim.New(sim.Options{APIUser: apiUser, Secret: secret, IntegrationCode: code})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func newConn(t *testing.T, srv *httptest.Server, override map[string]string) connector.Connector {
	t.Helper()
	creds := map[string]string{"apiUser": apiUser, "secret": secret, "integrationCode": code, "webhookSecret": hookKey}
	for k, v := range override {
		creds[k] = v
	}
	c, err := autotask.Kind().New(connector.Config{Credentials: creds, BaseURL: srv.URL}, srv.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func addCompanies(s *sim.Server, n int) {
	for i := range n {
		s.Tool().Store.Add(simkit.Company{Name: fmt.Sprintf("Company %05d", i), TypeID: 1, Active: true})
	}
}

// listAll pages until the connector says there is no next page.
func listAll(t *testing.T, c connector.Connector, q connector.ListQuery) []connector.Company {
	t.Helper()
	var all []connector.Company
	for range 100 {
		p, err := c.ListOrganizations(context.Background(), q)
		if err != nil {
			t.Fatalf("ListOrganizations(%+v): %v", q, err)
		}
		all = append(all, p.Companies...)
		if p.Next == "" {
			return all
		}
		q.Cursor = p.Next
	}
	t.Fatal("listing did not end")
	return nil
}

func TestKind(t *testing.T) {
	t.Parallel()
	k := autotask.Kind()
	if k.Name != "autotask" || k.PageSize != 500 || !k.Incremental || !k.PSA {
		t.Fatalf("kind = %+v", k)
	}
	if k.Budget != (connector.Budget{Requests: 10000, Window: time.Hour, Concurrency: 3}) {
		t.Fatalf("budget = %+v", k.Budget)
	}
	want := map[string]bool{"apiUser": true, "secret": true, "integrationCode": true, "webhookSecret": false}
	if len(k.Fields) != len(want) {
		t.Fatalf("fields = %+v", k.Fields)
	}
	for _, f := range k.Fields {
		req, ok := want[f.Name]
		if !ok || f.Required != req || !f.Secret {
			t.Errorf("field %+v: want required=%v secret=true", f, req)
		}
	}
	if _, err := k.New(connector.Config{Credentials: map[string]string{"apiUser": "u", "secret": "s"}}, http.DefaultClient); err == nil {
		t.Fatal("New without integrationCode succeeded")
	}
}

// A full listing returns every company once, in exactly as many query requests as pages, and
// no request after the last page (nextPageUrl null), including when the last page is full.
func TestListAllExactPages(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 500, 1000, 2500, 2501} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			s, srv := startSim(t)
			addCompanies(s, n)
			c := newConn(t, srv, nil)
			all := listAll(t, c, connector.ListQuery{})
			seen := map[string]bool{}
			for _, co := range all {
				if seen[co.ExternalID] {
					t.Fatalf("company %s listed twice", co.ExternalID)
				}
				seen[co.ExternalID] = true
				if co.TypeName != "Customer" || !co.Active || co.StatusID != "active" || co.UpdatedAt.IsZero() {
					t.Fatalf("company not normalized: %+v", co)
				}
			}
			if len(all) != n {
				t.Fatalf("listed %d companies, want %d", len(all), n)
			}
			pages := max(1, (n+499)/500)
			st := s.Tool().Acct.Snapshot()
			if got := st.Requests[sim.RouteQuery]; got != pages {
				t.Fatalf("query requests = %d, want %d", got, pages)
			}
			if got := st.Requests[sim.RouteZone]; got != 1 {
				t.Fatalf("zone discoveries = %d, want 1 (cached)", got)
			}
			if st.Total != pages+1 {
				t.Fatalf("total requests = %d, want %d", st.Total, pages+1)
			}
		})
	}
}

// The cursor is the last id: a new connector (a restarted process) continues where the old one
// stopped, without duplicates or gaps, even when companies were added meanwhile.
func TestResumeFromCursor(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t)
	addCompanies(s, 1200)
	first, err := newConn(t, srv, nil).ListOrganizations(context.Background(), connector.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Companies) != 500 || first.Next == "" {
		t.Fatalf("first page: %d companies, next %q", len(first.Companies), first.Next)
	}
	addCompanies(s, 10)
	rest := listAll(t, newConn(t, srv, nil), connector.ListQuery{Cursor: first.Next})
	seen := map[string]bool{}
	for _, co := range append(first.Companies, rest...) {
		if seen[co.ExternalID] {
			t.Fatalf("company %s listed twice", co.ExternalID)
		}
		seen[co.ExternalID] = true
	}
	if len(seen) != 1210 {
		t.Fatalf("listed %d companies across the restart, want 1210", len(seen))
	}
	if _, err := newConn(t, srv, nil).ListOrganizations(context.Background(), connector.ListQuery{Cursor: "not-an-id"}); !errors.Is(err, connector.ErrRejected) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// ChangedSince lists only companies modified at or after it (lastTrackedModifiedDateTime gte).
func TestIncremental(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t)
	store := s.Tool().Store
	old := time.Now().Add(-48 * time.Hour)
	store.SetClock(func() time.Time { return old })
	addCompanies(s, 700)
	since := time.Now().Add(-time.Hour)
	store.SetClock(time.Now)
	changed := map[string]bool{}
	for _, id := range []int64{100, 450, 780} {
		c, ok := store.Update(id, false, func(c *simkit.Company) { c.Name += " (renamed)" })
		if !ok {
			t.Fatalf("no company %d", id)
		}
		changed[strconv.FormatInt(c.ID, 10)] = true
	}
	got := listAll(t, newConn(t, srv, nil), connector.ListQuery{ChangedSince: since})
	if len(got) != len(changed) {
		t.Fatalf("incremental listed %d companies, want %d: %+v", len(got), len(changed), got)
	}
	for _, co := range got {
		if !changed[co.ExternalID] || !strings.HasSuffix(co.Name, "(renamed)") || co.UpdatedAt.Before(since) {
			t.Fatalf("unexpected company %+v", co)
		}
	}
	if n := s.Tool().Acct.Snapshot().Requests[sim.RouteQuery]; n != 1 {
		t.Fatalf("incremental used %d query requests, want 1", n)
	}
}

func TestCreateUpdateDeactivateDelete(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t)
	store := s.Tool().Store
	parent := store.Add(simkit.Company{Name: "Acme Holdings Inc.", TypeID: 1, Active: true})
	c := newConn(t, srv, nil)
	ctx := context.Background()

	made, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "Acme Dental Inc.", TypeID: "3", ParentID: strconv.FormatInt(parent.ID, 10)})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if made.Name != "Acme Dental Inc." || made.TypeID != "3" || made.TypeName != "Prospect" || !made.Active ||
		made.ParentID != strconv.FormatInt(parent.ID, 10) {
		t.Fatalf("created = %+v", made)
	}
	id, _ := strconv.ParseInt(made.ExternalID, 10, 64)
	if sc, ok := store.Get(id); !ok || sc.Name != "Acme Dental Inc." || sc.TypeID != 3 {
		t.Fatalf("store has %+v", sc)
	}
	plain, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "Plain Co"})
	if err != nil || plain.TypeName != "Customer" {
		t.Fatalf("create without type: %+v, %v", plain, err)
	}

	name := "Acme Dental Group Inc."
	up, err := c.UpdateOrganization(ctx, made.ExternalID, connector.Changes{Name: &name})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if up.Name != name || up.TypeID != "3" || up.ParentID != made.ParentID {
		t.Fatalf("update changed more than the name: %+v", up)
	}
	clear := ""
	if up, err = c.UpdateOrganization(ctx, made.ExternalID, connector.Changes{ParentID: &clear}); err != nil || up.ParentID != "" {
		t.Fatalf("clearing parent: %+v, %v", up, err)
	}

	if err := c.DeactivateOrganization(ctx, made.ExternalID); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	if sc, _ := store.Get(id); sc.Active {
		t.Fatal("company still active after deactivate")
	}
	got, err := c.GetOrganization(ctx, made.ExternalID)
	if err != nil || got.Active || got.StatusID != "inactive" || got.StatusName != "Inactive" {
		t.Fatalf("get after deactivate: %+v, %v", got, err)
	}

	before := s.Tool().Acct.Snapshot().Total
	if err := c.DeleteOrganization(ctx, made.ExternalID); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("delete: %v, want ErrUnsupported", err)
	}
	if _, ok := store.Get(id); !ok {
		t.Fatal("company gone after an unsupported delete")
	}
	if after := s.Tool().Acct.Snapshot().Total; after != before {
		t.Fatalf("delete made %d requests", after-before)
	}

	if _, err := c.GetOrganization(ctx, "999999"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	active := true
	if _, err := c.UpdateOrganization(ctx, "999999", connector.Changes{Active: &active}); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
}

// Names Autotask would refuse are refused before a request: Autotask answers them with 500.
func TestCreateValidation(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t)
	c := newConn(t, srv, nil)
	ctx := context.Background()
	for _, name := range []string{"", "   ", strings.Repeat("x", 101)} {
		if _, err := c.CreateOrganization(ctx, connector.NewCompany{Name: name}); !errors.Is(err, connector.ErrRejected) {
			t.Fatalf("create %q: %v, want ErrRejected", name, err)
		}
	}
	if n := s.Tool().Acct.Snapshot().Total; n != 0 {
		t.Fatalf("refused names cost %d requests", n)
	}
	// What only Autotask knows (the picklist) comes back as its 500 with its message.
	_, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "Bad Type LLC", TypeID: "99"})
	var ve *connector.VendorError
	if !errors.As(err, &ve) || ve.Status != http.StatusInternalServerError || !strings.Contains(ve.Message, "companyType") {
		t.Fatalf("bad type: %v", err)
	}
}

func TestTypesAndStatuses(t *testing.T) {
	t.Parallel()
	_, srv := startSim(t)
	c := newConn(t, srv, nil)
	types, err := c.ListTypes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1": "Customer", "2": "Lead", "3": "Prospect", "4": "Dead", "5": "Cancellation", "6": "Vendor", "7": "Partner"}
	if len(types) != len(want) {
		t.Fatalf("types = %+v", types)
	}
	for _, o := range types {
		if want[o.ID] != o.Name {
			t.Fatalf("type %+v, want %q", o, want[o.ID])
		}
	}
	st, err := c.ListStatuses(context.Background())
	if err != nil || len(st) != 2 || st[0].Name != "Active" || st[1].Name != "Inactive" {
		t.Fatalf("statuses = %+v, %v", st, err)
	}
}

func TestCredentialsRejected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		override map[string]string
		message  string
	}{
		{"secret", map[string]string{"secret": "wrong-secret"}, "not valid"},
		{"integration code", map[string]string{"integrationCode": "WRONG"}, "not valid"},
		{"user", map[string]string{"apiUser": "nobody@msp.example"}, "Zone information"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := startSim(t)
			err := newConn(t, srv, tc.override).Verify(context.Background())
			if !errors.Is(err, connector.ErrUnauthorized) {
				t.Fatalf("Verify: %v, want ErrUnauthorized", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q lacks Autotask's message %q", err, tc.message)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "wrong-secret") {
				t.Fatalf("error leaks a secret: %q", err)
			}
		})
	}
	t.Run("revoked", func(t *testing.T) {
		t.Parallel()
		s, srv := startSim(t)
		s.Tool().Faults.SetRejectCredentials(true)
		if err := newConn(t, srv, nil).Verify(context.Background()); !errors.Is(err, connector.ErrUnauthorized) {
			t.Fatalf("Verify: %v", err)
		}
	})
}

func TestInjectedFailures(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t)
	addCompanies(s, 3)
	c := newConn(t, srv, nil)
	if err := c.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		s.Tool().Faults.Inject(simkit.Fault{Status: status})
		_, err := c.ListOrganizations(context.Background(), connector.ListQuery{})
		var ve *connector.VendorError
		if !errors.Is(err, connector.ErrUnavailable) || !errors.As(err, &ve) || ve.Status != status {
			t.Fatalf("injected %d: %v", status, err)
		}
	}
	p, err := c.ListOrganizations(context.Background(), connector.ListQuery{})
	if err != nil || len(p.Companies) != 3 {
		t.Fatalf("after faults: %d companies, %v", len(p.Companies), err)
	}
}

type delivery struct {
	header http.Header
	body   []byte
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t)
	var mu sync.Mutex
	var got []delivery
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{r.Header.Clone(), b})
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	co := s.Tool().Store.Add(simkit.Company{Name: "Harbor Realty LLC", TypeID: 1, Active: true})
	s.Tool().SetWebhook(recv.URL, hookKey)
	c := newConn(t, srv, nil)
	id := strconv.FormatInt(co.ID, 10)
	name := "Harbor Realty, LLC"
	if _, err := c.UpdateOrganization(context.Background(), id, connector.Changes{Name: &name}); err != nil {
		t.Fatal(err)
	}
	s.Tool().WaitWebhooks()
	if err := c.DeactivateOrganization(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	s.Tool().WaitWebhooks()
	mu.Lock()
	ds := append([]delivery(nil), got...)
	mu.Unlock()
	if len(ds) != 2 {
		t.Fatalf("got %d deliveries, want 2", len(ds))
	}
	var ids []string
	for i, want := range []string{"Update", "Deactivate"} {
		ev, err := c.VerifyWebhook(ds[i].header, ds[i].body)
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		if ev.CompanyID != id || ev.Action != want || ev.DeliveryID == "" {
			t.Fatalf("delivery %d = %+v, want company %s action %s", i, ev, id, want)
		}
		ids = append(ids, ev.DeliveryID)
	}
	if ids[0] == ids[1] {
		t.Fatal("two deliveries share a delivery id")
	}
	again, _ := c.VerifyWebhook(ds[0].header, ds[0].body)
	if again.DeliveryID != ids[0] {
		t.Fatal("a replayed delivery got a new delivery id")
	}

	forged := []byte(strings.Replace(string(ds[0].body), id, "1", 1))
	if _, err := c.VerifyWebhook(ds[0].header, forged); !errors.Is(err, connector.ErrBadSignature) {
		t.Fatalf("forged body: %v", err)
	}
	otherKey := http.Header{}
	otherKey.Set("X-Hook-Signature", sim.Sign(ds[0].body, "not-the-key"))
	if _, err := c.VerifyWebhook(otherKey, ds[0].body); !errors.Is(err, connector.ErrBadSignature) {
		t.Fatalf("signed with another key: %v", err)
	}
	if _, err := c.VerifyWebhook(http.Header{}, ds[0].body); !errors.Is(err, connector.ErrBadSignature) {
		t.Fatalf("missing signature: %v", err)
	}
	noSecret := newConn(t, srv, map[string]string{"webhookSecret": ""})
	if _, err := noSecret.VerifyWebhook(ds[0].header, ds[0].body); !errors.Is(err, connector.ErrBadSignature) {
		t.Fatalf("no configured secret: %v", err)
	}
}

// Zone discovery is asked once per connector, even under concurrent first calls.
func TestZoneDiscoveredOnce(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t)
	addCompanies(s, 5)
	c := newConn(t, srv, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GetOrganization(context.Background(), "100")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Tool().Acct.Snapshot().Requests[sim.RouteZone]; n != 1 {
		t.Fatalf("zone discoveries = %d, want 1", n)
	}
}

func TestFindOrganizationByExactName(t *testing.T) {
	t.Parallel()
	s, srv := startSim(t)
	store := s.Tool().Store
	c := newConn(t, srv, nil)
	ctx := context.Background()

	if _, err := c.FindOrganization(ctx, connector.NewCompany{Name: "Acme Dental"}); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("none: %v", err)
	}
	// What a create whose answer was lost left behind is found, and nothing is written again.
	made, err := c.CreateOrganization(ctx, connector.NewCompany{Name: " Acme Dental "})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.FindOrganization(ctx, connector.NewCompany{Name: " Acme Dental "})
	if err != nil || got.ExternalID != made.ExternalID || got.Name != "Acme Dental" {
		t.Fatalf("find after create: %+v, %v", got, err)
	}
	if w := s.Tool().Writes(); len(w) != 1 || w[0].Action != "create" {
		t.Fatalf("writes %+v", w)
	}

	// Autotask's eq ignores case; only the exact spelling counts, and of several the newest.
	store.Add(simkit.Company{Name: "ACME DENTAL", TypeID: 1, Active: true})
	newest := store.Add(simkit.Company{Name: "Acme Dental", TypeID: 1, Active: false})
	store.Add(simkit.Company{Name: "Acme Dental Inc.", TypeID: 1, Active: true})
	store.Add(simkit.Company{Name: "acme dental", TypeID: 1, Active: true})
	got, err = c.FindOrganization(ctx, connector.NewCompany{Name: "Acme Dental"})
	if err != nil || got.ExternalID != strconv.FormatInt(newest.ID, 10) || got.Active {
		t.Fatalf("newest exact: %+v, %v (want %d)", got, err, newest.ID)
	}
	// Autotask has no deleted flag: a company gone from the API is not found.
	store.SoftDelete(newest.ID)
	if got, err = c.FindOrganization(ctx, connector.NewCompany{Name: "Acme Dental"}); err != nil || got.ExternalID != made.ExternalID {
		t.Fatalf("after the newest went: %+v, %v", got, err)
	}

	// The exact spelling may sit behind a page of other spellings.
	first := store.Add(simkit.Company{Name: "Paged", TypeID: 1, Active: true})
	for range 600 {
		store.Add(simkit.Company{Name: "PAGED", TypeID: 1, Active: true})
	}
	before := s.Tool().Acct.Snapshot().Requests[sim.RouteQuery]
	if got, err = c.FindOrganization(ctx, connector.NewCompany{Name: "Paged"}); err != nil || got.ExternalID != strconv.FormatInt(first.ID, 10) {
		t.Fatalf("paged: %+v, %v", got, err)
	}
	if n := s.Tool().Acct.Snapshot().Requests[sim.RouteQuery] - before; n != 2 {
		t.Fatalf("paged find made %d queries, want 2", n)
	}

	if _, err := c.FindOrganization(ctx, connector.NewCompany{Name: "  "}); !errors.Is(err, connector.ErrRejected) {
		t.Fatalf("blank name: %v", err)
	}
	s.Tool().Faults.Inject(simkit.Fault{Status: http.StatusServiceUnavailable})
	if _, err := c.FindOrganization(ctx, connector.NewCompany{Name: "Acme Dental"}); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("outage: %v", err)
	}
}
