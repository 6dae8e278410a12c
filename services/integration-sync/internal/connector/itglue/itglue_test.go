package itglue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sim "github.com/orgplane/orgplane/deploy/simulators/itglue"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
	"github.com/orgplane/orgplane/services/integration-sync/internal/connector/itglue"
)

const key = "itg-test-key"

func start(t *testing.T) (*sim.Server, string) {
	t.Helper()
	s := sim.New(sim.Options{APIKey: key})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func connect(t *testing.T, base, apiKey string, client *http.Client) connector.Connector {
	t.Helper()
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	c, err := itglue.Kind().New(connector.Config{Credentials: map[string]string{"apiKey": apiKey}, BaseURL: base}, client)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addN(s *sim.Server, n int) {
	for i := range n {
		s.Tool().Store.Add(simkit.Company{Name: "Company " + string(rune('A'+i%26)) + strings.Repeat("x", i%3), Active: true})
	}
}

// listAll pages through everything, returning the companies and the pages seen.
func listAll(t *testing.T, c connector.Connector, q connector.ListQuery) ([]connector.Company, int) {
	t.Helper()
	var out []connector.Company
	pages := 0
	for {
		p, err := c.ListOrganizations(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		out = append(out, p.Companies...)
		if p.Next == "" {
			return out, pages
		}
		q.Cursor = p.Next
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	k := itglue.Kind()
	if k.Name != "itglue" || k.PageSize != 1000 || !k.Incremental || k.PSA {
		t.Fatalf("kind = %+v", k)
	}
	if k.Budget.Requests != 3000 || k.Budget.Window != 5*time.Minute {
		t.Fatalf("budget = %+v", k.Budget)
	}
	fields := map[string]connector.Field{}
	for _, f := range k.Fields {
		fields[f.Name] = f
	}
	if f := fields["apiKey"]; !f.Required || !f.Secret {
		t.Errorf("apiKey = %+v, want required secret", f)
	}
	if f := fields["region"]; f.Required || !f.Secret {
		t.Errorf("region = %+v, want optional secret", f)
	}
}

func TestFullListingEveryCompanyOnceInExactPages(t *testing.T) {
	t.Parallel()
	s, base := start(t)
	addN(s, 2500)
	s.Tool().Acct.Reset()
	got, pages := listAll(t, connect(t, base, key, nil), connector.ListQuery{})
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}
	if n := s.Tool().Acct.Snapshot().Requests["GET /organizations"]; n != 3 {
		t.Errorf("list requests = %d, want ceil(2500/1000) = 3", n)
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.ExternalID] {
			t.Fatalf("company %s listed twice", c.ExternalID)
		}
		seen[c.ExternalID] = true
		if c.Name == "" || c.TypeName != "Customer" || c.StatusName != "Active" || !c.Active || c.UpdatedAt.IsZero() {
			t.Fatalf("company not mapped: %+v", c)
		}
	}
	if len(seen) != 2500 {
		t.Fatalf("listed %d companies, want 2500", len(seen))
	}
}

func TestExactMultipleOfPageSizeNeedsNoExtraRequest(t *testing.T) {
	t.Parallel()
	s, base := start(t)
	addN(s, 2000)
	s.Tool().Acct.Reset()
	got, _ := listAll(t, connect(t, base, key, nil), connector.ListQuery{})
	if len(got) != 2000 {
		t.Fatalf("listed %d", len(got))
	}
	if n := s.Tool().Acct.Snapshot().Requests["GET /organizations"]; n != 2 {
		t.Errorf("list requests = %d, want 2", n)
	}
}

func TestResumeFromCursorWithNewConnector(t *testing.T) {
	t.Parallel()
	s, base := start(t)
	addN(s, 2100)
	s.Tool().Acct.Reset()
	first, err := connect(t, base, key, nil).ListOrganizations(context.Background(), connector.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Next == "" || first.Total != 2100 || first.TotalPages != 3 {
		t.Fatalf("first page: next %q total %d pages %d", first.Next, first.Total, first.TotalPages)
	}
	// A new connector stands for integration-sync after a restart, holding only the checkpoint.
	rest, pages := listAll(t, connect(t, base, key, nil), connector.ListQuery{Cursor: first.Next})
	if pages != 2 {
		t.Errorf("resumed pages = %d, want 2", pages)
	}
	seen := map[string]bool{}
	for _, c := range append(first.Companies, rest...) {
		if seen[c.ExternalID] {
			t.Fatalf("company %s listed twice", c.ExternalID)
		}
		seen[c.ExternalID] = true
	}
	if len(seen) != 2100 {
		t.Fatalf("listed %d, want 2100", len(seen))
	}
	if n := s.Tool().Acct.Snapshot().Requests["GET /organizations"]; n != 3 {
		t.Errorf("list requests = %d, want 3", n)
	}
}

func TestIncrementalListsOnlyChangedSince(t *testing.T) {
	t.Parallel()
	s, base := start(t)
	st := s.Tool().Store
	old := time.Now().Add(-48 * time.Hour)
	st.SetClock(func() time.Time { return old })
	addN(s, 20)
	st.SetClock(time.Now)
	since := time.Now().Add(-time.Minute)
	fresh := st.Add(simkit.Company{Name: "Fresh One", Active: true})
	renamed, _ := st.Update(1005, false, func(c *simkit.Company) { c.Name = "Renamed" })

	got, _ := listAll(t, connect(t, base, key, nil), connector.ListQuery{ChangedSince: since})
	ids := map[string]bool{}
	for _, c := range got {
		ids[c.ExternalID] = true
	}
	if len(got) != 2 || !ids[itoa(fresh.ID)] || !ids[itoa(renamed.ID)] {
		t.Fatalf("incremental listing = %+v, want only %d and %d", got, fresh.ID, renamed.ID)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// recorder keeps the bodies the connector sent, by method.
type recorder struct {
	mu     sync.Mutex
	bodies map[string][]string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		r.bodies[req.Method] = append(r.bodies[req.Method], string(b))
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestCreateUpdateDeactivateDelete(t *testing.T) {
	t.Parallel()
	s, base := start(t)
	rec := &recorder{bodies: map[string][]string{}}
	c := connect(t, base, key, &http.Client{Transport: rec, Timeout: 10 * time.Second})
	ctx := context.Background()

	types, err := c.ListTypes(ctx)
	if err != nil || len(types) < 3 {
		t.Fatalf("types = %v, %v", types, err)
	}
	vendor := types[1]
	parent, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "ACME Dental", TypeID: vendor.ID})
	if err != nil {
		t.Fatal(err)
	}
	if parent.Name != "ACME Dental" || parent.TypeID != vendor.ID || parent.TypeName != vendor.Name || !parent.Active {
		t.Fatalf("created %+v", parent)
	}
	if b := rec.bodies["POST"][0]; !strings.Contains(b, `"organization_type_id":`) || !strings.Contains(b, `"type":"organizations"`) {
		t.Errorf("create body not snake_case JSON:API: %s", b)
	}
	child, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "ACME Dental East", ParentID: parent.ExternalID})
	if err != nil || child.ParentID != parent.ExternalID {
		t.Fatalf("child %+v, %v", child, err)
	}

	_, err = c.CreateOrganization(ctx, connector.NewCompany{Name: " "})
	var ve *connector.VendorError
	if !errors.Is(err, connector.ErrRejected) || !errors.As(err, &ve) || ve.Status != 422 || !strings.Contains(ve.Message, "Name can't be blank") {
		t.Fatalf("blank name: %v", err)
	}

	name := "Acme Dental Group"
	up, err := c.UpdateOrganization(ctx, parent.ExternalID, connector.Changes{Name: &name})
	if err != nil || up.Name != name || up.TypeID != vendor.ID {
		t.Fatalf("update = %+v, %v", up, err)
	}
	var patch struct {
		Data struct {
			Type       string         `json:"type"`
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(rec.bodies["PATCH"][0]), &patch); err != nil {
		t.Fatal(err)
	}
	if attrs := patch.Data.Attributes; patch.Data.Type != "organizations" || len(attrs) != 1 || attrs["name"] != name {
		t.Errorf("PATCH sent %v, want only the name", attrs)
	}

	for _, id := range []string{parent.ExternalID, child.ExternalID} {
		if err := c.DeactivateOrganization(ctx, id); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetOrganization(ctx, id)
		if err != nil || got.Active || got.StatusName != "Inactive" {
			t.Fatalf("after deactivate: %+v, %v", got, err)
		}
	}
	if n := s.Tool().Acct.Snapshot().Requests["GET /organization_statuses"]; n != 1 {
		t.Errorf("status lookups = %d, want 1 (cached)", n)
	}

	if err := c.DeleteOrganization(ctx, parent.ExternalID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{parent.ExternalID, child.ExternalID} {
		if _, err := c.GetOrganization(ctx, id); !errors.Is(err, connector.ErrNotFound) {
			t.Errorf("get %s after delete: %v, want ErrNotFound", id, err)
		}
	}
	if err := c.DeleteOrganization(ctx, parent.ExternalID); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func TestWrongKeyIsUnauthorizedWithVendorMessage(t *testing.T) {
	t.Parallel()
	_, base := start(t)
	err := connect(t, base, "not-the-key", nil).Verify(context.Background())
	var ve *connector.VendorError
	if !errors.Is(err, connector.ErrUnauthorized) || !errors.As(err, &ve) || ve.Status != http.StatusForbidden || !strings.Contains(ve.Message, "Invalid API key") {
		t.Fatalf("err = %v, want 403 ErrUnauthorized with IT Glue's message", err)
	}
	if strings.Contains(err.Error(), "not-the-key") {
		t.Fatal("the key leaked into the error")
	}
}

func TestInjectedFailures(t *testing.T) {
	t.Parallel()
	s, base := start(t)
	c := connect(t, base, key, nil)
	s.Tool().Faults.Inject(simkit.Fault{Status: http.StatusServiceUnavailable})
	if _, err := c.ListOrganizations(context.Background(), connector.ListQuery{}); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("503: %v, want ErrUnavailable", err)
	}
	s.Tool().SetQuota(1, time.Minute)
	if err := c.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := c.Verify(context.Background())
	var ve *connector.VendorError
	if !errors.Is(err, connector.ErrUnavailable) || !errors.As(err, &ve) || ve.Status != http.StatusTooManyRequests {
		t.Fatalf("over quota: %v, want 429 ErrUnavailable", err)
	}
}

func TestNoSignedWebhooks(t *testing.T) {
	t.Parallel()
	c := connect(t, "http://127.0.0.1:1", key, nil)
	for _, h := range []http.Header{{}, {"X-Signature": {"abc"}}} {
		if _, err := c.VerifyWebhook(h, []byte(`{"id":"1"}`)); !errors.Is(err, connector.ErrBadSignature) {
			t.Fatalf("err = %v, want ErrBadSignature", err)
		}
	}
}

// hostRecorder answers every request itself, remembering where it was sent.
type hostRecorder struct{ host string }

func (h *hostRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	h.host = req.URL.Host
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"data":[],"meta":{}}`)), Header: http.Header{}, Request: req}, nil
}

func TestRegionPicksBaseURL(t *testing.T) {
	t.Parallel()
	for region, host := range map[string]string{"": "api.itglue.com", "us": "api.itglue.com", "eu": "api.eu.itglue.com", "AU": "api.au.itglue.com"} {
		rt := &hostRecorder{}
		c, err := itglue.New(connector.Config{Credentials: map[string]string{"apiKey": key, "region": region}}, &http.Client{Transport: rt})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Verify(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rt.host != host {
			t.Errorf("region %q went to %s, want %s", region, rt.host, host)
		}
	}
	if _, err := itglue.New(connector.Config{Credentials: map[string]string{"apiKey": key, "region": "mars"}}, nil); err == nil {
		t.Error("unknown region accepted")
	}
	if _, err := itglue.New(connector.Config{Credentials: map[string]string{}}, nil); err == nil {
		t.Error("missing apiKey accepted")
	}
}

func TestFindOrganizationByExactName(t *testing.T) {
	t.Parallel()
	s, base := start(t)
	c := connect(t, base, key, nil)
	ctx := context.Background()
	st := s.Tool().Store

	if _, err := c.FindOrganization(ctx, connector.NewCompany{Name: "Harbor Law"}); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("none: %v", err)
	}
	made, err := c.CreateOrganization(ctx, connector.NewCompany{Name: "Harbor Law "})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.FindOrganization(ctx, connector.NewCompany{Name: "Harbor Law "})
	if err != nil || got.ExternalID != made.ExternalID || got.Name != "Harbor Law" {
		t.Fatalf("find after create: %+v, %v", got, err)
	}
	if w := s.Tool().Writes(); len(w) != 1 {
		t.Fatalf("writes %+v", w)
	}
	st.Add(simkit.Company{Name: "HARBOR LAW", Active: true})
	newest := st.Add(simkit.Company{Name: "Harbor Law", Active: true})
	st.Add(simkit.Company{Name: "Harbor Law LLC", Active: true})
	if got, err = c.FindOrganization(ctx, connector.NewCompany{Name: "Harbor Law"}); err != nil || got.ExternalID != itoa(newest.ID) {
		t.Fatalf("newest exact: %+v, %v (want %d)", got, err, newest.ID)
	}
	if _, err := c.FindOrganization(ctx, connector.NewCompany{Name: " "}); !errors.Is(err, connector.ErrRejected) {
		t.Fatalf("blank: %v", err)
	}
	s.Tool().Faults.Inject(simkit.Fault{Status: http.StatusInternalServerError})
	if _, err := c.FindOrganization(ctx, connector.NewCompany{Name: "Harbor Law"}); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("outage: %v", err)
	}
}
