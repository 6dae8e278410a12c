// Package connectwise simulates ConnectWise PSA (Manage): the companyinfo discovery route and
// the REST API's company routes under /{codebase}apis/3.0/, with its conditions language,
// Link-header paging, Basic + clientId authentication, JSON Patch updates, error bodies, the
// deletedFlag pitfall and signed callbacks.
//
// Decisions where the vendor's documentation is thin (see also the connector's package doc):
//   - Listings include flagged (deletedFlag) companies unless the conditions exclude them:
//     integrations in the wild add "deletedFlag=false" themselves to hide them, and merged
//     companies show up in synced lists with deletedFlag true.
//   - Callbacks are signed as ConnectWise does: x-content-signature is
//     base64(HMAC-SHA256(key = SHA-256(signing key), body)). ConnectWise hands the signing key
//     out through a URL in the payload; here the key is the secret set through the control API.
package connectwise

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// Options are the credentials the simulated tenant accepts and where its API lives.
type Options struct {
	CompanyID, PublicKey, PrivateKey, ClientID string
	// Codebase is what companyinfo returns and the API's path prefix (default "v4_6_release/").
	Codebase string
}

// Limits ConnectWise documents (or that its integrators observe).
const (
	DefaultPageSize = 25
	MaxPageSize     = 1000
	// DefaultQuota is the simulator's request quota per minute: ConnectWise publishes none, but
	// heavy use above about this gets 429 with Retry-After.
	DefaultQuota      = 1000
	maxIdentifierLen  = 30
	maxNameLen        = 50
	defaultCodebase   = "v4_6_release/"
	versionCode       = "v2024.1"
	contentType       = "application/json; charset=utf-8"
	signatureHeader   = "x-content-signature"
	callbackMemberID  = "orgplane-api"
	callbackSourceURL = "api-na.myconnectwise.net"
)

// The tenant's company types and statuses (ConnectWise's defaults).
const (
	StatusActive      int64 = 1
	StatusInactive    int64 = 2
	StatusNotApproved int64 = 3
)

// Server is a simulated ConnectWise PSA tenant.
type Server struct {
	tool   *simkit.Tool
	o      Options
	prefix string // "/v4_6_release/apis/3.0"
	// writeMu serializes the API's writes, so that checking an identifier is free and storing
	// it is one step, as ConnectWise's unique index makes it: two concurrent creates of the same
	// identifier must not both succeed.
	writeMu sync.Mutex
}

// New returns an empty tenant accepting the credentials in o.
func New(o Options) *Server {
	if o.Codebase == "" {
		o.Codebase = defaultCodebase
	}
	o.Codebase = strings.Trim(o.Codebase, "/") + "/"
	types := []simkit.Option{{ID: 1, Name: "Client"}, {ID: 2, Name: "Prospect"}, {ID: 3, Name: "Vendor"},
		{ID: 4, Name: "Partner"}, {ID: 5, Name: "Competitor"}}
	statuses := []simkit.Option{{ID: StatusActive, Name: "Active"}, {ID: StatusInactive, Name: "Inactive"},
		{ID: StatusNotApproved, Name: "Not-Approved"}}
	store := simkit.NewStore(19300, types, statuses)
	s := &Server{o: o, prefix: "/" + strings.TrimSuffix(o.Codebase, "/") + "/apis/3.0"}
	s.tool = simkit.NewTool(store, errorBody)
	s.tool.SetQuota(DefaultQuota, time.Minute)
	s.tool.Webhooks(s.callback)
	s.routes()
	return s
}

// Tool is the simulated tool (store, faults, accounting, quota, control API).
func (s *Server) Tool() *simkit.Tool { return s.tool }

// ServeHTTP serves the API and the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.tool.ServeHTTP(w, r) }

// Prefix is the API's path ("/v4_6_release/apis/3.0"); route patterns in Stats start with it.
func (s *Server) Prefix() string { return s.prefix }

func (s *Server) routes() {
	p := s.prefix
	s.tool.Handle("GET /login/companyinfo/{companyId}", nil, s.companyInfo)
	s.tool.Handle("GET "+p+"/system/info", s.auth, s.systemInfo)
	s.tool.Handle("GET "+p+"/company/companies", s.auth, s.listCompanies)
	s.tool.Handle("POST "+p+"/company/companies/search", s.auth, s.searchCompanies)
	s.tool.Handle("GET "+p+"/company/companies/count", s.auth, s.countCompanies)
	s.tool.Handle("GET "+p+"/company/companies/statuses", s.auth, s.options(func() []simkit.Option { return s.tool.Store.Statuses }))
	s.tool.Handle("GET "+p+"/company/companies/types", s.auth, s.options(func() []simkit.Option { return s.tool.Store.Types }))
	s.tool.Handle("POST "+p+"/company/companies", s.auth, s.createCompany)
	s.tool.Handle("GET "+p+"/company/companies/{id}", s.auth, s.getCompany)
	s.tool.Handle("PATCH "+p+"/company/companies/{id}", s.auth, s.patchCompany)
	s.tool.Handle("PUT "+p+"/company/companies/{id}", s.auth, s.putCompany)
	s.tool.Handle("DELETE "+p+"/company/companies/{id}", s.auth, s.deleteCompany)
}

