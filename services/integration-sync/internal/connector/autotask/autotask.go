// Package autotask is the Autotask PSA connector: zone discovery, the three authentication
// headers, Companies/query paged with id > lastId at 500, PATCH updates, deactivation through
// isActive (Autotask cannot delete companies), the companyType picklist and HMAC-SHA1 signed
// company webhooks.
package autotask

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	"unicode/utf8"

	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
)

const (
	// publicBase is where zone discovery is asked when Config.BaseURL is empty.
	publicBase = "https://webservices.autotask.net"
	pageSize   = 500
	// maxNameLength is companyName's documented length.
	maxNameLength = 100
	timeFormat    = "2006-01-02T15:04:05.000Z"
	// defaultType is Customer, used when a new company names no type (companyType is required).
	defaultType                  = "1"
	statusActive, statusInactive = "active", "inactive"
	signatureHeader              = "X-Hook-Signature"
	maxBody                      = 4 << 20
	maxErrorBody                 = 64 << 10
)

// Kind describes Autotask PSA.
func Kind() connector.Kind {
	return connector.Kind{
		Name:  "autotask",
		Title: "Autotask PSA",
		Fields: []connector.Field{
			{Name: "apiUser", Description: "API user name (an API-only resource's user name)", Required: true, Secret: true},
			{Name: "secret", Description: "API user secret", Required: true, Secret: true},
			{Name: "integrationCode", Description: "API tracking identifier (ApiIntegrationCode)", Required: true, Secret: true},
			{Name: "webhookSecret", Description: "SecretKey of the company webhook, to verify X-Hook-Signature", Secret: true},
		},
		// 10,000 requests per rolling hour per database; 3 concurrent requests per endpoint.
		Budget:      connector.Budget{Requests: 10000, Window: time.Hour, Concurrency: 3},
		PageSize:    pageSize,
		Incremental: true,
		PSA:         true,
		New:         New,
	}
}

// Connector talks to one Autotask database.
type Connector struct {
	client        *http.Client
	discoveryBase string
	apiUser       string
	secret        string
	code          string
	hookSecret    string

	// zoneMu serialises zone discovery so concurrent first calls ask once.
	zoneMu sync.Mutex
	zone   string // the zone's REST base, ending in "/"

	typesMu sync.Mutex
	types   map[string]string // companyType picklist, once read
}

// New builds a connector from the integration's credentials.
func New(cfg connector.Config, client *http.Client) (connector.Connector, error) {
	get := func(k string) string { return strings.TrimSpace(cfg.Credentials[k]) }
	c := &Connector{
		client: client, discoveryBase: publicBase,
		apiUser: get("apiUser"), secret: cfg.Credentials["secret"], code: get("integrationCode"),
		hookSecret: cfg.Credentials["webhookSecret"],
	}
	var missing []string
	for name, v := range map[string]string{"apiUser": c.apiUser, "secret": c.secret, "integrationCode": c.code} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("autotask: missing credentials %s", strings.Join(missing, ", "))
	}
	if client == nil {
		return nil, errors.New("autotask: no http client")
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("autotask: invalid base URL %q", cfg.BaseURL)
		}
		c.discoveryBase = strings.TrimRight(cfg.BaseURL, "/")
	}
	return c, nil
}

