package connectwise

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// company is ConnectWise's company resource, the part the simulator models.
type company struct {
	ID            int64      `json:"id"`
	Identifier    string     `json:"identifier"`
	Name          string     `json:"name"`
	Status        ref        `json:"status"`
	Types         []ref      `json:"types"`
	ParentCompany *parentRef `json:"parentCompany,omitempty"`
	DeletedFlag   bool       `json:"deletedFlag"`
	DateDeleted   string     `json:"dateDeleted,omitempty"`
	DeletedBy     string     `json:"deletedBy,omitempty"`
	Info          info       `json:"_info"`
}

type ref struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type parentRef struct {
	ID         int64  `json:"id"`
	Identifier string `json:"identifier"`
	Name       string `json:"name"`
}

type info struct {
	LastUpdated string `json:"lastUpdated"`
	UpdatedBy   string `json:"updatedBy"`
	DateEntered string `json:"dateEntered"`
	EnteredBy   string `json:"enteredBy"`
}

// cwTime is how ConnectWise writes times: UTC, whole seconds.
func cwTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z") }

// statusOf is the company's status id; a company made inactive through the control API shows
// the Inactive status.
func statusOf(c simkit.Company) int64 {
	st := c.StatusID
	if st == 0 {
		st = StatusActive
	}
	if !c.Active && st == StatusActive {
		st = StatusInactive
	}
	return st
}

// identifierOf is the company's identifier; companies added without one (control API) get
// one derived from the name and id.
func identifierOf(c simkit.Company) string {
	if c.Identifier != "" {
		return c.Identifier
	}
	id := strconv.FormatInt(c.ID, 10)
	base := DeriveIdentifier(c.Name)
	if len(base)+len(id) > maxIdentifierLen {
		base = base[:maxIdentifierLen-len(id)]
	}
	return base + id
}

// DeriveIdentifier makes a ConnectWise identifier from a name: its letters and digits,
// uppercase, at most 30.
func DeriveIdentifier(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(unicode.ToUpper(r))
		}
		if b.Len() == maxIdentifierLen {
			break
		}
	}
	return b.String()
}

func (s *Server) render(c simkit.Company) company {
	st := statusOf(c)
	out := company{
		ID:          c.ID,
		Identifier:  identifierOf(c),
		Name:        c.Name,
		Status:      ref{ID: st, Name: simkit.OptionName(s.tool.Store.Statuses, st)},
		Types:       []ref{},
		DeletedFlag: c.Deleted,
		Info: info{LastUpdated: cwTime(c.UpdatedAt), UpdatedBy: callbackMemberID,
			DateEntered: cwTime(c.CreatedAt), EnteredBy: callbackMemberID},
	}
	if c.TypeID != 0 {
		out.Types = append(out.Types, ref{ID: c.TypeID, Name: simkit.OptionName(s.tool.Store.Types, c.TypeID)})
	}
	if c.ParentID != 0 {
		p := parentRef{ID: c.ParentID}
		if pc, ok := s.tool.Store.Get(c.ParentID); ok {
			p.Identifier, p.Name = identifierOf(pc), pc.Name
		}
		out.ParentCompany = &p
	}
	if c.Deleted {
		out.DateDeleted = cwTime(c.DeletedAt)
		out.DeletedBy = callbackMemberID
	}
	return out
}

// fields returns a company's values for the conditions language.
func (s *Server) fields(c simkit.Company) func(string) []value {
	return func(field string) []value {
		switch field {
		case "id":
			return []value{{kind: kindNumber, num: c.ID}}
		case "name":
			return []value{{kind: kindString, str: c.Name}}
		case "identifier":
			return []value{{kind: kindString, str: identifierOf(c)}}
		case "status/id":
			return []value{{kind: kindNumber, num: statusOf(c)}}
		case "status/name":
			return []value{{kind: kindString, str: simkit.OptionName(s.tool.Store.Statuses, statusOf(c))}}
		case "deletedflag":
			return []value{{kind: kindBool, b: c.Deleted}}
		case "lastupdated", "_info/lastupdated":
			return []value{{kind: kindTime, t: c.UpdatedAt.UTC().Truncate(time.Second)}}
		case "dateentered", "_info/dateentered":
			return []value{{kind: kindTime, t: c.CreatedAt.UTC().Truncate(time.Second)}}
		case "parentcompany/id":
			return []value{{kind: kindNumber, num: c.ParentID, isNull: c.ParentID == 0}}
		case "types/id":
			return []value{{kind: kindNumber, num: c.TypeID, isNull: c.TypeID == 0}}
		case "types/name":
			return []value{{kind: kindString, str: simkit.OptionName(s.tool.Store.Types, c.TypeID), isNull: c.TypeID == 0}}
		}
		return nil
	}
}

