// Package itglue is the IT Glue connector: JSON:API over x-api-key, organizations paged by
// page[number] up to 1000 per page, incremental listing through filter[updated_at].
package itglue

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
	"sync"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
)

const (
	contentType = "application/vnd.api+json"
	pageSize    = 1000
	// maxBody bounds what is read of one response (a 1000-organization page is well under it).
	maxBody = 32 << 20
	// inactiveStatus is the status Deactivate sets, looked up by name.
	inactiveStatus = "Inactive"
	activeStatus   = "Active"
)

// regionURL maps the region credential to IT Glue's regional API address.
func regionURL(region string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(region)) {
	case "", "us":
		return "https://api.itglue.com", true
	case "eu":
		return "https://api.eu.itglue.com", true
	case "au":
		return "https://api.au.itglue.com", true
	}
	return "", false
}

// Kind describes the IT Glue integration.
func Kind() connector.Kind {
	return connector.Kind{
		Name:  "itglue",
		Title: "IT Glue",
		Fields: []connector.Field{
			{Name: "apiKey", Description: "IT Glue API key (Account > Settings > API Keys)", Required: true, Secret: true},
			{Name: "region", Description: `data center: "us" (default), "eu" or "au"`, Secret: true},
		},
		Budget:      connector.Budget{Requests: 3000, Window: 5 * time.Minute},
		PageSize:    pageSize,
		Incremental: true,
		New: func(cfg connector.Config, client *http.Client) (connector.Connector, error) {
			return New(cfg, client)
		},
	}
}

// Connector talks to one IT Glue account.
type Connector struct {
	base   string
	apiKey string
	client *http.Client

	// statuses caches the account's status list: Deactivate and Update(Active) need ids by name,
	// and the list changes rarely enough that one lookup per connector is right.
	mu       sync.Mutex
	statuses []connector.Option
}

