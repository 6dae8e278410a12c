// Package connector is the one interface integration-sync speaks to every integrated tool
// through, and the registry of the kinds it knows. A kind (IT Glue, ConnectWise PSA, Autotask PSA,
// a generic JSON tool) is one subpackage that implements Connector and registers a Kind.
//
// Connectors speak their vendor's documented wire format and nothing else: the rate budget,
// retries of 5xx and timeouts, and honoring Retry-After belong to the *http.Client they are
// given (its transport), so every vendor call spends from the same budget.
package connector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// Company is one organization as an integrated tool lists it, normalized.
type Company struct {
	// ExternalID is the tool's id, as text ("123").
	ExternalID string
	Name       string
	// TypeID/TypeName and StatusID/StatusName are the tool's own lists (ConnectWise has several
	// types; the first is used). Empty when the tool has no such notion.
	TypeID, TypeName     string
	StatusID, StatusName string
	// ParentID is the parent organization's external id, empty for a top-level one.
	ParentID string
	// Active is false for a company the tool keeps but marks inactive.
	Active bool
	// Deleted is true for a company the tool reports deleted (ConnectWise deletedFlag).
	Deleted bool
	// UpdatedAt is the tool's last-modified time (zero when the tool has none).
	UpdatedAt time.Time
	// Identifier is ConnectWise's short unique code; empty for other kinds.
	Identifier string
}

// ListQuery asks for one page of organizations.
type ListQuery struct {
	// Cursor is the Next of the previous page; empty for the first page. It is opaque to the
	// caller, stored as the refresh's checkpoint, and must resume the listing after a restart.
	Cursor string
	// ChangedSince, when not zero, asks only for organizations changed at or after it
	// (incremental refresh); a kind without such a filter returns ErrUnsupported.
	ChangedSince time.Time
}

// Page is one page of a listing.
type Page struct {
	Companies []Company
	// Next is the cursor of the next page, empty when this was the last.
	Next string
	// Total is the number of organizations the whole listing holds and TotalPages the pages it
	// takes, when the tool says; -1 when it does not.
	Total, TotalPages int
}

// NewCompany is what Create sends.
type NewCompany struct {
	Name     string
	TypeID   string
	StatusID string
	ParentID string
	// Identifier is ConnectWise's short unique code (at most 30 characters); ignored elsewhere.
	// Set, it is used verbatim and a clash is ErrIdentifierTaken; empty, ConnectWise derives one
	// from the name and steps its suffix past clashes (see connectwise.Identifier).
	Identifier string
}

// Changes are the fields Update changes; nil leaves a field as it is.
type Changes struct {
	Name     *string
	TypeID   *string
	StatusID *string
	ParentID *string
	Active   *bool
}

// Option is an entry of a tool's own list of organization types or statuses.
type Option struct {
	ID, Name string
}

// WebhookEvent is what a verified webhook delivery says.
type WebhookEvent struct {
	// DeliveryID identifies the delivery so a replay is applied once: the vendor's own id when it
	// sends one, else a digest of the signed body.
	DeliveryID string
	// CompanyID is the external id of the organization the delivery is about.
	CompanyID string
	// Action is what happened, in the vendor's words ("added", "updated", "deleted").
	Action string
}

// Connector talks to one integration of one kind. Implementations are safe for concurrent use.
type Connector interface {
	// Verify makes the cheapest authenticated call the tool offers ("test connection").
	Verify(ctx context.Context) error
	// ListOrganizations returns one page of the tool's organizations.
	ListOrganizations(ctx context.Context, q ListQuery) (Page, error)
	// GetOrganization returns one organization; ErrNotFound when the tool has no such id.
	GetOrganization(ctx context.Context, externalID string) (Company, error)
	// CreateOrganization creates an organization and returns it as the tool stored it.
	CreateOrganization(ctx context.Context, c NewCompany) (Company, error)
	// FindOrganization returns the organization a CreateOrganization(c) would have made, or
	// ErrNotFound: a caller that may have lost the answer of a create (a crash between sending
	// it and recording the result) asks this before creating again. It matches on what the
	// tool keeps unique or exact (ConnectWise: the identifier; Autotask and IT Glue: the exact
	// name, the newest of several), never on a fuzzy match; a kind that cannot create returns
	// ErrUnsupported. The match may be an organization someone else made with that name or
	// identifier: the caller decides whether to adopt it.
	FindOrganization(ctx context.Context, c NewCompany) (Company, error)
	// UpdateOrganization changes the given fields only (ConnectWise: a JSON Patch).
	UpdateOrganization(ctx context.Context, externalID string, ch Changes) (Company, error)
	// DeactivateOrganization makes the organization inactive.
	DeactivateOrganization(ctx context.Context, externalID string) error
	// DeleteOrganization deletes it; ErrUnsupported where the tool cannot (Autotask).
	DeleteOrganization(ctx context.Context, externalID string) error
	// ListTypes and ListStatuses return the tool's own lists.
	ListTypes(ctx context.Context) ([]Option, error)
	ListStatuses(ctx context.Context) ([]Option, error)
	// VerifyWebhook checks a delivery's signature against the integration's webhook secret and
	// parses it; ErrBadSignature when it does not verify (or the kind has no webhooks).
	VerifyWebhook(header http.Header, body []byte) (WebhookEvent, error)
}

