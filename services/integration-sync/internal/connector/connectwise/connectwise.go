// Package connectwise is the ConnectWise PSA (Manage) connector: REST API 3.0 under
// https://{site}/{codebase}apis/3.0/, the codebase discovered once from /login/companyinfo,
// Basic "{companyId}+{publicKey}:{privateKey}" plus the clientId header on every call.
//
// Listing pages at 1000 (ConnectWise's maximum) ordered by id and follows the Link header's
// rel="next"; the cursor is that link's path and query relative to the API base, so a new
// process resumes at the same page. ConnectWise lists companies flagged deleted (deletedFlag)
// unless the conditions exclude them, so a full listing reports them with Deleted set; an
// incremental listing (conditions=lastUpdated>=[since]) misses them, since a delete leaves
// lastUpdated as it was: the periodic full refresh is what catches them.
//
// Callbacks are verified as ConnectWise signs them: x-content-signature is
// base64(HMAC-SHA256(key = SHA-256(signing key), raw body)). ConnectWise publishes the signing
// key at a URL named in the payload; fetching a URL taken from an unauthenticated request is
// not something a webhook receiver should do, so the integration's webhookSecret holds that
// key instead.
package connectwise

import (
	"bytes"
	"context"
	"crypto/hmac"
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
	"unicode"

	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
)

const (
	// PageSize is ConnectWise's maximum page size.
	PageSize         = 1000
	defaultCodebase  = "v4_6_release/"
	maxIdentifierLen = 30
	maxBody          = 32 << 20
	maxErrorBody     = 64 << 10
	companiesPath    = "company/companies"
)

// Kind describes ConnectWise PSA.
func Kind() connector.Kind {
	return connector.Kind{
		Name:       "connectwise",
		Title:      "ConnectWise PSA",
		Identifier: Identifier,
		Fields: []connector.Field{
			{Name: "site", Description: "API host of the ConnectWise site, e.g. api-na.myconnectwise.net", Required: true, Secret: true},
			{Name: "companyId", Description: "The company id used to log in to ConnectWise", Required: true, Secret: true},
			{Name: "publicKey", Description: "The API member's public key", Required: true, Secret: true},
			{Name: "privateKey", Description: "The API member's private key", Required: true, Secret: true},
			{Name: "clientId", Description: "The integration's clientId from developer.connectwise.com", Required: true, Secret: true},
			{Name: "webhookSecret", Description: "The key callbacks are signed with (x-content-signature)", Secret: true},
		},
		// ConnectWise publishes no quota; heavy use above about 1000 requests a minute is
		// limited with 429 and Retry-After.
		Budget:      connector.Budget{Requests: 1000, Window: time.Minute},
		PageSize:    PageSize,
		Incremental: true,
		PSA:         true,
		New: func(cfg connector.Config, client *http.Client) (connector.Connector, error) {
			return New(cfg, client)
		},
	}
}

// Connector talks to one ConnectWise tenant.
type Connector struct {
	client        *http.Client
	root          string // "https://api-na.myconnectwise.net" or Config.BaseURL
	companyID     string
	authorization string
	clientID      string
	webhookSecret string

	mu       sync.Mutex
	apiBase  *url.URL // root + "/" + codebase + "apis/3.0/", once discovered
	inactive string   // the Inactive status id, once looked up
	active   string
	// firstType is the type a company created without one gets (ConnectWise requires one),
	// looked up at most every few minutes rather than before every create.
	firstType   string
	firstTypeAt time.Time
}

