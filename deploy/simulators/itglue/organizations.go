package itglue

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// resource is one JSON:API resource object.
type resource struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Attributes map[string]any `json:"attributes"`
}

func timeText(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// render spells a company the way IT Glue's organization resource does (kebab-case attributes).
func (s *Server) render(c simkit.Company) resource {
	st := s.tool.Store
	var parent any
	ancestors := []string{}
	if c.ParentID != 0 {
		parent = c.ParentID
		// Walk up the parents; the bound guards against a cycle made through the control API.
		for id, n := c.ParentID, 0; id != 0 && n < 64; n++ {
			ancestors = append([]string{strconv.FormatInt(id, 10)}, ancestors...)
			p, ok := st.Get(id)
			if !ok {
				break
			}
			id = p.ParentID
		}
	}
	s.mu.Lock()
	x := s.extra[c.ID]
	s.mu.Unlock()
	var shortName any
	if c.Identifier != "" {
		shortName = c.Identifier
	}
	return resource{ID: strconv.FormatInt(c.ID, 10), Type: "organizations", Attributes: map[string]any{
		"name":                     c.Name,
		"organization-type-id":     c.TypeID,
		"organization-type-name":   simkit.OptionName(st.Types, c.TypeID),
		"organization-status-id":   c.StatusID,
		"organization-status-name": simkit.OptionName(st.Statuses, c.StatusID),
		"short-name":               shortName,
		"description":              x.Description,
		"quick-notes":              x.QuickNotes,
		"alert":                    x.Alert,
		"primary":                  false,
		"logo":                     nil,
		"parent-id":                parent,
		"ancestor-ids":             ancestors,
		"psa-integration-type":     nil,
		"psa-id":                   nil,
		"created-at":               timeText(c.CreatedAt),
		"updated-at":               timeText(c.UpdatedAt),
	}}
}

// visible is every organization IT Glue would list: a deleted one is gone.
func (s *Server) visible() []simkit.Company {
	all := s.tool.Store.All()
	return slices.DeleteFunc(all, func(c simkit.Company) bool { return c.Deleted })
}

type page struct{ number, size int }

// readPage reads page[number] and page[size]; false when it answered 400.
func readPage(w http.ResponseWriter, q url.Values) (page, bool) {
	p := page{number: 1, size: DefaultPageSize}
	if v := q.Get("page[number]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeErrors(w, http.StatusBadRequest, apiError{Detail: "page[number] must be a positive integer", Source: &errSource{Parameter: "page[number]"}})
			return p, false
		}
		p.number = n
	}
	if v := q.Get("page[size]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			writeErrors(w, http.StatusBadRequest, apiError{Detail: fmt.Sprintf("page[size] must be between 1 and %d", MaxPageSize), Source: &errSource{Parameter: "page[size]"}})
			return p, false
		}
		p.size = n
	}
	return p, true
}

// writePage answers one page of items with IT Glue's meta and links.
func writePage[T any](w http.ResponseWriter, r *http.Request, p page, items []T, render func(T) resource) {
	total := len(items)
	totalPages := (total + p.size - 1) / p.size
	from := min((p.number-1)*p.size, total)
	to := min(from+p.size, total)
	data := make([]resource, 0, to-from)
	for _, it := range items[from:to] {
		data = append(data, render(it))
	}
	var next, prev any
	if p.number < totalPages {
		next = p.number + 1
	}
	if p.number > 1 {
		prev = p.number - 1
	}
	link := func(n any) any {
		if n == nil {
			return nil
		}
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		if r.TLS != nil {
			u.Scheme = "https"
		}
		q := u.Query()
		q.Set("page[number]", fmt.Sprint(n))
		q.Set("page[size]", strconv.Itoa(p.size))
		u.RawQuery = q.Encode()
		return u.String()
	}
	var last any
	if totalPages > 0 {
		last = totalPages
	}
	simkit.WriteJSON(w, http.StatusOK, ContentType, map[string]any{
		"data": data,
		"meta": map[string]any{
			"current-page": p.number, "next-page": next, "prev-page": prev,
			"total-pages": totalPages, "total-count": total, "filters": map[string]any{},
		},
		"links": map[string]any{"self": link(p.number), "first": link(1), "next": link(next), "prev": link(prev), "last": link(last)},
	})
}

// A filter keeps the organizations it matches.
type filter func(simkit.Company) bool

func idList(v string) ([]int64, error) {
	var out []int64
	for part := range strings.SplitSeq(v, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an id", part)
		}
		out = append(out, id)
	}
	return out, nil
}

