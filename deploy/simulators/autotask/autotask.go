// Package autotask simulates Autotask PSA's REST API for companies: zone discovery, the three
// authentication headers, Companies/query with Autotask's filter grammar and id-ordered pages of
// at most 500, create and PATCH (no delete: Autotask companies can only be made inactive), the
// companyType picklist, {"errors":[...]} bodies, the per-database hourly quota, the per-endpoint
// concurrency limit and signed company webhooks.
//
// Wire choices where Autotask's documentation is silent or unverified are listed in
// doc comments next to the code that makes them.
package autotask

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// Route patterns, as the simulator's accounting (simkit Stats.Requests) names them. Autotask's
// paths are case-insensitive, so requests are matched on the lower-cased path.
const (
	RouteZone        = "GET /atservicesrest/v1.0/zoneinformation"
	RouteQuery       = "POST /atservicesrest/v1.0/companies/query"
	RouteQueryGet    = "GET /atservicesrest/v1.0/companies/query"
	RouteGet         = "GET /atservicesrest/v1.0/companies/{id}"
	RouteCreate      = "POST /atservicesrest/v1.0/companies"
	RouteUpdate      = "PATCH /atservicesrest/v1.0/companies"
	RouteDelete      = "DELETE /atservicesrest/v1.0/companies/{id}"
	RouteDeleteBulk  = "DELETE /atservicesrest/v1.0/companies"
	RouteFields      = "GET /atservicesrest/v1.0/companies/entityinformation/fields"
	apiPrefix        = "/atservicesrest/"
	contentType      = "application/json; charset=utf-8"
	maxRecords       = 500
	maxNameLength    = 100
	defaultOwnerID   = 29682885
	defaultRateLimit = 10000
	concurrencyLimit = 3
)

// companyTypes is Autotask's system companyType picklist.
func companyTypes() []simkit.Option {
	return []simkit.Option{
		{ID: 1, Name: "Customer"}, {ID: 2, Name: "Lead"}, {ID: 3, Name: "Prospect"}, {ID: 4, Name: "Dead"},
		{ID: 5, Name: "Cancellation"}, {ID: 6, Name: "Vendor"}, {ID: 7, Name: "Partner"},
	}
}

// Options are what the simulated tenant accepts.
type Options struct {
	// APIUser is the API user's user name (also the ZoneInformation ?user= it knows).
	APIUser string
	Secret  string
	// IntegrationCode is the API tracking identifier.
	IntegrationCode string
}

// Server is a simulated Autotask database.
type Server struct {
	tool *simkit.Tool
	opts Options
	// hookGUID identifies the simulated CompanyWebhook; Autotask sends it in every payload.
	hookGUID string

	mu     sync.Mutex
	seq    int64
	active map[int64]bool // last known isActive per company, to tell Deactivate from Update
}

// New returns an empty simulated database with Autotask's documented limits.
func New(o Options) *Server {
	// Statuses are not an Autotask notion (isActive is); the store's pair keeps simkit's seeding
	// and the control API meaningful.
	store := simkit.NewStore(100, companyTypes(), []simkit.Option{{ID: 1, Name: "Active"}, {ID: 2, Name: "Inactive"}})
	s := &Server{opts: o, hookGUID: newGUID(), active: map[int64]bool{}}
	s.tool = simkit.NewTool(store, errorBody)
	s.tool.Concurrency = concurrencyLimit
	s.tool.SetQuota(defaultRateLimit, time.Hour)
	s.tool.Webhooks(s.buildWebhook)
	// Registered after the tool's own listener, so the webhook builder still sees the state from
	// before the change.
	store.OnChange(s.remember)
	s.routes()
	return s
}

// Tool is the simkit tool behind the server (store, faults, accounting, quota).
func (s *Server) Tool() *simkit.Tool { return s.tool }

// ServeHTTP serves the API; Autotask matches its paths case-insensitively ("ATServicesRest/V1.0").
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Path) >= len(apiPrefix) && strings.EqualFold(r.URL.Path[:len(apiPrefix)], apiPrefix) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.ToLower(r.URL.Path)
		r2.URL.RawPath = ""
		r = r2
	}
	s.tool.ServeHTTP(w, r)
}

