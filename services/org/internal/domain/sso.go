package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Single sign-on: an account's OpenID Connect identity provider and the sign-in flows through
// it. The rules here decide; the app layer talks to the provider.

// SSOCallbackPath is the path of CompleteSingleSignOn's route, the redirect URI's path.
const SSOCallbackPath = "/v1/singleSignOn/callback"

// SSOFlowTTL is how long a started sign-in waits for the provider's redirect: enough to type a
// password and a second factor at the provider, short enough that a leaked state is soon dead.
const SSOFlowTTL = 10 * time.Minute

// SSOProvider is an account's identity provider as it is stored, the client secret aside (it is
// sealed and never leaves the service).
type SSOProvider struct {
	AccountID       string
	Issuer          string
	ClientID        string
	HasClientSecret bool
	CreateUsers     bool
	DefaultRoleID   string
	Updated         time.Time
	// RedirectURI is the redirect URI to register at the provider (not stored: it follows the
	// web UI's address).
	RedirectURI string
}

// RedirectURI is the redirect URI to register at the provider for a web UI at webBase.
func RedirectURI(webBase string) string {
	return strings.TrimRight(webBase, "/") + SSOCallbackPath
}

// SSOStart is a started sign-in: where to send the browser, the binding for its flow cookie,
// and when the flow stops working.
type SSOStart struct {
	AuthorizationURL string
	Binding          string
	Expires          time.Time
}

// SSOCallback is the provider's redirect as CompleteSingleSignOn receives it, with the binding
// the gateway took from the flow cookie.
type SSOCallback struct {
	State   string
	Code    string
	Error   string
	Binding string
}

// SSOSignIn is a completed sign-in: the person, their session's token and where to go next.
type SSOSignIn struct {
	User         CurrentUser
	SessionToken string
	ReturnPath   string
}

// SSOProviderChange is what UpdateSingleSignOnProvider asks for. ClientSecret empty keeps the
// stored one.
type SSOProviderChange struct {
	Issuer        string
	ClientID      string
	ClientSecret  string
	CreateUsers   bool
	DefaultRoleID string
}

// Check refuses a change that cannot work, naming the request's field.
func (c SSOProviderChange) Check() error {
	if err := CheckIssuer(c.Issuer); err != nil {
		return err
	}
	if strings.TrimSpace(c.ClientID) == "" {
		return apperr.Invalid("provider.client_id", "is required: the client id Orgplane is registered under at the provider")
	}
	if c.CreateUsers && c.DefaultRoleID == "" {
		return apperr.Invalid("provider.default_role_id", "is required when create_users is set: the role users created on their first sign-in get")
	}
	return nil
}

// CheckIssuer refuses an issuer that is no absolute https URL. Plain http is allowed for a
// loopback host only (a provider on the developer's machine): anywhere else the discovery
// document and the keys that sign ID tokens could be swapped on the way.
func CheckIssuer(issuer string) error {
	const field = "provider.issuer"
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return apperr.Invalid(field, "is not an absolute URL such as https://login.example.com")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return apperr.Invalid(field, "must not carry credentials, a query or a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopbackHost(u.Hostname()) {
			return nil
		}
		return apperr.Invalid(field, "must use https (plain http is allowed only for a provider on this machine: localhost, 127.0.0.1 or ::1)")
	}
	return apperr.Invalid(field, "must be an https URL")
}

// ProviderEndpointSecure reports whether an endpoint a discovery document names (authorization,
// token, key set) may be used: https, or http on a loopback host, as for the issuer. The token
// endpoint receives the client secret and the code, the key set decides which signatures count.
func ProviderEndpointSecure(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && loopbackHost(u.Hostname()))
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewSSOSecret returns 256 random bits, base64url: a flow's state, browser binding or nonce.
func NewSSOSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// SSODigest is what a flow's state, binding and nonce are kept as: SHA-256, enough for values
// of 256 random bits (no salt or slow hash needed to stop guessing).
func SSODigest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// maxReturnPath is StartSingleSignOnRequest.return_path's max_len.
const maxReturnPath = 512

// CheckReturnPath returns the web UI path to go to after signing in ("/" for none). Only a path
// on this site is accepted: "//host" and "/\host" are other sites to a browser, and control
// characters could split the redirect's header.
func CheckReturnPath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	bad := len(p) > maxReturnPath || !utf8.ValidString(p) || p[0] != '/' ||
		(len(p) > 1 && (p[1] == '/' || p[1] == '\\'))
	for _, r := range p {
		if bad {
			break
		}
		bad = unicode.IsControl(r) || r == '\\'
	}
	if bad {
		return "", apperr.Invalid("return_path", "must be a path on this site starting with a single /, such as /organizations")
	}
	return p, nil
}