// auth checks ConnectWise's two credentials: the clientId header (the integration's id) and
// Basic "{companyId}+{publicKey}:{privateKey}" (the API member's keys). The company id is
// case-insensitive, as at ConnectWise's login.
func (s *Server) auth(r *http.Request) (int, string) {
	if strings.TrimSpace(r.Header.Get("clientId")) == "" {
		return http.StatusUnauthorized, "The clientId header is required. Register an integration at developer.connectwise.com/ClientID."
	}
	if r.Header.Get("clientId") != s.o.ClientID {
		return http.StatusUnauthorized, "The clientId provided is not valid."
	}
	user, pass, ok := r.BasicAuth()
	company, public, _ := strings.Cut(user, "+")
	if !ok || !strings.EqualFold(company, s.o.CompanyID) ||
		!hmac.Equal([]byte(public), []byte(s.o.PublicKey)) || !hmac.Equal([]byte(pass), []byte(s.o.PrivateKey)) {
		return http.StatusUnauthorized, "Authentication failed: the API member's keys or company are not valid."
	}
	return 0, ""
}

// apiError is ConnectWise's error body.
type apiError struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Errors  []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Resource string `json:"resource"`
	Field    string `json:"field"`
}

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "InvalidObject"
	case http.StatusUnauthorized:
		return "Unauthorized"
	case http.StatusForbidden:
		return "NotAuthorized"
	case http.StatusNotFound:
		return "NotFound"
	case http.StatusConflict:
		return "Conflict"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	}
	if status >= 500 {
		return "UnexpectedError"
	}
	return "InvalidObject"
}

func errorBody(status int, message string) (string, []byte) {
	b, _ := json.Marshal(apiError{Code: codeFor(status), Message: message})
	return contentType, b
}

// invalid answers 400 with the field errors, as ConnectWise does for a bad object or query.
func invalid(w http.ResponseWriter, message string, errs ...fieldError) {
	simkit.WriteJSON(w, http.StatusBadRequest, contentType, apiError{Code: "InvalidObject", Message: message, Errors: errs})
}

func (s *Server) companyInfo(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.PathValue("companyId"), s.o.CompanyID) {
		s.tool.Error(w, http.StatusNotFound, "Company not found.")
		return
	}
	simkit.WriteJSON(w, http.StatusOK, contentType, map[string]any{
		"CompanyName":   "Orgplane Dev MSP",
		"Codebase":      s.o.Codebase,
		"VersionCode":   versionCode,
		"VersionNumber": "v2024.1.100000",
		"CompanyID":     s.o.CompanyID,
		"IsCloud":       true,
		"SiteUrl":       r.Host,
	})
}

func (s *Server) systemInfo(w http.ResponseWriter, _ *http.Request) {
	simkit.WriteJSON(w, http.StatusOK, contentType, map[string]any{
		"version":        versionCode + ".100000",
		"isCloud":        true,
		"serverTimeZone": "Eastern Standard Time",
		"cloudRegion":    "NA",
	})
}

func (s *Server) options(list func() []simkit.Option) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		out := make([]map[string]any, 0, len(list()))
		for _, o := range list() {
			out = append(out, map[string]any{"id": o.ID, "name": o.Name, "defaultFlag": o.ID == 1,
				"_info": map[string]any{"lastUpdated": "2020-01-01T00:00:00Z"}})
		}
		simkit.WriteJSON(w, http.StatusOK, contentType, out)
	}
}

// callback renders ConnectWise's callback body for a company change and signs it.
func (s *Server) callback(action string, c simkit.Company, secret string) (http.Header, []byte) {
	entity, _ := json.Marshal(s.render(c))
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	body, _ := json.Marshal(map[string]any{
		"MessageId":         hex.EncodeToString(id),
		"FromUrl":           callbackSourceURL,
		"CompanyId":         s.o.CompanyID,
		"MemberId":          callbackMemberID,
		"Action":            action,
		"Type":              "company",
		"ID":                c.ID,
		"ProductInstanceId": nil,
		"PartnerId":         nil,
		"Entity":            string(entity),
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(signatureHeader, Sign(body, secret))
	return h, body
}

// Sign is ConnectWise's callback signature of body under secret:
// base64(HMAC-SHA256(key = SHA-256(secret), body)).
func Sign(body []byte, secret string) string {
	key := sha256.Sum256([]byte(secret))
	m := hmac.New(sha256.New, key[:])
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
