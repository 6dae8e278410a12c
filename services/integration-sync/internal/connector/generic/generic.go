// Package generic is the connector for any tool that exposes a JSON list of organizations: it is
// configured by the list's URL, an auth header and dot paths to the fields. It is read-only.
//
// It is the proof that a new kind is one new package against the connector interface.
package generic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
)

const (
	defaultPageSize = 100
	maxBody         = 32 << 20
)

// Kind describes the generic JSON-list integration.
func Kind() connector.Kind {
	return connector.Kind{
		Name:  "generic",
		Title: "Generic JSON list",
		Fields: []connector.Field{
			{Name: "listUrl", Description: "URL that returns the organizations as JSON", Required: true},
			{Name: "authHeader", Description: `header carrying the credential (default "Authorization" when authValue is set)`},
			{Name: "itemsPath", Description: `dot path to the array of organizations in the response ("" = the body is the array)`},
			{Name: "idPath", Description: `dot path to an item's id (default "id")`},
			{Name: "namePath", Description: "dot path to an item's name", Required: true},
			{Name: "parentIdPath", Description: "dot path to an item's parent id"},
			{Name: "updatedAtPath", Description: "dot path to an item's last-modified time (RFC 3339 or Unix seconds)"},
			{Name: "activePath", Description: "dot path to an item's active flag (absent: active)"},
			{Name: "pageParam", Description: "query parameter of the page number (pages 1, 2, 3...; unset: one request)"},
			{Name: "pageSizeParam", Description: "query parameter of the page size"},
			{Name: "pageSize", Description: "items per page (default 100); a shorter page is the last, so without pageSizeParam it must equal the tool's own page size"},
			{Name: "authValue", Description: `the header's value, for example "Bearer <token>"`, Secret: true},
		},
		// A modest default: such tools rarely document a limit, and the budget is editable.
		Budget:   connector.Budget{Requests: 600, Window: time.Minute},
		PageSize: defaultPageSize,
		New: func(cfg connector.Config, client *http.Client) (connector.Connector, error) {
			return New(cfg, client)
		},
	}
}

// Connector reads one tool's JSON list.
type Connector struct {
	list                                     *url.URL
	authHeader, authValue                    string
	items, id, name, parent, updated, active []string
	pageParam, pageSizeParam                 string
	pageSize                                 int
	client                                   *http.Client
}

func path(p string) []string {
	if p = strings.TrimSpace(p); p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

// New builds a connector from the settings; cfg.BaseURL replaces the list URL's scheme and host.
func New(cfg connector.Config, client *http.Client) (*Connector, error) {
	s := cfg.Settings
	u, err := url.Parse(s["listUrl"])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("generic: listUrl must be an absolute http(s) URL")
	}
	if cfg.BaseURL != "" {
		b, err := url.Parse(cfg.BaseURL)
		if err != nil || b.Host == "" {
			return nil, errors.New("generic: bad base URL")
		}
		u.Scheme, u.Host = b.Scheme, b.Host
	}
	if strings.TrimSpace(s["namePath"]) == "" {
		return nil, errors.New("generic: namePath is required")
	}
	c := &Connector{
		list: u, authHeader: s["authHeader"], authValue: cfg.Credentials["authValue"],
		items: path(s["itemsPath"]), id: path(s["idPath"]), name: path(s["namePath"]),
		parent: path(s["parentIdPath"]), updated: path(s["updatedAtPath"]), active: path(s["activePath"]),
		pageParam: s["pageParam"], pageSizeParam: s["pageSizeParam"], pageSize: defaultPageSize, client: client,
	}
	if c.id == nil {
		c.id = []string{"id"}
	}
	if c.authHeader == "" {
		c.authHeader = "Authorization"
	}
	if v := s["pageSize"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errors.New("generic: pageSize must be a positive integer")
		}
		c.pageSize = n
	}
	if c.client == nil {
		c.client = http.DefaultClient
	}
	return c, nil
}