// New builds a connector from the integration's fields.
func New(cfg connector.Config, client *http.Client) (*Connector, error) {
	if client == nil {
		return nil, errors.New("connectwise: an http client is required")
	}
	get := func(name string) string {
		if v := strings.TrimSpace(cfg.Credentials[name]); v != "" {
			return v
		}
		return strings.TrimSpace(cfg.Settings[name])
	}
	var missing []string
	for _, f := range Kind().Fields {
		if f.Required && get(f.Name) == "" {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("connectwise: missing %s", strings.Join(missing, ", "))
	}
	root := strings.TrimRight(cfg.BaseURL, "/")
	if root == "" {
		site := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(get("site"), "https://"), "http://"), "/")
		if site == "" || strings.ContainsAny(site, "/?#@ ") {
			return nil, errors.New("connectwise: site must be a host name such as api-na.myconnectwise.net")
		}
		root = "https://" + site
	}
	if _, err := url.Parse(root); err != nil {
		return nil, fmt.Errorf("connectwise: bad base URL: %w", err)
	}
	user := get("companyId") + "+" + get("publicKey") + ":" + get("privateKey")
	return &Connector{
		client:        client,
		root:          root,
		companyID:     get("companyId"),
		authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte(user)),
		clientID:      get("clientId"),
		webhookSecret: get("webhookSecret"),
	}, nil
}