// New builds a connector from the integration's credentials; cfg.BaseURL overrides the region.
func New(cfg connector.Config, client *http.Client) (*Connector, error) {
	key := cfg.Credentials["apiKey"]
	if key == "" {
		return nil, errors.New("itglue: apiKey is required")
	}
	base, ok := regionURL(cfg.Credentials["region"])
	if !ok {
		return nil, errors.New(`itglue: region must be "us", "eu" or "au"`)
	}
	if cfg.BaseURL != "" {
		base = cfg.BaseURL
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Connector{base: strings.TrimRight(base, "/"), apiKey: key, client: client}, nil
}

// do sends one request and decodes a 2xx JSON answer into out (when not nil).
func (c *Connector) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("itglue: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("itglue: %s %s: %w", method, path, err)
	}
	req.Header.Set("x-api-key", c.apiKey)
	req.Header.Set("Accept", contentType)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("itglue: %s %s: %w: %w", method, path, connector.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("itglue: %s %s: read: %w: %w", method, path, connector.ErrUnavailable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("itglue: %s %s: %w", method, path, connector.StatusError(resp.StatusCode, errorMessage(data)))
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("itglue: %s %s: decode: %w", method, path, err)
	}
	return nil
}

// errorMessage extracts IT Glue's words from its {"errors":[{title, detail, source}]} body.
func errorMessage(body []byte) string {
	var doc struct {
		Errors []struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
			Source struct {
				Pointer   string `json:"pointer"`
				Parameter string `json:"parameter"`
			} `json:"source"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.Errors) == 0 {
		return strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	msgs := make([]string, 0, len(doc.Errors))
	for _, e := range doc.Errors {
		m := e.Detail
		if m == "" {
			m = e.Title
		}
		if at := e.Source.Pointer + e.Source.Parameter; at != "" {
			m += " (" + at + ")"
		}
		msgs = append(msgs, m)
	}
	return strings.Join(msgs, "; ")
}

// id is an IT Glue id as the API sends it: a string for resource ids, a number in attributes,
// null when absent.
type id string

func (v *id) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "null" {
		s = ""
	}
	*v = id(s)
	return nil
}

type orgResource struct {
	ID         id `json:"id"`
	Attributes struct {
		Name                   string `json:"name"`
		OrganizationTypeID     id     `json:"organization-type-id"`
		OrganizationTypeName   string `json:"organization-type-name"`
		OrganizationStatusID   id     `json:"organization-status-id"`
		OrganizationStatusName string `json:"organization-status-name"`
		ParentID               id     `json:"parent-id"`
		UpdatedAt              string `json:"updated-at"`
	} `json:"attributes"`
}

func (r orgResource) company() connector.Company {
	a := r.Attributes
	co := connector.Company{
		ExternalID: string(r.ID), Name: a.Name,
		TypeID: string(a.OrganizationTypeID), TypeName: a.OrganizationTypeName,
		StatusID: string(a.OrganizationStatusID), StatusName: a.OrganizationStatusName,
		ParentID: string(a.ParentID),
		// IT Glue has no active flag; its "Inactive" status is what an inactive organization has.
		Active: !strings.EqualFold(a.OrganizationStatusName, inactiveStatus),
	}
	if t, err := time.Parse(time.RFC3339, a.UpdatedAt); err == nil {
		co.UpdatedAt = t
	}
	return co
}

type listMeta struct {
	CurrentPage int  `json:"current-page"`
	NextPage    *int `json:"next-page"`
	TotalPages  int  `json:"total-pages"`
	TotalCount  int  `json:"total-count"`
}

// Verify makes the cheapest authenticated call: the (short) status list.
func (c *Connector) Verify(ctx context.Context) error {
	q := url.Values{"page[size]": {"1"}}
	return c.do(ctx, http.MethodGet, "/organization_statuses", q, nil, nil)
}

// ListOrganizations returns one page ordered by id; the cursor is the next page number, so a new
// connector given it continues where the last one stopped.
func (c *Connector) ListOrganizations(ctx context.Context, lq connector.ListQuery) (connector.Page, error) {
	number := 1
	if lq.Cursor != "" {
		n, err := strconv.Atoi(lq.Cursor)
		if err != nil || n < 1 {
			return connector.Page{}, fmt.Errorf("itglue: bad cursor %q", lq.Cursor)
		}
		number = n
	}
	q := url.Values{
		"page[number]": {strconv.Itoa(number)},
		"page[size]":   {strconv.Itoa(pageSize)},
		"sort":         {"id"},
	}
	if !lq.ChangedSince.IsZero() {
		q.Set("filter[updated_at]", lq.ChangedSince.UTC().Format(time.RFC3339)+", *")
	}
	var doc struct {
		Data []orgResource `json:"data"`
		Meta listMeta      `json:"meta"`
	}
	if err := c.do(ctx, http.MethodGet, "/organizations", q, nil, &doc); err != nil {
		return connector.Page{}, err
	}
	p := connector.Page{Companies: make([]connector.Company, 0, len(doc.Data)), Total: doc.Meta.TotalCount, TotalPages: doc.Meta.TotalPages}
	for _, r := range doc.Data {
		p.Companies = append(p.Companies, r.company())
	}
	// meta.next-page is null on the last page: asking further would be a wasted request.
	if doc.Meta.NextPage != nil && *doc.Meta.NextPage > number {
		p.Next = strconv.Itoa(*doc.Meta.NextPage)
	}
	return p, nil
}

func orgPath(externalID string) (string, error) {
	if _, err := strconv.ParseInt(externalID, 10, 64); err != nil {
		return "", fmt.Errorf("itglue: organization id %q: %w", externalID, connector.ErrNotFound)
	}
	return "/organizations/" + externalID, nil
}

// GetOrganization returns one organization.
func (c *Connector) GetOrganization(ctx context.Context, externalID string) (connector.Company, error) {
	p, err := orgPath(externalID)
	if err != nil {
		return connector.Company{}, err
	}
	var doc struct {
		Data orgResource `json:"data"`
	}
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &doc); err != nil {
		return connector.Company{}, err
	}
	return doc.Data.company(), nil
}

// numeric turns a connector id into the JSON number IT Glue's attributes take ("" is null).
func numeric(field, v string) (any, error) {
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("itglue: %s %q is not an id: %w", field, v, connector.ErrRejected)
	}
	return n, nil
}

func body(attrs map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": "organizations", "attributes": attrs}}
}

// CreateOrganization posts the snake_case attributes IT Glue takes on create.
func (c *Connector) CreateOrganization(ctx context.Context, nc connector.NewCompany) (connector.Company, error) {
	attrs := map[string]any{"name": nc.Name}
	for field, v := range map[string]string{"organization_type_id": nc.TypeID, "organization_status_id": nc.StatusID, "parent_id": nc.ParentID} {
		n, err := numeric(field, v)
		if err != nil {
			return connector.Company{}, err
		}
		if n != nil {
			attrs[field] = n
		}
	}
	var doc struct {
		Data orgResource `json:"data"`
	}
	if err := c.do(ctx, http.MethodPost, "/organizations", nil, body(attrs), &doc); err != nil {
		return connector.Company{}, err
	}
	return doc.Data.company(), nil
}

// FindOrganization returns the organization CreateOrganization(nc) would have made: the one
// named exactly nc.Name (trimmed, as IT Glue stores it) through filter[name], the newest
// (highest id) when there are several.
func (c *Connector) FindOrganization(ctx context.Context, nc connector.NewCompany) (connector.Company, error) {
	name := strings.TrimSpace(nc.Name)
	if name == "" {
		return connector.Company{}, fmt.Errorf("itglue: organization name is required: %w", connector.ErrRejected)
	}
	for number := 1; ; number++ {
		q := url.Values{
			"filter[name]": {name},
			"sort":         {"-id"},
			"page[number]": {strconv.Itoa(number)},
			"page[size]":   {"50"},
		}
		var doc struct {
			Data []orgResource `json:"data"`
			Meta listMeta      `json:"meta"`
		}
		if err := c.do(ctx, http.MethodGet, "/organizations", q, nil, &doc); err != nil {
			return connector.Company{}, err
		}
		// Newest first: the first exact spelling is the answer, whatever the filter's case rule.
		for _, r := range doc.Data {
			if r.Attributes.Name == name {
				return r.company(), nil
			}
		}
		if doc.Meta.NextPage == nil || *doc.Meta.NextPage <= number {
			return connector.Company{}, fmt.Errorf("itglue: no organization named %q: %w", name, connector.ErrNotFound)
		}
	}
}

// UpdateOrganization PATCHes only the changed attributes; Active maps to the Active/Inactive
// status, as IT Glue has no active flag.
func (c *Connector) UpdateOrganization(ctx context.Context, externalID string, ch connector.Changes) (connector.Company, error) {
	p, err := orgPath(externalID)
	if err != nil {
		return connector.Company{}, err
	}
	attrs := map[string]any{}
	if ch.Name != nil {
		attrs["name"] = *ch.Name
	}
	set := func(field string, v *string) error {
		if v == nil {
			return nil
		}
		n, err := numeric(field, *v)
		if err != nil {
			return err
		}
		attrs[field] = n // nil clears, which is how a parent is removed
		return nil
	}
	if err := errors.Join(set("organization_type_id", ch.TypeID), set("organization_status_id", ch.StatusID), set("parent_id", ch.ParentID)); err != nil {
		return connector.Company{}, err
	}
	if ch.Active != nil && ch.StatusID == nil {
		name := inactiveStatus
		if *ch.Active {
			name = activeStatus
		}
		sid, err := c.statusID(ctx, name)
		if err != nil {
			return connector.Company{}, err
		}
		attrs["organization_status_id"] = sid
	}
	if len(attrs) == 0 {
		return c.GetOrganization(ctx, externalID)
	}
	var doc struct {
		Data orgResource `json:"data"`
	}
	if err := c.do(ctx, http.MethodPatch, p, nil, body(attrs), &doc); err != nil {
		return connector.Company{}, err
	}
	return doc.Data.company(), nil
}

// statusID finds a status id by name in the account's (cached) list.
func (c *Connector) statusID(ctx context.Context, name string) (int64, error) {
	c.mu.Lock()
	cached := c.statuses
	c.mu.Unlock()
	if cached == nil {
		list, err := c.ListStatuses(ctx)
		if err != nil {
			return 0, fmt.Errorf("itglue: look up status %q: %w", name, err)
		}
		c.mu.Lock()
		c.statuses = list
		c.mu.Unlock()
		cached = list
	}
	for _, o := range cached {
		if strings.EqualFold(o.Name, name) {
			return strconv.ParseInt(o.ID, 10, 64)
		}
	}
	return 0, fmt.Errorf("itglue: the account has no %q organization status: %w", name, connector.ErrUnsupported)
}

// DeactivateOrganization sets the organization's status to "Inactive".
func (c *Connector) DeactivateOrganization(ctx context.Context, externalID string) error {
	off := false
	_, err := c.UpdateOrganization(ctx, externalID, connector.Changes{Active: &off})
	return err
}

// DeleteOrganization uses IT Glue's bulk delete, which also deletes the sub-organizations.
func (c *Connector) DeleteOrganization(ctx context.Context, externalID string) error {
	if _, err := orgPath(externalID); err != nil {
		return err
	}
	n, _ := strconv.ParseInt(externalID, 10, 64)
	b := map[string]any{"data": []any{map[string]any{"type": "organizations", "attributes": map[string]any{"id": n}}}}
	return c.do(ctx, http.MethodDelete, "/organizations", nil, b, nil)
}

// ListTypes returns the account's organization types.
func (c *Connector) ListTypes(ctx context.Context) ([]connector.Option, error) {
	return c.listOptions(ctx, "/organization_types")
}

// ListStatuses returns the account's organization statuses.
func (c *Connector) ListStatuses(ctx context.Context) ([]connector.Option, error) {
	return c.listOptions(ctx, "/organization_statuses")
}

func (c *Connector) listOptions(ctx context.Context, path string) ([]connector.Option, error) {
	out := []connector.Option{}
	for number := 1; ; {
		q := url.Values{"page[number]": {strconv.Itoa(number)}, "page[size]": {strconv.Itoa(pageSize)}}
		var doc struct {
			Data []struct {
				ID         id `json:"id"`
				Attributes struct {
					Name string `json:"name"`
				} `json:"attributes"`
			} `json:"data"`
			Meta listMeta `json:"meta"`
		}
		if err := c.do(ctx, http.MethodGet, path, q, nil, &doc); err != nil {
			return nil, err
		}
		for _, d := range doc.Data {
			out = append(out, connector.Option{ID: string(d.ID), Name: d.Attributes.Name})
		}
		if doc.Meta.NextPage == nil || *doc.Meta.NextPage <= number {
			return out, nil
		}
		number = *doc.Meta.NextPage
	}
}

// VerifyWebhook refuses every delivery: IT Glue sends no signed webhooks.
func (c *Connector) VerifyWebhook(http.Header, []byte) (connector.WebhookEvent, error) {
	return connector.WebhookEvent{}, fmt.Errorf("itglue: no signed webhooks: %w", connector.ErrBadSignature)
}

var _ connector.Connector = (*Connector)(nil)