// fetch reads one page (number 0: the tool does not page) and returns its items.
func (c *Connector) fetch(ctx context.Context, number int) ([]any, error) {
	u := *c.list
	q := u.Query()
	if number > 0 {
		q.Set(c.pageParam, strconv.Itoa(number))
		if c.pageSizeParam != "" {
			q.Set(c.pageSizeParam, strconv.Itoa(c.pageSize))
		}
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("generic: list: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.authValue != "" {
		req.Header.Set(c.authHeader, c.authValue)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("generic: list: %w: %w", connector.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("generic: list: read: %w: %w", connector.ErrUnavailable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("generic: list: %w", connector.StatusError(resp.StatusCode, errorMessage(body)))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("generic: list: decode: %w", err)
	}
	items, ok := lookup(doc, c.items).([]any)
	if !ok {
		return nil, fmt.Errorf("generic: list: no array at itemsPath %q", strings.Join(c.items, "."))
	}
	return items, nil
}

// errorMessage takes the usual places a JSON API puts its words, else the text itself.
func errorMessage(body []byte) string {
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		for _, p := range [][]string{{"error"}, {"error", "message"}, {"message"}, {"detail"}, {"title"}} {
			if s, ok := lookup(doc, p).(string); ok && s != "" {
				return s
			}
		}
	}
	return strings.TrimSpace(string(body[:min(len(body), 200)]))
}

// lookup follows a dot path through objects (and arrays, by index); nil when it leads nowhere.
func lookup(v any, p []string) any {
	for _, k := range p {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func active(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "false", "0", "no", "inactive", "disabled":
			return false
		}
	}
	return true
}

func updatedAt(v any) time.Time {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339, x); err == nil {
			return t
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Time{}
}

func (c *Connector) company(item any, i int) (connector.Company, error) {
	co := connector.Company{
		ExternalID: text(lookup(item, c.id)),
		Name:       text(lookup(item, c.name)),
		Active:     true,
	}
	if co.ExternalID == "" {
		return co, fmt.Errorf("generic: item %d has no id at %q", i, strings.Join(c.id, "."))
	}
	if c.parent != nil {
		co.ParentID = text(lookup(item, c.parent))
	}
	if c.updated != nil {
		co.UpdatedAt = updatedAt(lookup(item, c.updated))
	}
	if c.active != nil {
		if v := lookup(item, c.active); v != nil {
			co.Active = active(v)
		}
	}
	return co, nil
}

// Verify reads the first page.
func (c *Connector) Verify(ctx context.Context) error {
	_, err := c.ListOrganizations(ctx, connector.ListQuery{})
	return err
}

// ListOrganizations returns one page; the cursor is the next page number. Without a pageParam
// the whole list is one page.
func (c *Connector) ListOrganizations(ctx context.Context, q connector.ListQuery) (connector.Page, error) {
	if !q.ChangedSince.IsZero() {
		return connector.Page{}, fmt.Errorf("generic: changed-since listing: %w", connector.ErrUnsupported)
	}
	number := 0
	if c.pageParam != "" {
		number = 1
		if q.Cursor != "" {
			n, err := strconv.Atoi(q.Cursor)
			if err != nil || n < 1 {
				return connector.Page{}, fmt.Errorf("generic: bad cursor %q", q.Cursor)
			}
			number = n
		}
	}
	items, err := c.fetch(ctx, number)
	if err != nil {
		return connector.Page{}, err
	}
	p := connector.Page{Companies: make([]connector.Company, 0, len(items)), Total: -1, TotalPages: -1}
	for i, it := range items {
		co, err := c.company(it, i)
		if err != nil {
			return connector.Page{}, err
		}
		p.Companies = append(p.Companies, co)
	}
	// Such a tool says nothing of totals: a short page is the last one.
	if number > 0 && len(items) >= c.pageSize {
		p.Next = strconv.Itoa(number + 1)
	}
	return p, nil
}

// GetOrganization lists until it finds the id: the tool has no single-item route.
func (c *Connector) GetOrganization(ctx context.Context, externalID string) (connector.Company, error) {
	q := connector.ListQuery{}
	for {
		p, err := c.ListOrganizations(ctx, q)
		if err != nil {
			return connector.Company{}, err
		}
		for _, co := range p.Companies {
			if co.ExternalID == externalID {
				return co, nil
			}
		}
		if p.Next == "" {
			return connector.Company{}, fmt.Errorf("generic: organization %q: %w", externalID, connector.ErrNotFound)
		}
		q.Cursor = p.Next
	}
}

func readOnly(op string) error {
	return fmt.Errorf("generic: %s: the tool is read-only: %w", op, connector.ErrUnsupported)
}

// CreateOrganization is unsupported: the tool is read-only.
func (c *Connector) CreateOrganization(context.Context, connector.NewCompany) (connector.Company, error) {
	return connector.Company{}, readOnly("create")
}

// FindOrganization is unsupported: the tool is read-only, so no create could have made one.
func (c *Connector) FindOrganization(context.Context, connector.NewCompany) (connector.Company, error) {
	return connector.Company{}, readOnly("find a created organization")
}

// UpdateOrganization is unsupported: the tool is read-only.
func (c *Connector) UpdateOrganization(context.Context, string, connector.Changes) (connector.Company, error) {
	return connector.Company{}, readOnly("update")
}

// DeactivateOrganization is unsupported: the tool is read-only.
func (c *Connector) DeactivateOrganization(context.Context, string) error {
	return readOnly("deactivate")
}

// DeleteOrganization is unsupported: the tool is read-only.
func (c *Connector) DeleteOrganization(context.Context, string) error { return readOnly("delete") }

// ListTypes is empty: the tool has no types.
func (c *Connector) ListTypes(context.Context) ([]connector.Option, error) {
	return []connector.Option{}, nil
}

// ListStatuses is empty: the tool has no statuses.
func (c *Connector) ListStatuses(context.Context) ([]connector.Option, error) {
	return []connector.Option{}, nil
}

// VerifyWebhook refuses every delivery: the tool sends no webhooks.
func (c *Connector) VerifyWebhook(http.Header, []byte) (connector.WebhookEvent, error) {
	return connector.WebhookEvent{}, fmt.Errorf("generic: no webhooks: %w", connector.ErrBadSignature)
}

var _ connector.Connector = (*Connector)(nil)