// zoneBase returns the database's REST base, discovering it once. Discovery is not an API
// call on the database, but it does go through the client (and its budget).
func (c *Connector) zoneBase(ctx context.Context) (string, error) {
	c.zoneMu.Lock()
	defer c.zoneMu.Unlock()
	if c.zone != "" {
		return c.zone, nil
	}
	u := c.discoveryBase + "/atservicesrest/v1.0/ZoneInformation?user=" + url.QueryEscape(c.apiUser)
	req, err := http.NewRequestWithContext(connector.WithoutCredentials(ctx), http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("autotask: zone discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	var zi struct {
		URL string `json:"url"`
	}
	if err := c.do(req, &zi); err != nil {
		// Autotask knows the zone of every API user; not finding one means the user name is wrong.
		var ve *connector.VendorError
		if errors.As(err, &ve) && ve.Status == http.StatusNotFound {
			return "", fmt.Errorf("autotask: zone discovery: %w", &connector.VendorError{Status: ve.Status, Message: ve.Message, Kind: connector.ErrUnauthorized})
		}
		return "", fmt.Errorf("autotask: zone discovery: %w", err)
	}
	zu, err := url.Parse(zi.URL)
	if err != nil || zu.Scheme == "" || zu.Host == "" {
		return "", fmt.Errorf("autotask: zone discovery: %w", connector.StatusError(http.StatusBadGateway, "no zone URL in ZoneInformation"))
	}
	c.zone = strings.TrimRight(zi.URL, "/") + "/"
	return c.zone, nil
}

// call makes an authenticated API call on path (below "v1.0/") and decodes the answer into out.
func (c *Connector) call(ctx context.Context, method, path string, body, out any) error {
	base, err := c.zoneBase(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("autotask: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"v1.0/"+path, rd)
	if err != nil {
		return fmt.Errorf("autotask: %s %s: %w", method, path, err)
	}
	req.Header.Set("ApiIntegrationCode", c.code)
	req.Header.Set("UserName", c.apiUser)
	req.Header.Set("Secret", c.secret)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := c.do(req, out); err != nil {
		return fmt.Errorf("autotask: %s %s: %w", method, path, err)
	}
	return nil
}

// do sends req and decodes a 2xx answer into out; anything else becomes a StatusError with
// Autotask's own message.
func (c *Connector) do(req *http.Request, out any) error {
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", connector.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return connector.StatusError(resp.StatusCode, errorMessage(b))
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(out); err != nil {
		return fmt.Errorf("%w: decode answer: %w", connector.ErrUnavailable, err)
	}
	return nil
}

// errorMessage reads Autotask's {"errors":["..."]}; entries may also be objects with a message.
func errorMessage(b []byte) string {
	var e struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 {
		s := strings.TrimSpace(string(b))
		if !utf8.ValidString(s) || strings.HasPrefix(s, "<") {
			return ""
		}
		return s
	}
	msgs := make([]string, 0, len(e.Errors))
	for _, raw := range e.Errors {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			msgs = append(msgs, s)
			continue
		}
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &o) == nil && o.Message != "" {
			msgs = append(msgs, o.Message)
		}
	}
	return strings.Join(msgs, "; ")
}

// company is a Company as Autotask sends it.
type company struct {
	ID                          int64   `json:"id"`
	CompanyName                 string  `json:"companyName"`
	CompanyType                 *int64  `json:"companyType"`
	IsActive                    bool    `json:"isActive"`
	ParentCompanyID             *int64  `json:"parentCompanyID"`
	LastTrackedModifiedDateTime *string `json:"lastTrackedModifiedDateTime"`
	CreateDate                  *string `json:"createDate"`
}

// includeFields keeps query answers to what normalize reads.
func includeFields() []string {
	return []string{"id", "companyName", "companyType", "isActive", "parentCompanyID", "lastTrackedModifiedDateTime", "createDate"}
}

func (c *Connector) normalize(a company) connector.Company {
	out := connector.Company{ExternalID: strconv.FormatInt(a.ID, 10), Name: a.CompanyName, Active: a.IsActive,
		StatusID: statusActive, StatusName: "Active"}
	if !a.IsActive {
		out.StatusID, out.StatusName = statusInactive, "Inactive"
	}
	if a.CompanyType != nil {
		out.TypeID = strconv.FormatInt(*a.CompanyType, 10)
		out.TypeName = c.typeName(out.TypeID)
	}
	if a.ParentCompanyID != nil {
		out.ParentID = strconv.FormatInt(*a.ParentCompanyID, 10)
	}
	for _, s := range []*string{a.LastTrackedModifiedDateTime, a.CreateDate} {
		if s == nil || *s == "" {
			continue
		}
		if t, ok := parseTime(*s); ok {
			out.UpdatedAt = t
			break
		}
	}
	return out
}

// parseTime reads Autotask's datetimes, with or without a zone (UTC) and fraction.
func parseTime(s string) (time.Time, bool) {
	for _, f := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(f, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// typeName names a companyType from the picklist when it has been read, else from Autotask's
// system values, so a listing costs no extra request.
func (c *Connector) typeName(id string) string {
	c.typesMu.Lock()
	types := c.types
	c.typesMu.Unlock()
	if types != nil {
		return types[id]
	}
	switch id {
	case "1":
		return "Customer"
	case "2":
		return "Lead"
	case "3":
		return "Prospect"
	case "4":
		return "Dead"
	case "5":
		return "Cancellation"
	case "6":
		return "Vendor"
	case "7":
		return "Partner"
	}
	return ""
}

type filter struct {
	Op    string `json:"op"`
	Field string `json:"field"`
	Value any    `json:"value,omitempty"`
}

type pageDetails struct {
	Count       int     `json:"count"`
	NextPageURL *string `json:"nextPageUrl"`
}

// ListOrganizations pages by id: each page asks for ids after the previous page's last, which
// keeps pages stable while companies change and lets a cursor (the last id) resume anywhere.
// It stops when Autotask says there is no next page.
func (c *Connector) ListOrganizations(ctx context.Context, q connector.ListQuery) (connector.Page, error) {
	idFilter := filter{Op: "gte", Field: "id", Value: 0}
	if q.Cursor != "" {
		last, err := strconv.ParseInt(q.Cursor, 10, 64)
		if err != nil {
			return connector.Page{}, fmt.Errorf("autotask: invalid cursor %q: %w", q.Cursor, connector.ErrRejected)
		}
		idFilter = filter{Op: "gt", Field: "id", Value: last}
	}
	filters := []filter{idFilter}
	if !q.ChangedSince.IsZero() {
		filters = append(filters, filter{Op: "gte", Field: "lastTrackedModifiedDateTime", Value: q.ChangedSince.UTC().Format(timeFormat)})
	}
	body := map[string]any{"MaxRecords": pageSize, "IncludeFields": includeFields(), "filter": filters}
	var res struct {
		Items       []company   `json:"items"`
		PageDetails pageDetails `json:"pageDetails"`
	}
	if err := c.call(ctx, http.MethodPost, "Companies/query", body, &res); err != nil {
		return connector.Page{}, err
	}
	page := connector.Page{Companies: make([]connector.Company, 0, len(res.Items)), Total: -1, TotalPages: -1}
	for _, a := range res.Items {
		page.Companies = append(page.Companies, c.normalize(a))
	}
	if res.PageDetails.NextPageURL != nil && *res.PageDetails.NextPageURL != "" && len(res.Items) > 0 {
		page.Next = strconv.FormatInt(res.Items[len(res.Items)-1].ID, 10)
	}
	return page, nil
}

// GetOrganization reads one company. Autotask answers an unknown id with a null item.
func (c *Connector) GetOrganization(ctx context.Context, externalID string) (connector.Company, error) {
	id, err := parseID(externalID)
	if err != nil {
		return connector.Company{}, err
	}
	var res struct {
		Item *company `json:"item"`
	}
	if err := c.call(ctx, http.MethodGet, "Companies/"+strconv.FormatInt(id, 10), nil, &res); err != nil {
		return connector.Company{}, err
	}
	if res.Item == nil {
		return connector.Company{}, fmt.Errorf("autotask: company %d: %w", id, connector.ErrNotFound)
	}
	return c.normalize(*res.Item), nil
}

func parseID(externalID string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(externalID), 10, 64)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("autotask: company %q: %w", externalID, connector.ErrNotFound)
	}
	return id, nil
}

// checkName refuses what Autotask would refuse, before spending a request on it: Autotask
// answers validation failures with 500, which a transport would take for an outage and retry.
func checkName(name string) error {
	switch n := utf8.RuneCountInString(strings.TrimSpace(name)); {
	case n == 0:
		return fmt.Errorf("autotask: companyName is required: %w", connector.ErrRejected)
	case n > maxNameLength:
		return fmt.Errorf("autotask: companyName is longer than %d characters: %w", maxNameLength, connector.ErrRejected)
	}
	return nil
}

func intField(name, v string) (int64, error) {
	i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("autotask: %s %q is not a number: %w", name, v, connector.ErrRejected)
	}
	return i, nil
}