// Config is what a connector is built from: the integration's settings (readable) and its
// credentials (decrypted, write-only in the API), by the field names the Kind declares.
type Config struct {
	Settings    map[string]string
	Credentials map[string]string
	// BaseURL overrides where the tool is (a simulator, a private instance); empty means the
	// vendor's public address derived from the settings and credentials.
	BaseURL string
}

// Field is one setting or credential a kind takes, named as the REST API spells it.
type Field struct {
	Name        string
	Description string
	Required    bool
	// Secret fields are credentials: write-only, encrypted at rest, never logged.
	Secret bool
}

// Budget is a vendor's documented request limit, the default of an integration's rate budget.
type Budget struct {
	// Requests per Window.
	Requests int
	Window   time.Duration
	// Concurrency is how many calls may be in flight at once (0: no limit).
	Concurrency int
}

// Kind describes one kind of integration.
type Kind struct {
	// Name is the kind's stable name ("itglue", "connectwise", "autotask", "generic").
	Name string
	// Title is how people call it ("IT Glue").
	Title string
	// Fields are the settings and credentials it takes.
	Fields []Field
	// Budget is the vendor's limit.
	Budget Budget
	// PageSize is how many organizations one listing call returns (the vendor's maximum), used
	// to size progress and the bench floor.
	PageSize int
	// Incremental is true when ListQuery.ChangedSince is supported.
	Incremental bool
	// PSA is true for a professional services automation tool (two-way sync applies).
	PSA bool
	// Identifier, when set, derives the tool's unique short code for a new company from its
	// name, n > 0 giving the n-th alternative (ConnectWise). The sync records the one it sends
	// before creating, so a retry after a crash can look the company up by it.
	Identifier func(name string, n int) string
	// New builds a connector over client, whose transport spends the integration's budget.
	New func(cfg Config, client *http.Client) (Connector, error)
}

// Errors a connector returns, wrapped with the vendor's words where it gave some.
var (
	// ErrUnauthorized: the tool refused the credentials (401/403).
	ErrUnauthorized = errors.New("credentials rejected")
	// ErrNotFound: no such organization.
	ErrNotFound = errors.New("not found in the integrated tool")
	// ErrUnsupported: the tool cannot do this.
	ErrUnsupported = errors.New("not supported by this tool")
	// ErrBadSignature: a webhook delivery did not verify.
	ErrBadSignature = errors.New("webhook signature does not verify")
	// ErrRejected: the tool refused the request as invalid (4xx other than the above).
	ErrRejected = errors.New("refused by the integrated tool")
	// ErrUnavailable: the tool failed (5xx, timeout, 429 after the transport gave up).
	ErrUnavailable = errors.New("integrated tool unavailable")
	// ErrIdentifierTaken: a create named a unique identifier (ConnectWise's) that another
	// organization holds. It comes with ErrRejected (both match errors.Is).
	ErrIdentifierTaken = errors.New("identifier already in use in the integrated tool")
)

// VendorError is a refusal with the tool's own status and message.
type VendorError struct {
	Status  int
	Message string
	Kind    error // one of the sentinel errors above
}

func (e *VendorError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%v (HTTP %d)", e.Kind, e.Status)
	}
	return fmt.Sprintf("%v (HTTP %d): %s", e.Kind, e.Status, e.Message)
}

func (e *VendorError) Unwrap() error { return e.Kind }

// StatusError classifies a non-2xx response by its status: 401/403 ErrUnauthorized, 404
// ErrNotFound, other 4xx ErrRejected, 429 and 5xx ErrUnavailable. message is the vendor's own
// text, extracted by the caller from the kind's error body.
func StatusError(status int, message string) error {
	var kind error
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		kind = ErrUnauthorized
	case status == http.StatusNotFound:
		kind = ErrNotFound
	case status == http.StatusTooManyRequests || status >= 500:
		kind = ErrUnavailable
	default:
		kind = ErrRejected
	}
	if len(message) > 500 {
		message = message[:500]
	}
	return &VendorError{Status: status, Message: message, Kind: kind}
}

// Registry is the set of kinds a service knows, by name.
type Registry map[string]Kind

// Register adds k; a second kind of the same name is a programming error.
func (r Registry) Register(k Kind) {
	if _, dup := r[k.Name]; dup {
		panic("connector: kind registered twice: " + k.Name)
	}
	r[k.Name] = k
}

// Names returns the registered kinds' names, sorted.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r))
	for n := range r {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

type withoutCredentialsKey struct{}

// WithoutCredentials marks a request that carries no credentials (Autotask's zone discovery,
// ConnectWise's companyinfo): its success says nothing about the credentials, so the transport
// does not take it as proof that refused credentials work again.
func WithoutCredentials(ctx context.Context) context.Context {
	return context.WithValue(ctx, withoutCredentialsKey{}, true)
}

// CarriesNoCredentials reports whether ctx was marked by WithoutCredentials.
func CarriesNoCredentials(ctx context.Context) bool {
	v, _ := ctx.Value(withoutCredentialsKey{}).(bool)
	return v
}