// query reads a query parameter case-insensitively (ConnectWise accepts pageSize and pagesize).
func query(r *http.Request, name string) (string, bool) {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// selection is a parsed listing request.
type selection struct {
	cond     node
	order    []orderKey
	page     int
	pageSize int
}

type orderKey struct {
	field string
	desc  bool
}

// parseSelection reads conditions, orderBy and paging; it answers 400 itself and returns false
// when they are invalid.
func parseSelection(w http.ResponseWriter, r *http.Request, conditions, orderBy string) (selection, bool) {
	sel := selection{page: 1, pageSize: DefaultPageSize}
	cond, err := parseConditions(conditions)
	if err != nil {
		invalid(w, "conditions is invalid: "+err.Error(),
			fieldError{Code: "InvalidField", Message: err.Error(), Resource: "company", Field: "conditions"})
		return sel, false
	}
	sel.cond = cond
	if orderBy == "" {
		orderBy = "id asc"
	}
	for part := range strings.SplitSeq(orderBy, ",") {
		words := strings.Fields(part)
		if len(words) == 0 || len(words) > 2 {
			invalid(w, fmt.Sprintf("orderBy %q is invalid", orderBy),
				fieldError{Code: "InvalidField", Message: "expected \"field [asc|desc]\"", Resource: "company", Field: "orderBy"})
			return sel, false
		}
		f := strings.ToLower(words[0])
		if _, ok := fieldKind(f); !ok {
			invalid(w, fmt.Sprintf("orderBy field %q is unknown", words[0]),
				fieldError{Code: "InvalidField", Message: "unknown field " + words[0], Resource: "company", Field: "orderBy"})
			return sel, false
		}
		k := orderKey{field: f}
		if len(words) == 2 {
			switch strings.ToLower(words[1]) {
			case "asc":
			case "desc":
				k.desc = true
			default:
				invalid(w, fmt.Sprintf("orderBy direction %q is invalid", words[1]),
					fieldError{Code: "InvalidField", Message: "direction is asc or desc", Resource: "company", Field: "orderBy"})
				return sel, false
			}
		}
		sel.order = append(sel.order, k)
	}
	if v, ok := query(r, "page"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			invalid(w, "page must be a number", fieldError{Code: "InvalidField", Message: "page must be a number", Resource: "company", Field: "page"})
			return sel, false
		}
		sel.page = max(n, 1)
	}
	if v, ok := query(r, "pageSize"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			invalid(w, "pageSize must be a number", fieldError{Code: "InvalidField", Message: "pageSize must be a number", Resource: "company", Field: "pageSize"})
			return sel, false
		}
		switch {
		case n < 1:
			n = DefaultPageSize
		case n > MaxPageSize:
			n = MaxPageSize
		}
		sel.pageSize = n
	}
	return sel, true
}