// SSOFlow is a sign-in from StartSingleSignOn to its callback. The state, binding and nonce are
// kept only as digests, the PKCE verifier sealed.
type SSOFlow struct {
	ID             string
	AccountID      string
	BindingDigest  []byte
	NonceDigest    []byte
	VerifierSealed []byte
	ReturnPath     string
	Created        time.Time
	Expires        time.Time
	Used           time.Time // zero: not used
	Client         Client
}

// NewSSOFlow is flow id of accountID started at now.
func NewSSOFlow(id, accountID, binding, nonce string, verifierSealed []byte, returnPath string, now time.Time, c Client) SSOFlow {
	return SSOFlow{ID: id, AccountID: accountID, BindingDigest: SSODigest(binding), NonceDigest: SSODigest(nonce),
		VerifierSealed: verifierSealed, ReturnPath: returnPath, Created: now, Expires: now.Add(SSOFlowTTL), Client: c.Trimmed()}
}

// Redeem decides whether a callback at now, from the browser holding binding, may go on with
// the flow. The caller uses the flow up whatever the answer: a state works once.
func (f SSOFlow) Redeem(binding string, now time.Time) error {
	if !f.Used.IsZero() || !now.Before(f.Expires) {
		return ErrSSOFlowInvalid
	}
	if binding == "" || subtle.ConstantTimeCompare(SSODigest(binding), f.BindingDigest) != 1 {
		return ErrSSOOtherBrowser
	}
	return nil
}

// SSOClaims are what Orgplane reads from a verified ID token.
type SSOClaims struct {
	Email         string
	EmailVerified bool
	GivenName     string
	FamilyName    string
	Name          string
	Nonce         string
}

// maxEmail is the longest email a user may have (User.email's max_len).
const maxEmail = 254

// Check decides whether a verified ID token may sign in for the flow whose nonce digest is
// nonceDigest: its nonce must be the flow's (else it was minted for another sign-in and
// replayed here), and it must name an email the provider has verified, the only thing users
// are matched by.
func (c SSOClaims) Check(nonceDigest []byte) error {
	if c.Nonce == "" || subtle.ConstantTimeCompare(SSODigest(c.Nonce), nonceDigest) != 1 {
		return ErrSSOTokenRejected.Wrap(errNonceMismatch)
	}
	email := strings.TrimSpace(c.Email)
	if email == "" || len(email) > maxEmail || !strings.Contains(email, "@") {
		return ErrSSONoEmail
	}
	if !c.EmailVerified {
		return ErrSSOEmailUnverified
	}
	return nil
}

type ssoError string

func (e ssoError) Error() string { return string(e) }

// errNonceMismatch is the cause logged (at debug) under ErrSSOTokenRejected.
const errNonceMismatch = ssoError("the ID token's nonce is not the flow's")

// maxName is User.first_name's and last_name's max_len.
const maxName = 100

// NewSSOUser is the user created on a first sign-in with these (checked) claims, with roleID.
// The names come from given_name and family_name; a provider that sends neither gives the
// name claim, split at its last space, else the email's local part and "-": a user must have
// both names, and an administrator can correct them later. Such users see every organization:
// a provider-wide rule can name no groups, and Update checked that its author may grant that.
func (c SSOClaims) NewSSOUser(roleID string) NewUser {
	first, last := strings.TrimSpace(c.GivenName), strings.TrimSpace(c.FamilyName)
	if first == "" && last == "" {
		name := strings.TrimSpace(c.Name)
		if i := strings.LastIndex(name, " "); i > 0 {
			first, last = strings.TrimSpace(name[:i]), strings.TrimSpace(name[i+1:])
		} else {
			first = name
		}
	}
	if first == "" {
		first, _, _ = strings.Cut(strings.TrimSpace(c.Email), "@")
	}
	if last == "" {
		last = "-"
	}
	return NewUser{FirstName: cutRunes(first, maxName), LastName: cutRunes(last, maxName), Email: strings.TrimSpace(c.Email),
		RoleID: roleID, AllOrganizations: true}
}

func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// SSOUserGrant is what a user created on first sign-in with a role of these levels holds: the
// grant Update requires its author to cover.
func SSOUserGrant(roleLevels Levels) Grant {
	return SSOClaims{}.NewSSOUser("").Grant(roleLevels)
}