// parseRange reads IT Glue's "start, end" range; "*" leaves an end open.
func parseRange(v string) (from, to time.Time, err error) {
	a, b, ok := strings.Cut(v, ",")
	if !ok {
		return from, to, fmt.Errorf("range must be \"start, end\"")
	}
	parse := func(s string) (time.Time, error) {
		s = strings.TrimSpace(s)
		if s == "*" {
			return time.Time{}, nil
		}
		return time.Parse(time.RFC3339, s)
	}
	if from, err = parse(a); err != nil {
		return from, to, err
	}
	to, err = parse(b)
	return from, to, err
}

// filterFor builds the filter of one filter[...] parameter.
func filterFor(key, value string) (filter, error) {
	field := strings.TrimSuffix(strings.TrimPrefix(key, "filter["), "]")
	negate := false
	if f, ok := strings.CutPrefix(field, "exclude]["); ok {
		field, negate = f, true
	}
	var f filter
	switch field {
	case "id", "organization_type_id", "organization_status_id":
		ids, err := idList(value)
		if err != nil {
			return nil, err
		}
		get := map[string]func(simkit.Company) int64{
			"id":                     func(c simkit.Company) int64 { return c.ID },
			"organization_type_id":   func(c simkit.Company) int64 { return c.TypeID },
			"organization_status_id": func(c simkit.Company) int64 { return c.StatusID },
		}[field]
		f = func(c simkit.Company) bool { return slices.Contains(ids, get(c)) }
	case "name":
		f = func(c simkit.Company) bool { return c.Name == value }
	case "updated_at", "created_at":
		if negate {
			return nil, fmt.Errorf("unknown filter")
		}
		from, to, err := parseRange(value)
		if err != nil {
			return nil, err
		}
		f = func(c simkit.Company) bool {
			t := c.UpdatedAt
			if field == "created_at" {
				t = c.CreatedAt
			}
			return (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to))
		}
	case "psa_id", "psa_integration_type":
		if negate {
			return nil, fmt.Errorf("unknown filter")
		}
		// No simulated organization is PSA-synced.
		f = func(simkit.Company) bool { return false }
	default:
		return nil, fmt.Errorf("unknown filter")
	}
	if negate {
		return func(c simkit.Company) bool { return !f(c) }, nil
	}
	return f, nil
}

// sortBy is the order of one documented sort field; ties fall back to id so pages are stable.
func sortBy(field string) (func(a, b simkit.Company) int, bool) {
	switch field {
	case "id":
		return func(a, b simkit.Company) int { return cmp.Compare(a.ID, b.ID) }, true
	case "name":
		return func(a, b simkit.Company) int { return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) }, true
	case "updated_at":
		return func(a, b simkit.Company) int {
			return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.ID, b.ID))
		}, true
	}
	return nil, false
}

func (s *Server) listOrganizations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := readPage(w, q)
	if !ok {
		return
	}
	var filters []filter
	for key, vals := range q {
		if !strings.HasPrefix(key, "filter[") {
			continue
		}
		f, err := filterFor(key, vals[0])
		if err != nil {
			writeErrors(w, http.StatusBadRequest, apiError{Detail: fmt.Sprintf("invalid filter %s: %v", key, err), Source: &errSource{Parameter: key}})
			return
		}
		filters = append(filters, f)
	}
	if q.Has("filter[psa_id]") != q.Has("filter[psa_integration_type]") {
		writeErrors(w, http.StatusBadRequest, apiError{Detail: "filter[psa_id] requires filter[psa_integration_type]", Source: &errSource{Parameter: "filter[psa_id]"}})
		return
	}
	order, _ := sortBy("id")
	desc := false
	if v := q.Get("sort"); v != "" {
		field, d := strings.CutPrefix(v, "-")
		o, ok := sortBy(field)
		if !ok {
			writeErrors(w, http.StatusBadRequest, apiError{Detail: "invalid sort " + v, Source: &errSource{Parameter: "sort"}})
			return
		}
		order, desc = o, d
	}
	items := slices.DeleteFunc(s.visible(), func(c simkit.Company) bool {
		for _, f := range filters {
			if !f(c) {
				return true
			}
		}
		return false
	})
	slices.SortStableFunc(items, func(a, b simkit.Company) int {
		if desc {
			return order(b, a)
		}
		return order(a, b)
	})
	writePage(w, r, p, items, s.render)
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	c, found := s.tool.Store.Get(id)
	if !found || c.Deleted {
		writeErrors(w, http.StatusNotFound, apiError{Detail: "Record not found"})
		return
	}
	simkit.WriteJSON(w, http.StatusOK, ContentType, map[string]any{"data": s.render(c)})
}