// matching returns the companies the selection's conditions match, in its order.
func (s *Server) matching(sel selection) []simkit.Company {
	var out []simkit.Company
	for _, c := range s.tool.Store.All() {
		if sel.cond == nil || sel.cond.eval(s.fields(c)) {
			out = append(out, c)
		}
	}
	if len(sel.order) == 1 && sel.order[0] == (orderKey{field: "id"}) {
		return out // Store.All is already by id
	}
	slices.SortStableFunc(out, func(a, b simkit.Company) int {
		fa, fb := s.fields(a), s.fields(b)
		for _, k := range sel.order {
			d := compare(fa(k.field)[0], fb(k.field)[0])
			if k.desc {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		return cmpInt(a.ID, b.ID)
	})
	return out
}

func (s *Server) listCompanies(w http.ResponseWriter, r *http.Request) {
	conditions, _ := query(r, "conditions")
	orderBy, _ := query(r, "orderBy")
	sel, ok := parseSelection(w, r, conditions, orderBy)
	if !ok {
		return
	}
	s.writePage(w, r, sel)
}

// searchCompanies is POST /company/companies/search: the conditions travel in the body (for long
// ones), paging in the query.
func (s *Server) searchCompanies(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Conditions string `json:"conditions"`
		OrderBy    string `json:"orderBy"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil && err != io.EOF {
		invalid(w, "The request body could not be read: "+err.Error())
		return
	}
	if body.OrderBy == "" {
		body.OrderBy, _ = query(r, "orderBy")
	}
	sel, ok := parseSelection(w, r, body.Conditions, body.OrderBy)
	if !ok {
		return
	}
	s.writePage(w, r, sel)
}

func (s *Server) countCompanies(w http.ResponseWriter, r *http.Request) {
	conditions, _ := query(r, "conditions")
	sel, ok := parseSelection(w, r, conditions, "")
	if !ok {
		return
	}
	simkit.WriteJSON(w, http.StatusOK, contentType, map[string]int{"count": len(s.matching(sel))})
}

// writePage answers one page with ConnectWise's RFC 5988 Link header: first/prev from the second
// page on, next/last while there is a next page.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, sel selection) {
	all := s.matching(sel)
	pages := (len(all) + sel.pageSize - 1) / sel.pageSize
	from := min((sel.page-1)*sel.pageSize, len(all))
	to := min(from+sel.pageSize, len(all))
	out := make([]company, 0, to-from)
	for _, c := range all[from:to] {
		out = append(out, s.render(c))
	}
	var links []string
	link := func(page int, rel string) {
		links = append(links, fmt.Sprintf("<%s>; rel=%q", pageURL(r, page, sel.pageSize), rel))
	}
	if sel.page > 1 && pages > 0 {
		link(1, "first")
		link(min(sel.page-1, pages), "prev")
	}
	if sel.page < pages {
		link(sel.page+1, "next")
		link(pages, "last")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	simkit.WriteJSON(w, http.StatusOK, contentType, out)
}

// pageURL is the request's URL at another page, absolute as ConnectWise writes its links.
func pageURL(r *http.Request, page, size int) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	q := url.Values{}
	for k, v := range r.URL.Query() {
		if !strings.EqualFold(k, "page") && !strings.EqualFold(k, "pageSize") {
			q[k] = v
		}
	}
	q.Set("pageSize", strconv.Itoa(size))
	q.Set("page", strconv.Itoa(page))
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return u.String()
}

// companyID reads the path's id; it answers 400/404 itself and returns false when there is no
// such company.
func (s *Server) companyID(w http.ResponseWriter, r *http.Request) (simkit.Company, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		invalid(w, "id must be a positive number", fieldError{Code: "InvalidField", Message: "id must be a positive number", Resource: "company", Field: "id"})
		return simkit.Company{}, false
	}
	c, ok := s.tool.Store.Get(id)
	if !ok {
		s.tool.Error(w, http.StatusNotFound, fmt.Sprintf("Company with id %d not found", id))
		return simkit.Company{}, false
	}
	return c, true
}

func (s *Server) getCompany(w http.ResponseWriter, r *http.Request) {
	c, ok := s.companyID(w, r)
	if !ok {
		return
	}
	simkit.WriteJSON(w, http.StatusOK, contentType, s.render(c))
}

// companyBody is what POST and PUT take (read-only fields are ignored, as ConnectWise does).
type companyBody struct {
	Identifier    *string `json:"identifier"`
	Name          *string `json:"name"`
	Status        *ref    `json:"status"`
	Types         []ref   `json:"types"`
	ParentCompany *ref    `json:"parentCompany"`
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		invalid(w, "The request body could not be read: "+err.Error())
		return false
	}
	return true
}

// validate checks a company as ConnectWise would before storing it; self is its id (0 on
// create).
func (s *Server) validate(c simkit.Company, self int64) []fieldError {
	var errs []fieldError
	add := func(code, field, msg string) {
		errs = append(errs, fieldError{Code: code, Message: msg, Resource: "company", Field: field})
	}
	switch ident := strings.TrimSpace(c.Identifier); {
	case ident == "":
		add("NullValue", "identifier", "identifier may not be empty")
	case len([]rune(c.Identifier)) > maxIdentifierLen:
		add("InvalidLength", "identifier", fmt.Sprintf("identifier must be at most %d characters", maxIdentifierLen))
	default:
		for _, o := range s.tool.Store.All() {
			if o.ID != self && strings.EqualFold(identifierOf(o), ident) {
				add("Duplicate", "identifier", fmt.Sprintf("The identifier %q is already in use", ident))
				break
			}
		}
	}
	switch {
	case strings.TrimSpace(c.Name) == "":
		add("NullValue", "name", "name may not be empty")
	case len([]rune(c.Name)) > maxNameLen:
		add("InvalidLength", "name", fmt.Sprintf("name must be at most %d characters", maxNameLen))
	}
	if simkit.OptionName(s.tool.Store.Statuses, c.StatusID) == "" {
		add("InvalidField", "status", fmt.Sprintf("status id %d does not exist", c.StatusID))
	}
	if c.TypeID == 0 {
		add("NullValue", "types", "types must contain at least one company type")
	} else if simkit.OptionName(s.tool.Store.Types, c.TypeID) == "" {
		add("InvalidField", "types", fmt.Sprintf("type id %d does not exist", c.TypeID))
	}
	if c.ParentID != 0 {
		if c.ParentID == self {
			add("InvalidField", "parentCompany", "a company cannot be its own parent")
		} else if _, ok := s.tool.Store.Get(c.ParentID); !ok {
			add("InvalidField", "parentCompany", fmt.Sprintf("parent company %d does not exist", c.ParentID))
		}
	}
	return errs
}

func (s *Server) createCompany(w http.ResponseWriter, r *http.Request) {
	var in companyBody
	if !decodeBody(w, r, &in) {
		return
	}
	c := simkit.Company{StatusID: StatusActive, Active: true}
	if in.Identifier != nil {
		c.Identifier = *in.Identifier
	}
	if in.Name != nil {
		c.Name = *in.Name
	}
	if in.Status != nil {
		c.StatusID = in.Status.ID
	}
	if len(in.Types) > 0 {
		// The store keeps one type; the first is the one Orgplane reads.
		c.TypeID = in.Types[0].ID
		if c.TypeID == 0 {
			c.TypeID = -1 // present but without an id: refused below
		}
	}
	if in.ParentCompany != nil {
		c.ParentID = in.ParentCompany.ID
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if errs := s.validate(c, 0); len(errs) > 0 {
		invalid(w, "company object is invalid", errs...)
		return
	}
	c.Active = c.StatusID != StatusInactive
	simkit.WriteJSON(w, http.StatusCreated, contentType, s.render(s.tool.Add(c)))
}

// patchOp is one JSON Patch operation.
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

func (s *Server) patchCompany(w http.ResponseWriter, r *http.Request) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur, ok := s.companyID(w, r)
	if !ok {
		return
	}
	var ops []patchOp
	if !decodeBody(w, r, &ops) {
		return
	}
	next := cur
	for _, op := range ops {
		if fe := applyPatch(&next, op); fe != nil {
			invalid(w, "company object is invalid", *fe)
			return
		}
	}
	if errs := s.validate(next, cur.ID); len(errs) > 0 {
		invalid(w, "company object is invalid", errs...)
		return
	}
	s.store(w, cur.ID, next)
}

// applyPatch applies one operation to c, or says why ConnectWise refuses it.
func applyPatch(c *simkit.Company, op patchOp) *fieldError {
	bad := func(field, msg string) *fieldError {
		return &fieldError{Code: "InvalidField", Message: msg, Resource: "company", Field: field}
	}
	kind := strings.ToLower(op.Op)
	if kind != "replace" && kind != "add" && kind != "remove" {
		return bad("op", fmt.Sprintf("op %q is not supported; use add, replace or remove", op.Op))
	}
	path := strings.ToLower(strings.Trim(op.Path, "/"))
	str := func() (string, *fieldError) {
		var v string
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return "", bad(path, path+" expects a string value")
		}
		return v, nil
	}
	num := func(objectPath bool) (int64, *fieldError) {
		if objectPath {
			var v ref
			if err := json.Unmarshal(op.Value, &v); err != nil {
				return 0, bad(path, path+" expects an object with an id")
			}
			return v.ID, nil
		}
		var v int64
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return 0, bad(path, path+" expects a number")
		}
		return v, nil
	}
	switch {
	case path == "types" || strings.HasPrefix(path, "types/"):
		return bad("types", "Company types cannot be changed after the company is created")
	case path == "name" || path == "identifier":
		if kind == "remove" {
			return bad(path, path+" is required and cannot be removed")
		}
		v, fe := str()
		if fe != nil {
			return fe
		}
		if path == "name" {
			c.Name = v
		} else {
			c.Identifier = v
		}
	case path == "status" || path == "status/id":
		if kind == "remove" {
			return bad("status", "status is required and cannot be removed")
		}
		v, fe := num(path == "status")
		if fe != nil {
			return fe
		}
		c.StatusID = v
		c.Active = v != StatusInactive
	case path == "parentcompany" || path == "parentcompany/id":
		if kind == "remove" || string(op.Value) == "null" {
			c.ParentID = 0
			return nil
		}
		v, fe := num(path == "parentcompany")
		if fe != nil {
			return fe
		}
		c.ParentID = v
	default:
		return bad(op.Path, fmt.Sprintf("path %q cannot be patched", op.Path))
	}
	return nil
}

func (s *Server) putCompany(w http.ResponseWriter, r *http.Request) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur, ok := s.companyID(w, r)
	if !ok {
		return
	}
	var in companyBody
	if !decodeBody(w, r, &in) {
		return
	}
	next := cur
	next.Identifier, next.Name, next.ParentID = "", "", 0
	if in.Identifier != nil {
		next.Identifier = *in.Identifier
	}
	if in.Name != nil {
		next.Name = *in.Name
	}
	if in.Status != nil {
		next.StatusID = in.Status.ID
		next.Active = in.Status.ID != StatusInactive
	}
	if in.ParentCompany != nil {
		next.ParentID = in.ParentCompany.ID
	}
	if len(in.Types) > 0 && (len(in.Types) != 1 || in.Types[0].ID != cur.TypeID) {
		invalid(w, "company object is invalid", fieldError{Code: "InvalidField",
			Message: "Company types cannot be changed after the company is created", Resource: "company", Field: "types"})
		return
	}
	if errs := s.validate(next, cur.ID); len(errs) > 0 {
		invalid(w, "company object is invalid", errs...)
		return
	}
	s.store(w, cur.ID, next)
}

func (s *Server) store(w http.ResponseWriter, id int64, next simkit.Company) {
	c, ok := s.tool.Update(id, func(c *simkit.Company) {
		c.Identifier, c.Name, c.StatusID, c.Active, c.ParentID = next.Identifier, next.Name, next.StatusID, next.Active, next.ParentID
	})
	if !ok {
		s.tool.Error(w, http.StatusNotFound, fmt.Sprintf("Company with id %d not found", id))
		return
	}
	simkit.WriteJSON(w, http.StatusOK, contentType, s.render(c))
}

// deleteCompany flags the company deleted, ConnectWise's way: status and lastUpdated stay as
// they were (the pitfall an incremental sync falls into).
func (s *Server) deleteCompany(w http.ResponseWriter, r *http.Request) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	c, ok := s.companyID(w, r)
	if !ok {
		return
	}
	if c.Deleted {
		s.tool.Error(w, http.StatusNotFound, fmt.Sprintf("Company with id %d not found", c.ID))
		return
	}
	s.tool.SoftDelete(c.ID)
	w.WriteHeader(http.StatusNoContent)
}

// SeedDefault fills the tenant with the dev stack's clients spelled ConnectWise's way (legal
// suffixes, dropped punctuation), identifiers derived from names, every seventh a site of the
// one before, every eleventh inactive and every twenty-fifth flagged deleted.
func (s *Server) SeedDefault(base []string) {
	names := make([]string, len(base))
	for i, n := range base {
		switch i % 4 {
		case 0, 3:
			names[i] = simkit.Vary(n, simkit.Suffix, i)
		case 1:
			names[i] = n
		default:
			names[i] = simkit.Vary(n, simkit.NoPunct, i)
		}
		if len(names[i]) > maxNameLen {
			names[i] = strings.TrimSpace(names[i][:maxNameLen])
		}
	}
	used := map[string]bool{}
	for _, c := range s.tool.Store.All() {
		used[identifierOf(c)] = true
	}
	simkit.Seed(s.tool.Store, simkit.SeedOptions{
		Names: names, SubEvery: 7, DeleteEvery: 25, InactiveEvery: 11,
		Identifier: func(name string, i int) string {
			id := DeriveIdentifier(name)
			for n := 2; used[id]; n++ {
				sfx := strconv.Itoa(n)
				id = DeriveIdentifier(name)[:min(len(DeriveIdentifier(name)), maxIdentifierLen-len(sfx))] + sfx
			}
			used[id] = true
			return id
		},
	})
}