func activeFromStatus(status string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case statusActive:
		return true, nil
	case statusInactive:
		return false, nil
	}
	return false, fmt.Errorf("autotask: unknown status %q (active or inactive): %w", status, connector.ErrRejected)
}

// CreateOrganization creates a company (a Customer unless a type is given) and reads it back.
func (c *Connector) CreateOrganization(ctx context.Context, n connector.NewCompany) (connector.Company, error) {
	if err := checkName(n.Name); err != nil {
		return connector.Company{}, err
	}
	typ := n.TypeID
	if typ == "" {
		typ = defaultType
	}
	t, err := intField("companyType", typ)
	if err != nil {
		return connector.Company{}, err
	}
	body := map[string]any{"id": 0, "companyName": strings.TrimSpace(n.Name), "companyType": t, "isActive": true}
	if n.StatusID != "" {
		if body["isActive"], err = activeFromStatus(n.StatusID); err != nil {
			return connector.Company{}, err
		}
	}
	if n.ParentID != "" {
		if body["parentCompanyID"], err = intField("parentCompanyID", n.ParentID); err != nil {
			return connector.Company{}, err
		}
	}
	var res struct {
		ItemID int64 `json:"itemId"`
	}
	if err := c.call(ctx, http.MethodPost, "Companies", body, &res); err != nil {
		return connector.Company{}, err
	}
	return c.GetOrganization(ctx, strconv.FormatInt(res.ItemID, 10))
}