// ProviderRefusal is the answer to a callback carrying the provider's error: its code when it
// is one OAuth 2.0 defines (RFC 6749 4.1.2.1, OpenID Connect Core 3.1.2.6), never its free
// text, which is the provider's (or a forger's) to write.
func ProviderRefusal(code string) error {
	switch code {
	case "access_denied", "login_required", "interaction_required", "consent_required", "account_selection_required",
		"invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope", "server_error",
		"temporarily_unavailable", "invalid_request_uri", "invalid_request_object", "request_not_supported",
		"request_uri_not_supported", "registration_not_supported":
		return &apperr.Error{Kind: apperr.KindUnauthenticated, Reason: "SINGLE_SIGN_ON_REFUSED",
			Message: "the identity provider did not sign you in (" + code + ")"}
	}
	return &apperr.Error{Kind: apperr.KindUnauthenticated, Reason: "SINGLE_SIGN_ON_REFUSED",
		Message: "the identity provider did not sign you in"}
}

// Single sign-on's refusals. None says more than the person at the browser may know; the causes
// (library errors, which say what failed in the token) go to the debug log only.
var (
	ErrSSOProviderNotFound = apperr.NotFound("no single sign-on provider is set up for this account")
	// ErrSSONotSetUp answers a start for an account without a provider, and for an email that
	// does not lead to exactly one account with one.
	ErrSSONotSetUp = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "SINGLE_SIGN_ON_NOT_SET_UP",
		Message: "single sign-on is not set up for this account; sign in with your password or ask an administrator"}
	ErrSSOFlowInvalid = &apperr.Error{Kind: apperr.KindUnauthenticated, Reason: "SINGLE_SIGN_ON_FLOW_INVALID",
		Message: "this single sign-on attempt is unknown, already used or expired; start signing in again"}
	ErrSSOOtherBrowser = &apperr.Error{Kind: apperr.KindUnauthenticated, Reason: "SINGLE_SIGN_ON_OTHER_BROWSER",
		Message: "this single sign-on attempt was started in another browser; start signing in again here"}
	ErrSSOTokenRejected = &apperr.Error{Kind: apperr.KindUnauthenticated, Reason: "SINGLE_SIGN_ON_TOKEN_REJECTED",
		Message: "the identity provider's answer could not be verified; start signing in again"}
	ErrSSOCodeRefused = &apperr.Error{Kind: apperr.KindUnauthenticated, Reason: "SINGLE_SIGN_ON_CODE_REFUSED",
		Message: "the identity provider did not accept the sign-in code; start signing in again"}
	ErrSSOProviderUnreachable = &apperr.Error{Kind: apperr.KindUnavailable, Reason: "SINGLE_SIGN_ON_PROVIDER_UNREACHABLE",
		Message: "the identity provider could not be reached; try again later"}
	ErrSSONoEmail = &apperr.Error{Kind: apperr.KindUnauthenticated, Reason: "SINGLE_SIGN_ON_NO_EMAIL",
		Message: "the identity provider did not give your email address, which Orgplane signs you in by; ask an administrator to release the email claim"}
	ErrSSOEmailUnverified = &apperr.Error{Kind: apperr.KindUnauthenticated, Reason: "SINGLE_SIGN_ON_EMAIL_UNVERIFIED",
		Message: "the identity provider has not verified your email address; verify it there and sign in again"}
	// ErrSSOUnknownUser is the same for no user, an inactive user and (without create_users)
	// a user still to be created: the person proved who they are at the provider, so saying no
	// more than "not here" keeps deactivation from being announced as such.
	ErrSSOUnknownUser = &apperr.Error{Kind: apperr.KindUnauthenticated, Reason: "SINGLE_SIGN_ON_NO_USER",
		Message: "the identity provider signed you in, but this account has no active user with your email address; ask an administrator"}
	ErrSSODefaultRoleGone = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "SINGLE_SIGN_ON_DEFAULT_ROLE_GONE",
		Message: "the role single sign-on gives new users no longer exists; ask an administrator to choose another"}
	// ErrSSORequired refuses removing the provider of an account that requires single sign-on.
	ErrSSORequired = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "SINGLE_SIGN_ON_PROVIDER_IN_USE",
		Message: "require_single_sign_on: this account requires single sign-on; turn the requirement off before removing its identity provider"}
	// ErrSSORequirementWithoutProvider refuses requiring single sign-on of an account with no
	// provider: nobody but a break-glass administrator could sign in.
	ErrSSORequirementWithoutProvider = &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "SINGLE_SIGN_ON_NOT_SET_UP",
		Message: "require_single_sign_on: set up the account's identity provider before requiring single sign-on"}
)

// ErrIssuerUnusable refuses an issuer whose discovery document could not be read, saying why
// in a few words (why is the app layer's summary, never a library's text).
func ErrIssuerUnusable(why string) error {
	return apperr.Invalid("provider.issuer", "could not read the OpenID Connect discovery document of this issuer: "+why)
}
