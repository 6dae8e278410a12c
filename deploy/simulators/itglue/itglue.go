// Package itglue simulates IT Glue's organizations API: JSON:API bodies with kebab-case
// attributes, x-api-key auth, page[number]/page[size] paging with meta, filters and sorting,
// snake_case create/update attributes, bulk delete, and 3,000 requests per 5 minutes.
//
// IT Glue has no signed webhooks and no deleted flag: a deleted organization vanishes.
package itglue

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// ContentType is IT Glue's JSON:API media type.
const ContentType = "application/vnd.api+json"

// Documented limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
	QuotaRequests   = 3000
	QuotaWindow     = 5 * time.Minute
	// maxNameLength is what the simulator accepts for a name (unconfirmed for IT Glue).
	maxNameLength = 255
)

// Options are what the simulated tenant accepts.
type Options struct {
	// APIKey is the only x-api-key the tenant accepts.
	APIKey string
}

// Server is a simulated IT Glue tenant.
type Server struct {
	tool   *simkit.Tool
	apiKey string

	// extra holds the free-text attributes simkit.Company has no room for.
	mu    sync.Mutex
	extra map[int64]extraAttrs
}

type extraAttrs struct {
	Description, QuickNotes, Alert string
}

// The documented lists; ids are arbitrary but stable.
func types() []simkit.Option {
	return []simkit.Option{{ID: 101, Name: "Customer"}, {ID: 102, Name: "Vendor"}, {ID: 103, Name: "Prospect"},
		{ID: 104, Name: "Partner"}, {ID: 105, Name: "Owner"}}
}

func statuses() []simkit.Option {
	return []simkit.Option{{ID: 201, Name: "Active"}, {ID: 202, Name: "Inactive"}}
}

// New returns an empty tenant accepting o.APIKey, with IT Glue's types, statuses and quota.
func New(o Options) *Server {
	s := &Server{apiKey: o.APIKey, extra: map[int64]extraAttrs{}}
	store := simkit.NewStore(1001, types(), statuses())
	s.tool = simkit.NewTool(store, ErrorBody)
	s.tool.SetQuota(QuotaRequests, QuotaWindow)
	// A removed organization takes its free-text attributes with it.
	store.OnChange(func(action string, c simkit.Company) {
		if action == "deleted" {
			s.mu.Lock()
			delete(s.extra, c.ID)
			s.mu.Unlock()
		}
	})
	s.routes()
	return s
}

// Tool is the simulated tool (store, faults, accounting, quota).
func (s *Server) Tool() *simkit.Tool { return s.tool }

// ServeHTTP serves IT Glue's routes and the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.tool.ServeHTTP(w, r) }

// SeedDefault fills the tenant with the dev data: IT Glue spells the base names with the first
// word upper-cased ("ACME Dental"), every 7th is a sub-organization, every 9th inactive, and
// every 23rd deleted (gone, as IT Glue has no deleted flag).
func (s *Server) SeedDefault(base []string) {
	names := make([]string, len(base))
	for i, n := range base {
		v := simkit.UpperFirst
		if i%5 == 4 {
			v = simkit.AsIs
		}
		names[i] = simkit.Vary(n, v, i)
	}
	simkit.Seed(s.tool.Store, simkit.SeedOptions{Names: names, SubEvery: 7, DeleteEvery: 23, Remove: true, InactiveEvery: 9})
}

func (s *Server) routes() {
	auth := s.auth
	s.tool.Handle("GET /organizations", auth, s.listOrganizations)
	s.tool.Handle("GET /organizations/{id}", auth, s.getOrganization)
	s.tool.Handle("POST /organizations", auth, s.createOrganization)
	s.tool.Handle("PATCH /organizations/{id}", auth, s.updateOrganization)
	s.tool.Handle("DELETE /organizations", auth, s.deleteOrganizations)
	s.tool.Handle("GET /organization_types", auth, s.listOptions(s.tool.Store.Types, "organization-types"))
	s.tool.Handle("GET /organization_statuses", auth, s.listOptions(s.tool.Store.Statuses, "organization-statuses"))
}

// auth answers as IT Glue does: no key is 401, a key it does not know is 403.
func (s *Server) auth(r *http.Request) (int, string) {
	key := r.Header.Get("x-api-key")
	switch {
	case key == "":
		return http.StatusUnauthorized, "Unauthorized resource access"
	case key != s.apiKey:
		return http.StatusForbidden, "Invalid API key"
	}
	return 0, ""
}

// apiError is one JSON:API error object.
type apiError struct {
	Status int        `json:"status"`
	Title  string     `json:"title"`
	Detail string     `json:"detail,omitempty"`
	Source *errSource `json:"source,omitempty"`
}

type errSource struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

// ErrorBody renders IT Glue's error document for a status and message.
func ErrorBody(status int, message string) (string, []byte) {
	b, _ := json.Marshal(map[string][]apiError{"errors": {{Status: status, Title: http.StatusText(status), Detail: message}}})
	return ContentType, b
}

func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	for i := range errs {
		errs[i].Status = status
		if errs[i].Title == "" {
			errs[i].Title = http.StatusText(status)
		}
	}
	simkit.WriteJSON(w, status, ContentType, map[string][]apiError{"errors": errs})
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeErrors(w, http.StatusNotFound, apiError{Detail: "Record not found"})
		return 0, false
	}
	return id, true
}
