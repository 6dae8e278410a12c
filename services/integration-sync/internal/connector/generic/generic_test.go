package generic_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	sim "github.com/orgplane/orgplane/deploy/simulators/generic"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector/generic"
)

// simSettings configure the generic connector for the simulated tool's nested JSON.
func simSettings() map[string]string {
	return map[string]string{
		"listUrl":       "https://clients.example.invalid/api/clients",
		"authHeader":    "Authorization",
		"itemsPath":     "data.clients",
		"idPath":        "id",
		"namePath":      "title",
		"parentIdPath":  "parent.id",
		"updatedAtPath": "modified",
		"activePath":    "status.active",
		"pageParam":     "page",
		"pageSizeParam": "per_page",
		"pageSize":      "100",
	}
}

func start(t *testing.T, n int) (*sim.Server, string) {
	t.Helper()
	s := sim.New(sim.Options{Token: "tok"})
	for i := range n {
		s.Tool().Store.Add(simkit.Company{Name: "Client " + strconv.Itoa(i+1), Active: i%4 != 0})
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func connect(t *testing.T, base string, settings map[string]string, token string) connector.Connector {
	t.Helper()
	c, err := generic.Kind().New(connector.Config{Settings: settings, Credentials: map[string]string{"authValue": token}, BaseURL: base},
		&http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListingThroughNestedPaths(t *testing.T) {
	t.Parallel()
	s, base := start(t, 250)
	parent, _ := s.Tool().Store.Get(1)
	s.Tool().Store.Update(2, false, func(c *simkit.Company) { c.ParentID = parent.ID })
	s.Tool().Acct.Reset()
	c := connect(t, base, simSettings(), "Bearer tok")

	seen := map[string]connector.Company{}
	q := connector.ListQuery{}
	pages := 0
	for {
		p, err := c.ListOrganizations(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, co := range p.Companies {
			if _, dup := seen[co.ExternalID]; dup {
				t.Fatalf("%s listed twice", co.ExternalID)
			}
			seen[co.ExternalID] = co
		}
		if p.Next == "" {
			break
		}
		// A fresh connector per page: the cursor alone must carry the listing on.
		c = connect(t, base, simSettings(), "Bearer tok")
		q.Cursor = p.Next
	}
	if len(seen) != 250 || pages != 3 {
		t.Fatalf("listed %d in %d pages, want 250 in 3 (the short third page ends it)", len(seen), pages)
	}
	if n := s.Tool().Acct.Snapshot().Requests["GET /api/clients"]; n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
	if co := seen["2"]; co.Name != "Client 2" || co.ParentID != "1" || !co.Active || co.UpdatedAt.IsZero() {
		t.Errorf("client 2 = %+v", co)
	}
	if co := seen["1"]; co.Active || co.ParentID != "" {
		t.Errorf("client 1 = %+v, want inactive top-level", co)
	}
}

func TestGetAndReadOnly(t *testing.T) {
	t.Parallel()
	_, base := start(t, 120)
	c := connect(t, base, simSettings(), "Bearer tok")
	ctx := context.Background()
	co, err := c.GetOrganization(ctx, "110")
	if err != nil || co.Name != "Client 110" {
		t.Fatalf("get = %+v, %v", co, err)
	}
	if _, err := c.GetOrganization(ctx, "999"); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	if _, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "X"}); !errors.Is(err, connector.ErrUnsupported) {
		t.Errorf("create: %v", err)
	}
	if _, err := c.FindOrganization(ctx, connector.NewCompany{Name: "Client 110"}); !errors.Is(err, connector.ErrUnsupported) {
		t.Errorf("find: %v", err)
	}
	if _, err := c.UpdateOrganization(ctx, "1", connector.Changes{}); !errors.Is(err, connector.ErrUnsupported) {
		t.Errorf("update: %v", err)
	}
	if err := c.DeactivateOrganization(ctx, "1"); !errors.Is(err, connector.ErrUnsupported) {
		t.Errorf("deactivate: %v", err)
	}
	if err := c.DeleteOrganization(ctx, "1"); !errors.Is(err, connector.ErrUnsupported) {
		t.Errorf("delete: %v", err)
	}
	if _, err := c.ListOrganizations(ctx, connector.ListQuery{ChangedSince: time.Now()}); !errors.Is(err, connector.ErrUnsupported) {
		t.Errorf("incremental: %v", err)
	}
	if _, err := c.VerifyWebhook(http.Header{}, []byte("{}")); !errors.Is(err, connector.ErrBadSignature) {
		t.Errorf("webhook: %v", err)
	}
	if ts, err := c.ListTypes(ctx); err != nil || len(ts) != 0 {
		t.Errorf("types = %v, %v", ts, err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	s, base := start(t, 3)
	err := connect(t, base, simSettings(), "Bearer wrong").Verify(context.Background())
	var ve *connector.VendorError
	if !errors.Is(err, connector.ErrUnauthorized) || !errors.As(err, &ve) || ve.Message != "invalid token" {
		t.Fatalf("wrong token: %v", err)
	}
	c := connect(t, base, simSettings(), "Bearer tok")
	s.Tool().Faults.Inject(simkit.Fault{Status: 502})
	if err := c.Verify(context.Background()); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("502: %v", err)
	}
	bad := simSettings()
	bad["itemsPath"] = "data.nothing"
	if err := connect(t, base, bad, "Bearer tok").Verify(context.Background()); err == nil {
		t.Fatal("missing items array accepted")
	}
}

func TestUnpagedArrayBody(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Key") != "k" {
			http.Error(w, `{"message":"no key"}`, http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte(`[{"uuid":"a-1","org":{"name":"Acme"},"enabled":"false","ts":1767225600},{"uuid":"a-2","org":{"name":"Beta"}}]`))
	}))
	t.Cleanup(srv.Close)
	settings := map[string]string{"listUrl": srv.URL + "/orgs", "authHeader": "X-Key", "idPath": "uuid", "namePath": "org.name",
		"activePath": "enabled", "updatedAtPath": "ts"}
	p, err := connect(t, "", settings, "k").ListOrganizations(context.Background(), connector.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Companies) != 2 || p.Next != "" || p.Total != -1 {
		t.Fatalf("page = %+v", p)
	}
	a := p.Companies[0]
	if a.ExternalID != "a-1" || a.Name != "Acme" || a.Active || !a.UpdatedAt.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("first = %+v", a)
	}
	if !p.Companies[1].Active {
		t.Errorf("item without the active field should be active")
	}
	_, err = connect(t, "", settings, "bad").ListOrganizations(context.Background(), connector.ListQuery{})
	var ve *connector.VendorError
	if !errors.As(err, &ve) || ve.Status != 403 || ve.Message != "no key" {
		t.Errorf("forbidden: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]map[string]string{
		"no listUrl":  {"namePath": "name"},
		"relative":    {"listUrl": "/x", "namePath": "name"},
		"no namePath": {"listUrl": "https://x.example/a"},
		"bad size":    {"listUrl": "https://x.example/a", "namePath": "name", "pageSize": "0"},
	} {
		if _, err := generic.New(connector.Config{Settings: s}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	k := generic.Kind()
	for _, f := range k.Fields {
		if f.Secret != (f.Name == "authValue") {
			t.Errorf("field %s secret = %v", f.Name, f.Secret)
		}
	}
	if k.Incremental || k.Budget.Requests == 0 {
		t.Errorf("kind = %+v", k)
	}
}