// optionalID reads an id sent as a number, a string or null.
type optionalID struct {
	Set   bool  // the attribute was sent
	Null  bool  // it was sent as null
	Value int64 // its value when not null
	Bad   bool  // it was not an id
}

func (o *optionalID) UnmarshalJSON(b []byte) error {
	o.Set = true
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	v := strings.Trim(string(b), `"`)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		o.Bad = true
		return nil
	}
	o.Value = id
	return nil
}

// attributes are the snake_case attributes create and update take.
type attributes struct {
	Name                 *string    `json:"name"`
	OrganizationTypeID   optionalID `json:"organization_type_id"`
	OrganizationStatusID optionalID `json:"organization_status_id"`
	ParentID             optionalID `json:"parent_id"`
	ShortName            *string    `json:"short_name"`
	Description          *string    `json:"description"`
	QuickNotes           *string    `json:"quick_notes"`
	Alert                *string    `json:"alert"`
}

type document struct {
	Data *struct {
		Type       string     `json:"type"`
		Attributes attributes `json:"attributes"`
	} `json:"data"`
}

// readDocument decodes a JSON:API request body; false when it answered.
func readDocument(w http.ResponseWriter, r *http.Request, v any) bool {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.Contains(ct, "json") {
		writeErrors(w, http.StatusUnsupportedMediaType, apiError{Detail: "Content-Type must be " + ContentType})
		return false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeErrors(w, http.StatusBadRequest, apiError{Detail: "Malformed JSON:API document"})
		return false
	}
	return true
}

// validate checks attributes as IT Glue does; id is the organization being updated (0: create).
func (s *Server) validate(a attributes, id int64, create bool) []apiError {
	var errs []apiError
	ptr := func(name, detail string) {
		errs = append(errs, apiError{Detail: detail, Source: &errSource{Pointer: "/data/attributes/" + name}})
	}
	st := s.tool.Store
	switch {
	case a.Name == nil && create, a.Name != nil && strings.TrimSpace(*a.Name) == "":
		ptr("name", "Name can't be blank")
	case a.Name != nil && len([]rune(*a.Name)) > maxNameLength:
		ptr("name", fmt.Sprintf("Name is too long (maximum is %d characters)", maxNameLength))
	}
	checkOption := func(name string, o optionalID, opts []simkit.Option, what string) {
		if !o.Set {
			return
		}
		if o.Bad || o.Null {
			ptr(name, what+" is invalid")
			return
		}
		if simkit.OptionName(opts, o.Value) == "" {
			ptr(name, what+" does not exist")
		}
	}
	checkOption("organization_type_id", a.OrganizationTypeID, st.Types, "Organization type")
	checkOption("organization_status_id", a.OrganizationStatusID, st.Statuses, "Organization status")
	if a.ParentID.Set && !a.ParentID.Null {
		p, ok := st.Get(a.ParentID.Value)
		switch {
		case a.ParentID.Bad, !ok, p.Deleted:
			ptr("parent_id", "Parent organization does not exist")
		case id != 0 && s.isDescendantOrSelf(a.ParentID.Value, id):
			ptr("parent_id", "Parent organization cannot be the organization itself or one of its sub-organizations")
		}
	}
	return errs
}

// isDescendantOrSelf reports whether org is root or below it.
func (s *Server) isDescendantOrSelf(org, root int64) bool {
	for n := 0; org != 0 && n < 64; n++ {
		if org == root {
			return true
		}
		c, ok := s.tool.Store.Get(org)
		if !ok {
			return false
		}
		org = c.ParentID
	}
	return false
}

func (s *Server) apply(a attributes, c *simkit.Company) {
	if a.Name != nil {
		c.Name = strings.TrimSpace(*a.Name)
	}
	if a.OrganizationTypeID.Set {
		c.TypeID = a.OrganizationTypeID.Value
	}
	if a.OrganizationStatusID.Set {
		c.StatusID = a.OrganizationStatusID.Value
	}
	// IT Glue has no active flag: an organization is inactive by its status.
	c.Active = !strings.EqualFold(simkit.OptionName(s.tool.Store.Statuses, c.StatusID), "Inactive")
	if a.ParentID.Set {
		c.ParentID = a.ParentID.Value
	}
	if a.ShortName != nil {
		c.Identifier = *a.ShortName
	}
}