// base returns the API base, discovering the codebase once from companyinfo (which takes no
// credentials and is not a listing request).
func (c *Connector) base(ctx context.Context) (*url.URL, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiBase != nil {
		return c.apiBase, nil
	}
	req, err := http.NewRequestWithContext(connector.WithoutCredentials(ctx), http.MethodGet, c.root+"/login/companyinfo/"+url.PathEscape(c.companyID), nil)
	if err != nil {
		return nil, fmt.Errorf("connectwise: companyinfo request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("connectwise: companyinfo: %w: %w", connector.ErrUnavailable, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		err := statusError(res)
		var ve *connector.VendorError
		if res.StatusCode == http.StatusNotFound && errors.As(err, &ve) {
			// The site does not know the company id: a credential the user typed, not a
			// missing organization.
			ve.Kind = connector.ErrUnauthorized
		}
		return nil, fmt.Errorf("connectwise: companyinfo: %w", err)
	}
	var info struct {
		Codebase string `json:"Codebase"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxErrorBody)).Decode(&info); err != nil {
		return nil, fmt.Errorf("connectwise: companyinfo: %w: %w", connector.ErrUnavailable, err)
	}
	codebase := strings.Trim(info.Codebase, "/")
	if codebase == "" {
		codebase = strings.Trim(defaultCodebase, "/")
	}
	u, err := url.Parse(c.root + "/" + codebase + "/apis/3.0/")
	if err != nil {
		return nil, fmt.Errorf("connectwise: bad codebase %q: %w", codebase, err)
	}
	c.apiBase = u
	return u, nil
}

// errorBody is ConnectWise's error shape.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Errors  []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"errors"`
}

// identifierTaken reports whether a 400's field errors say the identifier is in use.
// ConnectWise does not document its codes; the simulator answers "Duplicate", and the words of
// the message are the fallback for a tenant that spells it otherwise.
func (e errorBody) identifierTaken() bool {
	for _, fe := range e.Errors {
		if !strings.EqualFold(fe.Field, "identifier") {
			continue
		}
		code, msg := strings.ToLower(fe.Code), strings.ToLower(fe.Message)
		if strings.Contains(code, "duplicate") || strings.Contains(msg, "in use") ||
			strings.Contains(msg, "already") || strings.Contains(msg, "duplicate") || strings.Contains(msg, "exists") {
			return true
		}
	}
	return false
}

// statusError turns a non-2xx response into connector.StatusError with ConnectWise's message
// (and its field errors, which say what was wrong with a refused company); a refused identifier
// also matches connector.ErrIdentifierTaken.
func statusError(res *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	var e errorBody
	msg := ""
	parsed := json.Unmarshal(b, &e) == nil
	if parsed {
		msg = e.Message
		var details []string
		for _, fe := range e.Errors {
			if fe.Message != "" && fe.Message != e.Message {
				details = append(details, fe.Message)
			}
		}
		if len(details) > 0 {
			msg += ": " + strings.Join(details, "; ")
		}
	}
	if msg == "" {
		msg = strings.TrimSpace(string(b))
		if len(msg) > 200 {
			msg = msg[:200]
		}
	}
	err := connector.StatusError(res.StatusCode, msg)
	if parsed && res.StatusCode == http.StatusBadRequest && e.identifierTaken() {
		return fmt.Errorf("%w: %w", connector.ErrIdentifierTaken, err)
	}
	return err
}

// call makes an authenticated API call to rel (relative to the API base) and decodes a 2xx
// body into out (when not nil); it returns the response headers.
func (c *Connector) call(ctx context.Context, method, rel string, body, out any) (http.Header, error) {
	base, err := c.base(ctx)
	if err != nil {
		return nil, err
	}
	u, err := base.Parse(rel)
	if err != nil {
		return nil, fmt.Errorf("connectwise: bad path %q: %w", rel, err)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("connectwise: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("connectwise: request: %w", err)
	}
	req.Header.Set("Authorization", c.authorization)
	req.Header.Set("clientId", c.clientID)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("connectwise: %s %s: %w: %w", method, u.Path, connector.ErrUnavailable, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("connectwise: %s %s: %w", method, u.Path, statusError(res))
	}
	if out != nil && res.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(io.LimitReader(res.Body, maxBody)).Decode(out); err != nil {
			return nil, fmt.Errorf("connectwise: %s %s: decode: %w: %w", method, u.Path, connector.ErrUnavailable, err)
		}
	}
	return res.Header, nil
}

// Verify calls /system/info, ConnectWise's cheapest authenticated route.
func (c *Connector) Verify(ctx context.Context) error {
	_, err := c.call(ctx, http.MethodGet, "system/info", nil, nil)
	return err
}

// company is ConnectWise's company resource, the fields Orgplane reads.
type company struct {
	ID         int64  `json:"id"`
	Identifier string `json:"identifier"`
	Name       string `json:"name"`
	Status     *ref   `json:"status"`
	Types      []ref  `json:"types"`
	Parent     *ref   `json:"parentCompany"`
	Deleted    bool   `json:"deletedFlag"`
	Info       struct {
		LastUpdated string `json:"lastUpdated"`
	} `json:"_info"`
}

type ref struct {
	ID   int64  `json:"id"`
	Name string `json:"name,omitempty"`
}

func (cw company) normalize() connector.Company {
	out := connector.Company{ExternalID: strconv.FormatInt(cw.ID, 10), Name: cw.Name, Identifier: cw.Identifier, Active: true, Deleted: cw.Deleted}
	if cw.Status != nil {
		out.StatusID, out.StatusName = strconv.FormatInt(cw.Status.ID, 10), cw.Status.Name
		// ConnectWise statuses are the tenant's own; "Inactive" is the one Deactivate sets.
		out.Active = !strings.EqualFold(cw.Status.Name, "Inactive")
	}
	if len(cw.Types) > 0 {
		out.TypeID, out.TypeName = strconv.FormatInt(cw.Types[0].ID, 10), cw.Types[0].Name
	}
	if cw.Parent != nil && cw.Parent.ID != 0 {
		out.ParentID = strconv.FormatInt(cw.Parent.ID, 10)
	}
	if t, err := time.Parse(time.RFC3339, cw.Info.LastUpdated); err == nil {
		out.UpdatedAt = t.UTC()
	}
	return out
}

// ListOrganizations returns one page of companies by id. The first page's request carries the
// conditions; later pages are the Link header's rel="next", kept as the cursor.
func (c *Connector) ListOrganizations(ctx context.Context, q connector.ListQuery) (connector.Page, error) {
	base, err := c.base(ctx)
	if err != nil {
		return connector.Page{}, err
	}
	rel := q.Cursor
	if rel == "" {
		v := url.Values{}
		if !q.ChangedSince.IsZero() {
			// ConnectWise keeps lastUpdated to the second; >= the second of since is "at or after".
			v.Set("conditions", "lastUpdated>=["+q.ChangedSince.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")+"]")
		}
		v.Set("orderBy", "id asc")
		v.Set("pageSize", strconv.Itoa(PageSize))
		v.Set("page", "1")
		rel = companiesPath + "?" + v.Encode()
	} else if !strings.HasPrefix(rel, companiesPath+"?") {
		return connector.Page{}, fmt.Errorf("connectwise: cursor %q is not a company listing: %w", rel, connector.ErrRejected)
	}
	var list []company
	h, err := c.call(ctx, http.MethodGet, rel, nil, &list)
	if err != nil {
		return connector.Page{}, err
	}
	page := connector.Page{Companies: make([]connector.Company, 0, len(list)), Total: -1, TotalPages: -1}
	for _, cw := range list {
		page.Companies = append(page.Companies, cw.normalize())
	}
	links := parseLink(h.Values("Link"))
	if next, ok := links["next"]; ok {
		page.Next, err = relativeTo(base, next)
		if err != nil {
			return connector.Page{}, err
		}
	}
	if last, ok := links["last"]; ok {
		page.TotalPages = pageOf(last)
	} else if page.Next == "" {
		if u, err := base.Parse(rel); err == nil {
			page.TotalPages = pageOf(u.String())
		}
	}
	return page, nil
}

// parseLink reads an RFC 5988 Link header into rel → URL.
func parseLink(values []string) map[string]string {
	out := map[string]string{}
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(part, ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			target = target[1 : len(target)-1]
			for p := range strings.SplitSeq(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && target != "" {
					out[strings.ToLower(strings.Trim(val, `"`))] = target
				}
			}
		}
	}
	return out
}

// relativeTo makes a Link URL a cursor: its path and query relative to the API base, so the
// cursor survives a restart and never points the connector at another host.
func relativeTo(base *url.URL, link string) (string, error) {
	u, err := base.Parse(link)
	if err != nil {
		return "", fmt.Errorf("connectwise: bad next link: %w", err)
	}
	rel, ok := strings.CutPrefix(u.Path, base.Path)
	if !ok || rel != companiesPath {
		return "", fmt.Errorf("connectwise: next link %q is outside the company listing: %w", u.Path, connector.ErrUnavailable)
	}
	return rel + "?" + u.RawQuery, nil
}

// pageOf is the page number in a link, -1 when it has none.
func pageOf(link string) int {
	u, err := url.Parse(link)
	if err != nil {
		return -1
	}
	for k, v := range u.Query() {
		if strings.EqualFold(k, "page") && len(v) > 0 {
			if n, err := strconv.Atoi(v[0]); err == nil {
				return n
			}
		}
	}
	return -1
}

func companyPath(externalID string) (string, error) {
	if _, err := strconv.ParseInt(externalID, 10, 64); err != nil {
		return "", fmt.Errorf("connectwise: company id %q is not a number: %w", externalID, connector.ErrNotFound)
	}
	return companiesPath + "/" + externalID, nil
}

// GetOrganization reads one company (a flagged one too, with Deleted set).
func (c *Connector) GetOrganization(ctx context.Context, externalID string) (connector.Company, error) {
	p, err := companyPath(externalID)
	if err != nil {
		return connector.Company{}, err
	}
	var cw company
	if _, err := c.call(ctx, http.MethodGet, p, nil, &cw); err != nil {
		return connector.Company{}, err
	}
	return cw.normalize(), nil
}

// maxIdentifierTries is how many derived identifiers a create tries: the base and 20 suffixes.
const maxIdentifierTries = 21

// CreateOrganization creates a company; ConnectWise needs an identifier and a type (the
// tenant's first when none is given). A caller's Identifier is sent as it is, and a clash is
// connector.ErrIdentifierTaken. Without one, the identifier is Identifier(name, 0) and, while
// ConnectWise answers that it is taken, Identifier(name, 1), (name, 2)... up to 20; the
// returned Company carries the identifier used. A caller that must create exactly once sets
// the identifier itself and records it first: FindOrganization can only find what it is told.
func (c *Connector) CreateOrganization(ctx context.Context, nc connector.NewCompany) (connector.Company, error) {
	body := map[string]any{"name": nc.Name}
	typeID := nc.TypeID
	if typeID == "" {
		var err error
		if typeID, err = c.defaultType(ctx); err != nil {
			return connector.Company{}, err
		}
	}
	id, err := numericID("type", typeID)
	if err != nil {
		return connector.Company{}, err
	}
	body["types"] = []ref{{ID: id}}
	if nc.StatusID != "" {
		id, err := numericID("status", nc.StatusID)
		if err != nil {
			return connector.Company{}, err
		}
		body["status"] = ref{ID: id}
	}
	if nc.ParentID != "" {
		id, err := numericID("parent", nc.ParentID)
		if err != nil {
			return connector.Company{}, err
		}
		body["parentCompany"] = ref{ID: id}
	}
	tries := maxIdentifierTries
	if nc.Identifier != "" {
		tries = 1
	}
	for n := range tries {
		ident := nc.Identifier
		if ident == "" {
			ident = Identifier(nc.Name, n)
		}
		body["identifier"] = ident
		var cw company
		_, err = c.call(ctx, http.MethodPost, companiesPath, body, &cw)
		if err == nil {
			return cw.normalize(), nil
		}
		if !errors.Is(err, connector.ErrIdentifierTaken) {
			return connector.Company{}, err
		}
	}
	return connector.Company{}, err
}

// FindOrganization returns the company holding the identifier CreateOrganization(nc) would
// send first: nc.Identifier, or Identifier(nc.Name, 0) when that is empty. It does not look
// at the suffixed alternatives nor at names: an identifier is the only exact key ConnectWise
// has, and a company of the same name is not necessarily ours. ConnectWise compares
// identifiers without case, as its uniqueness does. A company flagged deleted still holds its
// identifier and is returned with Deleted set.
func (c *Connector) FindOrganization(ctx context.Context, nc connector.NewCompany) (connector.Company, error) {
	ident := nc.Identifier
	if ident == "" {
		ident = Identifier(nc.Name, 0)
	}
	lit, err := conditionString(ident)
	if err != nil {
		return connector.Company{}, err
	}
	v := url.Values{}
	v.Set("conditions", "identifier="+lit)
	// Identifiers are unique, so one is the most there can be; two leave room to notice if a
	// tenant ever breaks that, in which case the newest is the likelier to be ours.
	v.Set("orderBy", "id desc")
	v.Set("pageSize", "2")
	var list []company
	if _, err := c.call(ctx, http.MethodGet, companiesPath+"?"+v.Encode(), nil, &list); err != nil {
		return connector.Company{}, err
	}
	if len(list) == 0 {
		return connector.Company{}, fmt.Errorf("connectwise: no company with identifier %q: %w", ident, connector.ErrNotFound)
	}
	return list[0].normalize(), nil
}

// conditionString quotes s as a string literal of ConnectWise's conditions: double quotes, or
// single quotes for a value holding a double quote. The language has no escape that
// ConnectWise documents, so a value holding both cannot be asked for.
func conditionString(s string) (string, error) {
	switch {
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, nil
	case !strings.Contains(s, "'"):
		return "'" + s + "'", nil
	}
	return "", fmt.Errorf("connectwise: %q holds both kinds of quote and cannot be searched for: %w", s, connector.ErrRejected)
}

func numericID(what, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("connectwise: %s id %q is not a number: %w", what, v, connector.ErrRejected)
	}
	return n, nil
}

