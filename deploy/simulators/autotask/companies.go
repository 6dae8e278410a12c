package autotask

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// TimeFormat is how Autotask writes datetimes: UTC with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Validation failures get 500, as Autotask answers them ("Unable to find x in the Company
// Entity.", a missing required field); only a body that is not JSON gets 400.
const statusValidation = http.StatusInternalServerError

// item renders a company the way Autotask spells it.
func item(c simkit.Company) map[string]any {
	var parent any
	if c.ParentID != 0 {
		parent = c.ParentID
	}
	return map[string]any{
		"id":                          c.ID,
		"companyName":                 c.Name,
		"companyType":                 c.TypeID,
		"isActive":                    c.Active,
		"parentCompanyID":             parent,
		"ownerResourceID":             defaultOwnerID,
		"lastTrackedModifiedDateTime": c.UpdatedAt.UTC().Format(TimeFormat),
		"createDate":                  c.CreatedAt.UTC().Format(TimeFormat),
		"userDefinedFields":           []any{},
	}
}

// visible reports whether the API shows c: Autotask has no deleted flag, so a company the
// control API flagged deleted is gone for it.
func visible(c simkit.Company) bool { return !c.Deleted }

// query is a Companies/query body.
type query struct {
	MaxRecords    *int        `json:"MaxRecords"`
	IncludeFields []string    `json:"IncludeFields"`
	Filter        []condition `json:"filter"`
}

func (s *Server) queryPost(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.fail(w, http.StatusBadRequest, "The request body could not be read.")
		return
	}
	s.runQuery(w, r, body)
}

// queryGet is the same query passed as ?search=<json>, the form nextPageUrl uses.
func (s *Server) queryGet(w http.ResponseWriter, r *http.Request) {
	search := r.URL.Query().Get("search")
	if search == "" {
		s.fail(w, statusValidation, "The search parameter is required.")
		return
	}
	s.runQuery(w, r, []byte(search))
}

func (s *Server) runQuery(w http.ResponseWriter, r *http.Request, body []byte) {
	var q query
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&q); err != nil {
		s.fail(w, http.StatusBadRequest, "The query could not be parsed: "+err.Error())
		return
	}
	limit := maxRecords
	if q.MaxRecords != nil {
		limit = *q.MaxRecords
	}
	if limit < 1 || limit > maxRecords {
		s.fail(w, statusValidation, fmt.Sprintf("MaxRecords must be between 1 and %d.", maxRecords))
		return
	}
	if len(q.Filter) == 0 {
		s.fail(w, statusValidation, "A query must have at least one filter.")
		return
	}
	pred, err := compile(q.Filter)
	if err != nil {
		s.fail(w, statusValidation, err.Error())
		return
	}
	include, err := includeSet(q.IncludeFields)
	if err != nil {
		s.fail(w, statusValidation, err.Error())
		return
	}
	items := make([]map[string]any, 0, min(limit, 64))
	var lastID int64
	more := false
	for _, c := range s.tool.Store.All() { // ordered by id
		if !visible(c) || !pred(c) {
			continue
		}
		if len(items) == limit {
			more = true
			break
		}
		items = append(items, project(item(c), include))
		lastID = c.ID
	}
	var next any
	if more {
		// The next page is the same query narrowed to ids after this page's last, which is
		// also what robust clients send themselves.
		nq := map[string]any{"MaxRecords": limit, "filter": append(append([]condition(nil), q.Filter...),
			condition{Op: "gt", Field: "id", Value: json.RawMessage(strconv.FormatInt(lastID, 10))})}
		if len(q.IncludeFields) > 0 {
			nq["IncludeFields"] = q.IncludeFields
		}
		b, _ := json.Marshal(nq)
		next = baseURL(r) + apiPrefix + "v1.0/Companies/query?search=" + url.QueryEscape(string(b))
	}
	simkit.WriteJSON(w, http.StatusOK, contentType, map[string]any{
		"items": items,
		"pageDetails": map[string]any{
			"count": len(items), "requestCount": limit, "prevPageUrl": nil, "nextPageUrl": next,
		},
	})
}

func includeSet(fields []string) (map[string]bool, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	set := map[string]bool{"id": true}
	for _, f := range fields {
		name, ok := fieldName(f)
		if !ok {
			return nil, fmt.Errorf("Unable to find %s in the Company Entity.", f)
		}
		set[name] = true
	}
	return set, nil
}

func project(m map[string]any, include map[string]bool) map[string]any {
	if include == nil {
		return m
	}
	for k := range m {
		if !include[k] {
			delete(m, k)
		}
	}
	return m
}

// get answers one company. Autotask answers an id it does not have with 200 and a null item.
func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, statusValidation, "The id must be a number.")
		return
	}
	c, ok := s.tool.Store.Get(id)
	if !ok || !visible(c) {
		simkit.WriteJSON(w, http.StatusOK, contentType, map[string]any{"item": nil})
		return
	}
	simkit.WriteJSON(w, http.StatusOK, contentType, map[string]any{"item": item(c)})
}

// companyBody is a create or PATCH body; keys are matched case-insensitively, unknown and
// read-only ones ignored, as Autotask's deserializer does.
type companyBody map[string]json.RawMessage

