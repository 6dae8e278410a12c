// Package generic simulates a small tool that only exposes a JSON list of its clients, the kind
// Orgplane's generic connector is configured for by URL, auth header and field paths. Its items
// nest what matters (data.clients[].parent.id, status.active) so the paths are exercised.
package generic

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// Limits of the simulated tool.
const (
	DefaultPerPage = 25
	MaxPerPage     = 100
	QuotaRequests  = 600
	QuotaWindow    = time.Minute
)

// Options are what the simulated tool accepts.
type Options struct {
	// Token is the only bearer token accepted ("Authorization: Bearer <token>").
	Token string
}

// Server is the simulated tool.
type Server struct {
	tool  *simkit.Tool
	token string
}

// New returns an empty tool accepting o.Token.
func New(o Options) *Server {
	s := &Server{token: o.Token}
	s.tool = simkit.NewTool(simkit.NewStore(1, nil, nil), ErrorBody)
	s.tool.SetQuota(QuotaRequests, QuotaWindow)
	s.tool.Handle("GET /api/clients", s.auth, s.listClients)
	return s
}

// Tool is the simulated tool (store, faults, accounting, quota).
func (s *Server) Tool() *simkit.Tool { return s.tool }

// ServeHTTP serves the tool's route and the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.tool.ServeHTTP(w, r) }

// SeedDefault fills the tool with the dev data: names without punctuation ("St Marys Pharmacy"),
// every 5th a sub-client, every 11th inactive, every 17th deleted (gone).
func (s *Server) SeedDefault(base []string) {
	names := make([]string, len(base))
	for i, n := range base {
		names[i] = simkit.Vary(n, simkit.NoPunct, i)
	}
	simkit.Seed(s.tool.Store, simkit.SeedOptions{Names: names, SubEvery: 5, DeleteEvery: 17, Remove: true, InactiveEvery: 11})
}

// ErrorBody is the tool's error shape: {"error":"..."}.
func ErrorBody(_ int, message string) (string, []byte) {
	b, _ := json.Marshal(map[string]string{"error": message})
	return "application/json", b
}

func (s *Server) auth(r *http.Request) (int, string) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || tok == "":
		return http.StatusUnauthorized, "missing bearer token"
	case tok != s.token:
		return http.StatusUnauthorized, "invalid token"
	}
	return 0, ""
}

type ref struct {
	ID int64 `json:"id"`
}

type client struct {
	ID       int64  `json:"id"`
	Title    string `json:"title"`
	Parent   *ref   `json:"parent"`
	Modified string `json:"modified"`
	Status   struct {
		Active bool `json:"active"`
	} `json:"status"`
}

func positive(v string, def int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n > 0
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, ok := positive(q.Get("page"), 1)
	if !ok {
		s.tool.Error(w, http.StatusBadRequest, "page must be a positive integer")
		return
	}
	per, ok := positive(q.Get("per_page"), DefaultPerPage)
	if !ok || per > MaxPerPage {
		s.tool.Error(w, http.StatusBadRequest, "per_page must be between 1 and "+strconv.Itoa(MaxPerPage))
		return
	}
	all := slices.DeleteFunc(s.tool.Store.All(), func(c simkit.Company) bool { return c.Deleted })
	from := min((page-1)*per, len(all))
	to := min(from+per, len(all))
	out := make([]client, 0, to-from)
	for _, c := range all[from:to] {
		cl := client{ID: c.ID, Title: c.Name, Modified: c.UpdatedAt.UTC().Format(time.RFC3339)}
		if c.ParentID != 0 {
			cl.Parent = &ref{ID: c.ParentID}
		}
		cl.Status.Active = c.Active
		out = append(out, cl)
	}
	simkit.WriteJSON(w, http.StatusOK, "application/json", map[string]any{
		"data": map[string]any{"clients": out},
		"meta": map[string]int{"page": page, "per_page": per, "total": len(all)},
	})
}