// Identifier derives a ConnectWise company identifier from a name. The rule:
//   - letters and digits only, case kept: accented Latin letters fold to their base letter
//     ("Café Zürich" gives "CafeZurich", "ß" gives "ss"), everything else is dropped;
//   - a name with none of those gives "Company";
//   - n = 0 is that base, cut to 30 characters (ConnectWise's limit);
//   - n > 0 is the n-th alternative for when the base is taken: the base cut so that the
//     suffix n+1 still fits in 30 ("AcmeCorporation2" for n = 1, "AcmeCorporation3" for n = 2).
//
// ConnectWise compares identifiers without case, so "ACME" and "Acme" clash.
func Identifier(name string, n int) string {
	var b strings.Builder
	for _, r := range name {
		if r > unicode.MaxASCII {
			b.WriteString(foldLatin(r))
		} else if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
		if b.Len() >= maxIdentifierLen {
			break
		}
	}
	base := b.String()
	if base == "" {
		base = "Company"
	}
	suffix := ""
	if n > 0 {
		suffix = strconv.Itoa(n + 1)
	}
	return base[:min(len(base), maxIdentifierLen-len(suffix))] + suffix
}

// The accented letters of Latin-1 and Latin Extended-A and, rune for rune, their base letters:
// a table, since the standard library has no Unicode decomposition.
const (
	latinAccented = "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝàáâãäåçèéêëìíîïðñòóôõöøùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĴĵĶķĸĹĺĻļĽľĿŀŁłŃńŅņŇňŉŊŋŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſ"
	latinBase     = "AAAAAACEEEEIIIIDNOOOOOOUUUUYaaaaaaceeeeiiiidnoooooouuuuyyAaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnnNnOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs"
)

