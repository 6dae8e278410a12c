package generic_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orgplane/orgplane/deploy/simulators/generic"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

type listDoc struct {
	Data struct {
		Clients []struct {
			ID     int64  `json:"id"`
			Title  string `json:"title"`
			Parent *struct {
				ID int64 `json:"id"`
			} `json:"parent"`
			Modified string `json:"modified"`
			Status   struct {
				Active bool `json:"active"`
			} `json:"status"`
		} `json:"clients"`
	} `json:"data"`
	Error string `json:"error"`
}

func get(t *testing.T, url, auth string) (int, listDoc) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc listDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, doc
}

func TestClients(t *testing.T) {
	t.Parallel()
	s := generic.New(generic.Options{Token: "tok"})
	st := s.Tool().Store
	parent := st.Add(simkit.Company{Name: "Acme", Active: true})
	st.Add(simkit.Company{Name: "Acme East", Active: false, ParentID: parent.ID})
	gone := st.Add(simkit.Company{Name: "Gone", Active: true})
	st.Remove(gone.ID)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)

	for _, auth := range []string{"", "Bearer nope", "tok"} {
		if status, doc := get(t, srv.URL+"/api/clients", auth); status != 401 || doc.Error == "" {
			t.Errorf("auth %q: %d %q, want 401 with an error", auth, status, doc.Error)
		}
	}
	status, doc := get(t, srv.URL+"/api/clients?per_page=1&page=2", "Bearer tok")
	if status != 200 || len(doc.Data.Clients) != 1 {
		t.Fatalf("page 2: %d %+v", status, doc)
	}
	c := doc.Data.Clients[0]
	if c.Title != "Acme East" || c.Parent == nil || c.Parent.ID != parent.ID || c.Status.Active || c.Modified == "" {
		t.Errorf("client = %+v", c)
	}
	if _, doc := get(t, srv.URL+"/api/clients?page=3&per_page=1", "Bearer tok"); len(doc.Data.Clients) != 0 {
		t.Errorf("removed client listed: %+v", doc.Data.Clients)
	}
	for _, q := range []string{"per_page=101", "page=0", "per_page=x"} {
		if status, doc := get(t, srv.URL+"/api/clients?"+q, "Bearer tok"); status != 400 || doc.Error == "" {
			t.Errorf("%s: %d, want 400", q, status)
		}
	}
}

func TestSeedDefault(t *testing.T) {
	t.Parallel()
	s := generic.New(generic.Options{Token: "tok"})
	s.SeedDefault(simkit.BaseNames(100, 2))
	all := s.Tool().Store.All()
	subs := 0
	for _, c := range all {
		if c.ParentID != 0 {
			subs++
		}
	}
	if len(all) != 100-100/17 || subs == 0 {
		t.Fatalf("seeded %d companies, %d subs", len(all), subs)
	}
}