func (s *Server) applyExtra(a attributes, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.extra[id]
	if a.Description != nil {
		x.Description = *a.Description
	}
	if a.QuickNotes != nil {
		x.QuickNotes = *a.QuickNotes
	}
	if a.Alert != nil {
		x.Alert = *a.Alert
	}
	s.extra[id] = x
}

func (s *Server) createOrganization(w http.ResponseWriter, r *http.Request) {
	var doc document
	if !readDocument(w, r, &doc) {
		return
	}
	if doc.Data == nil {
		writeErrors(w, http.StatusUnprocessableEntity, apiError{Detail: "data is required", Source: &errSource{Pointer: "/data"}})
		return
	}
	if doc.Data.Type != "" && doc.Data.Type != "organizations" {
		writeErrors(w, http.StatusUnprocessableEntity, apiError{Detail: "type must be organizations", Source: &errSource{Pointer: "/data/type"}})
		return
	}
	a := doc.Data.Attributes
	if errs := s.validate(a, 0, true); len(errs) > 0 {
		writeErrors(w, http.StatusUnprocessableEntity, errs...)
		return
	}
	c := simkit.Company{TypeID: s.tool.Store.Types[0].ID, StatusID: s.tool.Store.Statuses[0].ID}
	s.apply(a, &c)
	c = s.tool.Add(c)
	s.applyExtra(a, c.ID)
	simkit.WriteJSON(w, http.StatusCreated, ContentType, map[string]any{"data": s.render(c)})
}

func (s *Server) updateOrganization(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var doc document
	if !readDocument(w, r, &doc) {
		return
	}
	if c, found := s.tool.Store.Get(id); !found || c.Deleted {
		writeErrors(w, http.StatusNotFound, apiError{Detail: "Record not found"})
		return
	}
	if doc.Data == nil {
		writeErrors(w, http.StatusUnprocessableEntity, apiError{Detail: "data is required", Source: &errSource{Pointer: "/data"}})
		return
	}
	a := doc.Data.Attributes
	if errs := s.validate(a, id, false); len(errs) > 0 {
		writeErrors(w, http.StatusUnprocessableEntity, errs...)
		return
	}
	c, found := s.tool.Update(id, func(c *simkit.Company) { s.apply(a, c) })
	if !found {
		writeErrors(w, http.StatusNotFound, apiError{Detail: "Record not found"})
		return
	}
	s.applyExtra(a, id)
	simkit.WriteJSON(w, http.StatusOK, ContentType, map[string]any{"data": s.render(c)})
}

// deleteOrganizations is IT Glue's bulk destroy: the listed organizations and every
// sub-organization below them go.
func (s *Server) deleteOrganizations(w http.ResponseWriter, r *http.Request) {
	var doc struct {
		Data []struct {
			Type       string `json:"type"`
			Attributes struct {
				ID optionalID `json:"id"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if !readDocument(w, r, &doc) {
		return
	}
	if len(doc.Data) == 0 {
		writeErrors(w, http.StatusUnprocessableEntity, apiError{Detail: "data must list the organizations to delete", Source: &errSource{Pointer: "/data"}})
		return
	}
	var roots []int64
	for i, d := range doc.Data {
		id := d.Attributes.ID
		c, ok := s.tool.Store.Get(id.Value)
		if !id.Set || id.Bad || id.Null || !ok || c.Deleted {
			writeErrors(w, http.StatusNotFound, apiError{Detail: "Record not found", Source: &errSource{Pointer: fmt.Sprintf("/data/%d/attributes/id", i)}})
			return
		}
		roots = append(roots, id.Value)
	}
	var gone []int64
	for _, c := range s.tool.Store.All() {
		for _, root := range roots {
			if s.isDescendantOrSelf(c.ID, root) {
				gone = append(gone, c.ID)
				break
			}
		}
	}
	data := make([]resource, 0, len(gone))
	for _, id := range gone {
		if c, ok := s.tool.Remove(id); ok {
			data = append(data, resource{ID: strconv.FormatInt(c.ID, 10), Type: "organizations", Attributes: map[string]any{"name": c.Name}})
		}
	}
	simkit.WriteJSON(w, http.StatusOK, ContentType, map[string]any{"data": data})
}

func (s *Server) listOptions(opts []simkit.Option, typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := readPage(w, r.URL.Query())
		if !ok {
			return
		}
		writePage(w, r, p, opts, func(o simkit.Option) resource {
			return resource{ID: strconv.FormatInt(o.ID, 10), Type: typ, Attributes: map[string]any{"name": o.Name, "synced": false}}
		})
	}
}