// foldLatin is the ASCII spelling of a non-ASCII letter, "" for anything it does not know.
func foldLatin(r rune) string {
	switch r {
	case 'ß':
		return "ss"
	case 'Æ':
		return "AE"
	case 'æ':
		return "ae"
	case 'Œ':
		return "OE"
	case 'œ':
		return "oe"
	case 'Þ':
		return "TH"
	case 'þ':
		return "th"
	case 'Ĳ':
		return "IJ"
	case 'ĳ':
		return "ij"
	}
	i := 0
	for _, a := range latinAccented {
		if a == r {
			return latinBase[i : i+1]
		}
		i++
	}
	return ""
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// UpdateOrganization sends a JSON Patch of the changed fields only. ConnectWise fixes a
// company's types at creation, so a type change is ErrUnsupported.
func (c *Connector) UpdateOrganization(ctx context.Context, externalID string, ch connector.Changes) (connector.Company, error) {
	p, err := companyPath(externalID)
	if err != nil {
		return connector.Company{}, err
	}
	if ch.TypeID != nil {
		return connector.Company{}, fmt.Errorf("connectwise: company types cannot be changed after creation: %w", connector.ErrUnsupported)
	}
	var ops []patchOp
	if ch.Name != nil {
		ops = append(ops, patchOp{Op: "replace", Path: "name", Value: *ch.Name})
	}
	status := ch.StatusID
	if status == nil && ch.Active != nil {
		active, inactive, err := c.statusIDs(ctx)
		if err != nil {
			return connector.Company{}, err
		}
		s := inactive
		if *ch.Active {
			s = active
		}
		status = &s
	}
	if status != nil {
		id, err := numericID("status", *status)
		if err != nil {
			return connector.Company{}, err
		}
		ops = append(ops, patchOp{Op: "replace", Path: "status/id", Value: id})
	}
	if ch.ParentID != nil {
		if *ch.ParentID == "" {
			ops = append(ops, patchOp{Op: "remove", Path: "parentCompany"})
		} else {
			id, err := numericID("parent", *ch.ParentID)
			if err != nil {
				return connector.Company{}, err
			}
			ops = append(ops, patchOp{Op: "replace", Path: "parentCompany/id", Value: id})
		}
	}
	if len(ops) == 0 {
		return c.GetOrganization(ctx, externalID)
	}
	var cw company
	if _, err := c.call(ctx, http.MethodPatch, p, ops, &cw); err != nil {
		return connector.Company{}, err
	}
	return cw.normalize(), nil
}

// statusIDs looks up (once) the ids of the tenant's "Active" and "Inactive" statuses.
func (c *Connector) statusIDs(ctx context.Context) (active, inactive string, err error) {
	c.mu.Lock()
	active, inactive = c.active, c.inactive
	c.mu.Unlock()
	if inactive != "" && active != "" {
		return active, inactive, nil
	}
	statuses, err := c.ListStatuses(ctx)
	if err != nil {
		return "", "", err
	}
	for _, s := range statuses {
		switch {
		case strings.EqualFold(s.Name, "Active"):
			active = s.ID
		case strings.EqualFold(s.Name, "Inactive"):
			inactive = s.ID
		}
	}
	if active == "" || inactive == "" {
		return "", "", fmt.Errorf("connectwise: the tenant has no Active or Inactive company status: %w", connector.ErrUnsupported)
	}
	c.mu.Lock()
	c.active, c.inactive = active, inactive
	c.mu.Unlock()
	return active, inactive, nil
}

// DeactivateOrganization sets the company's status to the tenant's "Inactive".
func (c *Connector) DeactivateOrganization(ctx context.Context, externalID string) error {
	f := false
	_, err := c.UpdateOrganization(ctx, externalID, connector.Changes{Active: &f})
	return err
}

// DeleteOrganization deletes the company (ConnectWise flags it deleted).
func (c *Connector) DeleteOrganization(ctx context.Context, externalID string) error {
	p, err := companyPath(externalID)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, http.MethodDelete, p, nil, nil)
	return err
}