func readBody(w http.ResponseWriter, r *http.Request) (companyBody, error) {
	raw := map[string]json.RawMessage{}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&raw); err != nil {
		return nil, err
	}
	b := companyBody{}
	for k, v := range raw {
		b[strings.ToLower(k)] = v
	}
	return b, nil
}

func (b companyBody) has(key string) bool { _, ok := b[strings.ToLower(key)]; return ok }

func (b companyBody) isNull(key string) bool {
	v, ok := b[strings.ToLower(key)]
	return ok && string(bytes.TrimSpace(v)) == "null"
}

func (b companyBody) int(key string) (int64, error) {
	v := b[strings.ToLower(key)]
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, fmt.Errorf("The value for field %s is not valid.", key)
		}
		n = json.Number(s)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("The value for field %s is not valid.", key)
	}
	return i, nil
}

func (b companyBody) str(key string) (string, error) {
	var s string
	if err := json.Unmarshal(b[strings.ToLower(key)], &s); err != nil {
		return "", fmt.Errorf("The value for field %s is not valid.", key)
	}
	return s, nil
}

func (b companyBody) bool(key string) (bool, error) {
	v := b[strings.ToLower(key)]
	var x bool
	if err := json.Unmarshal(v, &x); err == nil {
		return x, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if p, err := strconv.ParseBool(s); err == nil {
			return p, nil
		}
	}
	return false, fmt.Errorf("The value for field %s is not valid.", key)
}

// changes validates the writable fields present in b and returns a function applying them.
func (s *Server) changes(b companyBody, self int64) (func(*simkit.Company), error) {
	var fs []func(*simkit.Company)
	if b.has("companyName") {
		name, err := b.str("companyName")
		if err != nil {
			return nil, err
		}
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, errors.New("companyName: Value is required.")
		}
		if utf8.RuneCountInString(name) > maxNameLength {
			return nil, fmt.Errorf("companyName: Value exceeds the maximum length of %d characters.", maxNameLength)
		}
		fs = append(fs, func(c *simkit.Company) { c.Name = name })
	}
	if b.has("companyType") {
		t, err := b.int("companyType")
		if err != nil {
			return nil, err
		}
		if simkit.OptionName(s.tool.Store.Types, t) == "" {
			return nil, fmt.Errorf("companyType: The value %d is not a valid picklist value.", t)
		}
		fs = append(fs, func(c *simkit.Company) { c.TypeID = t })
	}
	if b.has("isActive") {
		a, err := b.bool("isActive")
		if err != nil {
			return nil, err
		}
		fs = append(fs, func(c *simkit.Company) {
			c.Active = a
			c.StatusID = 1
			if !a {
				c.StatusID = 2
			}
		})
	}
	if b.isNull("parentCompanyID") {
		fs = append(fs, func(c *simkit.Company) { c.ParentID = 0 })
	} else if b.has("parentCompanyID") {
		p, err := b.int("parentCompanyID")
		if err != nil {
			return nil, err
		}
		if p == self {
			return nil, errors.New("parentCompanyID: A company cannot be its own parent.")
		}
		if pc, ok := s.tool.Store.Get(p); !ok || !visible(pc) {
			return nil, fmt.Errorf("parentCompanyID: Company %d does not exist.", p)
		}
		fs = append(fs, func(c *simkit.Company) { c.ParentID = p })
	}
	return func(c *simkit.Company) {
		for _, f := range fs {
			f(c)
		}
	}, nil
}

// create adds a company: companyName and companyType are required. Autotask also requires
// ownerResourceID and phone; the simulator defaults the owner and does not model phone.
func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "The request body could not be parsed.")
		return
	}
	if !b.has("companyName") || b.isNull("companyName") {
		s.fail(w, statusValidation, "companyName: Value is required.")
		return
	}
	if !b.has("companyType") || b.isNull("companyType") {
		s.fail(w, statusValidation, "companyType: Value is required.")
		return
	}
	apply, err := s.changes(b, 0)
	if err != nil {
		s.fail(w, statusValidation, err.Error())
		return
	}
	c := simkit.Company{Active: true, StatusID: 1}
	apply(&c)
	added := s.tool.Add(c)
	simkit.WriteJSON(w, http.StatusOK, contentType, map[string]any{"itemId": added.ID})
}

// update is Autotask's PATCH: the body names the company by id and carries only what changes.
// An id the database does not have gets 404 (unconfirmed).
func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "The request body could not be parsed.")
		return
	}
	if !b.has("id") || b.isNull("id") {
		s.fail(w, statusValidation, "id: Value is required.")
		return
	}
	id, err := b.int("id")
	if err != nil {
		s.fail(w, statusValidation, err.Error())
		return
	}
	if c, ok := s.tool.Store.Get(id); !ok || !visible(c) {
		s.fail(w, http.StatusNotFound, fmt.Sprintf("Company with id %d was not found.", id))
		return
	}
	apply, err := s.changes(b, id)
	if err != nil {
		s.fail(w, statusValidation, err.Error())
		return
	}
	if _, ok := s.tool.Update(id, apply); !ok {
		s.fail(w, http.StatusNotFound, fmt.Sprintf("Company with id %d was not found.", id))
		return
	}
	simkit.WriteJSON(w, http.StatusOK, contentType, map[string]any{"itemId": id})
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// parseTime reads the datetime forms Autotask accepts in filters.
func parseTime(s string) (time.Time, bool) {
	for _, f := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(f, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