// FindOrganization returns the company CreateOrganization(n) would have made: the one named
// exactly n.Name (trimmed, as the create sends it), the newest (highest id) when there are
// several. Autotask's eq ignores case, so the answer is narrowed to the exact spelling here.
func (c *Connector) FindOrganization(ctx context.Context, n connector.NewCompany) (connector.Company, error) {
	if err := checkName(n.Name); err != nil {
		return connector.Company{}, err
	}
	name := strings.TrimSpace(n.Name)
	var found *company
	idFilter := filter{Op: "gte", Field: "id", Value: 0}
	for {
		body := map[string]any{"MaxRecords": pageSize, "IncludeFields": includeFields(),
			"filter": []filter{{Op: "eq", Field: "companyName", Value: name}, idFilter}}
		var res struct {
			Items       []company   `json:"items"`
			PageDetails pageDetails `json:"pageDetails"`
		}
		if err := c.call(ctx, http.MethodPost, "Companies/query", body, &res); err != nil {
			return connector.Company{}, err
		}
		for i := range res.Items {
			if res.Items[i].CompanyName == name && (found == nil || res.Items[i].ID > found.ID) {
				found = &res.Items[i]
			}
		}
		if res.PageDetails.NextPageURL == nil || *res.PageDetails.NextPageURL == "" || len(res.Items) == 0 {
			break
		}
		idFilter = filter{Op: "gt", Field: "id", Value: res.Items[len(res.Items)-1].ID}
	}
	if found == nil {
		return connector.Company{}, fmt.Errorf("autotask: no company named %q: %w", name, connector.ErrNotFound)
	}
	return c.normalize(*found), nil
}

// UpdateOrganization PATCHes only the changed fields and reads the company back.
func (c *Connector) UpdateOrganization(ctx context.Context, externalID string, ch connector.Changes) (connector.Company, error) {
	id, err := parseID(externalID)
	if err != nil {
		return connector.Company{}, err
	}
	body := map[string]any{"id": id}
	if ch.Name != nil {
		if err := checkName(*ch.Name); err != nil {
			return connector.Company{}, err
		}
		body["companyName"] = strings.TrimSpace(*ch.Name)
	}
	if ch.TypeID != nil {
		if body["companyType"], err = intField("companyType", *ch.TypeID); err != nil {
			return connector.Company{}, err
		}
	}
	if ch.StatusID != nil {
		if body["isActive"], err = activeFromStatus(*ch.StatusID); err != nil {
			return connector.Company{}, err
		}
	}
	if ch.Active != nil {
		body["isActive"] = *ch.Active
	}
	if ch.ParentID != nil {
		if *ch.ParentID == "" {
			body["parentCompanyID"] = nil
		} else if body["parentCompanyID"], err = intField("parentCompanyID", *ch.ParentID); err != nil {
			return connector.Company{}, err
		}
	}
	if len(body) > 1 {
		if err := c.call(ctx, http.MethodPatch, "Companies", body, nil); err != nil {
			return connector.Company{}, err
		}
	}
	return c.GetOrganization(ctx, strconv.FormatInt(id, 10))
}

// DeactivateOrganization sets isActive false, Autotask's only way to retire a company.
func (c *Connector) DeactivateOrganization(ctx context.Context, externalID string) error {
	id, err := parseID(externalID)
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodPatch, "Companies", map[string]any{"id": id, "isActive": false}, nil)
}