// defaultType is the tenant's first company type, cached for a few minutes.
func (c *Connector) defaultType(ctx context.Context) (string, error) {
	c.mu.Lock()
	id, at := c.firstType, c.firstTypeAt
	c.mu.Unlock()
	if id != "" && time.Since(at) < 5*time.Minute {
		return id, nil
	}
	types, err := c.ListTypes(ctx)
	if err != nil {
		return "", err
	}
	if len(types) == 0 {
		return "", fmt.Errorf("connectwise: the tenant has no company types: %w", connector.ErrRejected)
	}
	c.mu.Lock()
	c.firstType, c.firstTypeAt = types[0].ID, time.Now()
	c.mu.Unlock()
	return types[0].ID, nil
}

// ListTypes returns the tenant's company types.
func (c *Connector) ListTypes(ctx context.Context) ([]connector.Option, error) {
	return c.options(ctx, companiesPath+"/types")
}

// ListStatuses returns the tenant's company statuses.
func (c *Connector) ListStatuses(ctx context.Context) ([]connector.Option, error) {
	return c.options(ctx, companiesPath+"/statuses")
}

func (c *Connector) options(ctx context.Context, path string) ([]connector.Option, error) {
	var list []ref
	if _, err := c.call(ctx, http.MethodGet, path+"?pageSize="+strconv.Itoa(PageSize)+"&orderBy=id%20asc", nil, &list); err != nil {
		return nil, err
	}
	out := make([]connector.Option, 0, len(list))
	for _, o := range list {
		out = append(out, connector.Option{ID: strconv.FormatInt(o.ID, 10), Name: o.Name})
	}
	return out, nil
}