func (s *Server) routes() {
	t := s.tool
	t.Handle(RouteZone, nil, s.zone)
	t.Handle(RouteQuery, s.auth, s.queryPost)
	t.Handle(RouteQueryGet, s.auth, s.queryGet)
	t.Handle(RouteFields, s.auth, s.fields)
	t.Handle(RouteGet, s.auth, s.get)
	t.Handle(RouteCreate, s.auth, s.create)
	t.Handle(RouteUpdate, s.auth, s.update)
	// Companies cannot be deleted through the API; Autotask's Web API answers the verb it has
	// no action for with 405.
	noDelete := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", "GET, POST, PATCH")
		t.Error(w, http.StatusMethodNotAllowed, "The requested resource does not support http method 'DELETE'.")
	}
	t.Handle(RouteDelete, s.auth, noDelete)
	t.Handle(RouteDeleteBulk, s.auth, noDelete)
}

// auth checks the three headers Autotask requires on every call. A missing or wrong one gets
// 401; the message names none of the values.
func (s *Server) auth(r *http.Request) (int, string) {
	code, user, secret := r.Header.Get("ApiIntegrationCode"), r.Header.Get("UserName"), r.Header.Get("Secret")
	if code == "" || user == "" || secret == "" {
		return http.StatusUnauthorized, "Missing authentication headers: ApiIntegrationCode, UserName and Secret are required."
	}
	if !strings.EqualFold(user, s.opts.APIUser) || secret != s.opts.Secret || code != s.opts.IntegrationCode {
		return http.StatusUnauthorized, "Unauthorized: the user name, secret or API integration code is not valid."
	}
	return 0, ""
}

// errorBody is Autotask's error shape: a list of plain strings.
func errorBody(_ int, message string) (string, []byte) {
	b, _ := json.Marshal(map[string][]string{"errors": {message}})
	return contentType, b
}

func (s *Server) fail(w http.ResponseWriter, status int, message string) {
	s.tool.Error(w, status, message)
}

// zone answers ZoneInformation. It takes no credentials. An unknown user gets 404 (unconfirmed:
// Autotask's exact status for it is not documented).
func (s *Server) zone(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user == "" {
		s.fail(w, http.StatusBadRequest, "The user parameter is required.")
		return
	}
	if !strings.EqualFold(user, s.opts.APIUser) {
		s.fail(w, http.StatusNotFound, "Zone information could not be determined for the user.")
		return
	}
	base := baseURL(r)
	simkit.WriteJSON(w, http.StatusOK, contentType, map[string]any{
		"zoneName": "Simulated Zone", "url": base + apiPrefix, "webUrl": base + "/", "ci": 0,
	})
}

// baseURL is this server as the client reached it, so zone discovery works behind httptest.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) fields(w http.ResponseWriter, _ *http.Request) {
	types := s.tool.Store.Types
	picks := make([]map[string]any, 0, len(types))
	for i, o := range types {
		picks = append(picks, map[string]any{
			"value": itoa(o.ID), "label": o.Name, "isDefaultValue": false, "sortOrder": i + 1,
			"parentValue": "", "isActive": true, "isSystem": true,
		})
	}
	field := func(name, dataType string, length int, required, readOnly bool) map[string]any {
		return map[string]any{
			"name": name, "dataType": dataType, "length": length, "isRequired": required, "isReadOnly": readOnly,
			"isQueryable": true, "isReference": false, "referenceEntityType": "", "isPickList": false,
			"picklistValues": nil, "picklistParentValueField": "", "isSupportedWebhookField": true,
		}
	}
	typ := field("companyType", "integer", 0, true, false)
	typ["isPickList"], typ["picklistValues"] = true, picks
	parent := field("parentCompanyID", "integer", 0, false, false)
	parent["isReference"], parent["referenceEntityType"] = true, "Company"
	owner := field("ownerResourceID", "integer", 0, true, false)
	owner["isReference"], owner["referenceEntityType"] = true, "Resource"
	simkit.WriteJSON(w, http.StatusOK, contentType, map[string]any{"fields": []map[string]any{
		field("id", "long", 0, true, true),
		field("companyName", "string", maxNameLength, true, false),
		typ,
		field("isActive", "boolean", 0, false, false),
		parent,
		owner,
		field("lastTrackedModifiedDateTime", "datetime", 0, false, true),
		field("createDate", "datetime", 0, false, true),
	}})
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