// DeleteOrganization: Autotask's API cannot delete companies, only make them inactive.
func (c *Connector) DeleteOrganization(context.Context, string) error {
	return fmt.Errorf("autotask: companies cannot be deleted, only deactivated: %w", connector.ErrUnsupported)
}

// Verify reads the Company field definitions: authenticated, cheap, and it fills the type
// names.
func (c *Connector) Verify(ctx context.Context) error {
	_, err := c.ListTypes(ctx)
	return err
}

// ListTypes reads the companyType picklist from Companies/entityInformation/fields.
func (c *Connector) ListTypes(ctx context.Context) ([]connector.Option, error) {
	var res struct {
		Fields []struct {
			Name           string `json:"name"`
			PicklistValues []struct {
				Value    json.RawMessage `json:"value"`
				Label    string          `json:"label"`
				IsActive *bool           `json:"isActive"`
			} `json:"picklistValues"`
		} `json:"fields"`
	}
	if err := c.call(ctx, http.MethodGet, "Companies/entityInformation/fields", nil, &res); err != nil {
		return nil, err
	}
	var opts []connector.Option
	names := map[string]string{}
	for _, f := range res.Fields {
		if !strings.EqualFold(f.Name, "companyType") {
			continue
		}
		for _, p := range f.PicklistValues {
			// Picklist values are strings in Autotask's answer; accept numbers too.
			v := strings.Trim(strings.TrimSpace(string(p.Value)), `"`)
			names[v] = p.Label
			if p.IsActive == nil || *p.IsActive {
				opts = append(opts, connector.Option{ID: v, Name: p.Label})
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("autotask: no companyType picklist in the Company fields: %w", connector.ErrUnavailable)
	}
	c.typesMu.Lock()
	c.types = names
	c.typesMu.Unlock()
	return opts, nil
}

// ListStatuses: Autotask companies have no status list, only isActive.
func (c *Connector) ListStatuses(context.Context) ([]connector.Option, error) {
	return []connector.Option{{ID: statusActive, Name: "Active"}, {ID: statusInactive, Name: "Inactive"}}, nil
}

// VerifyWebhook checks X-Hook-Signature ("sha1=" + base64 HMAC-SHA1 of the body under the
// webhook's SecretKey) and reads the company payload. Autotask sends no per-delivery id (Guid
// names the webhook), so a delivery is identified by a digest of its body.
func (c *Connector) VerifyWebhook(header http.Header, body []byte) (connector.WebhookEvent, error) {
	if c.hookSecret == "" {
		return connector.WebhookEvent{}, fmt.Errorf("autotask: no webhook secret configured: %w", connector.ErrBadSignature)
	}
	sig, ok := strings.CutPrefix(strings.TrimSpace(header.Get(signatureHeader)), "sha1=")
	if !ok {
		return connector.WebhookEvent{}, fmt.Errorf("autotask: missing or malformed %s: %w", signatureHeader, connector.ErrBadSignature)
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return connector.WebhookEvent{}, fmt.Errorf("autotask: malformed %s: %w", signatureHeader, connector.ErrBadSignature)
	}
	m := hmac.New(sha1.New, []byte(c.hookSecret))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return connector.WebhookEvent{}, fmt.Errorf("autotask: %w", connector.ErrBadSignature)
	}
	var p struct {
		Action     string      `json:"Action"`
		EntityType string      `json:"EntityType"`
		ID         json.Number `json:"Id"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return connector.WebhookEvent{}, fmt.Errorf("autotask: webhook payload: %w: %w", connector.ErrRejected, err)
	}
	if !strings.EqualFold(p.EntityType, "Company") {
		return connector.WebhookEvent{}, fmt.Errorf("autotask: webhook for entity %q: %w", p.EntityType, connector.ErrUnsupported)
	}
	if _, err := p.ID.Int64(); err != nil {
		return connector.WebhookEvent{}, fmt.Errorf("autotask: webhook payload without a company id: %w", connector.ErrRejected)
	}
	digest := sha256.Sum256(body)
	return connector.WebhookEvent{DeliveryID: hex.EncodeToString(digest[:]), CompanyID: p.ID.String(), Action: p.Action}, nil
}