// VerifyWebhook checks a callback's x-content-signature against the webhook secret and reads
// which company it is about.
func (c *Connector) VerifyWebhook(header http.Header, body []byte) (connector.WebhookEvent, error) {
	if c.webhookSecret == "" {
		return connector.WebhookEvent{}, fmt.Errorf("connectwise: no webhook secret configured: %w", connector.ErrBadSignature)
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header.Get("x-content-signature")))
	if err != nil || len(got) == 0 {
		return connector.WebhookEvent{}, fmt.Errorf("connectwise: missing or malformed x-content-signature: %w", connector.ErrBadSignature)
	}
	key := sha256.Sum256([]byte(c.webhookSecret))
	m := hmac.New(sha256.New, key[:])
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return connector.WebhookEvent{}, fmt.Errorf("connectwise: %w", connector.ErrBadSignature)
	}
	var cb struct {
		MessageID string          `json:"MessageId"`
		Action    string          `json:"Action"`
		Type      string          `json:"Type"`
		ID        json.RawMessage `json:"ID"`
	}
	if err := json.Unmarshal(body, &cb); err != nil {
		return connector.WebhookEvent{}, fmt.Errorf("connectwise: callback body: %w: %w", connector.ErrRejected, err)
	}
	if cb.Type != "" && !strings.EqualFold(cb.Type, "company") {
		return connector.WebhookEvent{}, fmt.Errorf("connectwise: callback for %q, not a company: %w", cb.Type, connector.ErrUnsupported)
	}
	id := strings.Trim(string(cb.ID), `"`)
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return connector.WebhookEvent{}, fmt.Errorf("connectwise: callback without a company ID: %w", connector.ErrRejected)
	}
	delivery := cb.MessageID
	if delivery == "" {
		sum := sha256.Sum256(body)
		delivery = hex.EncodeToString(sum[:])
	}
	return connector.WebhookEvent{DeliveryID: delivery, CompanyID: id, Action: strings.ToLower(cb.Action)}, nil
}
