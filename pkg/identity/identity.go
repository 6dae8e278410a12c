// Package identity carries who is calling through the suite. The gateway (or a service acting on
// its own behalf) describes the caller as an Identity; a short-lived token signed with a key from
// configuration carries it in gRPC metadata; every service verifies the token before any handler
// runs. There is no unsigned "trust me" form.
package identity

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Kind says what sort of principal is calling.
type Kind string

const (
	KindOperator Kind = "operator" // a platform operator: creates accounts, not bound to one
	KindUser     Kind = "user"     // a member of an account's staff
	KindAPIKey   Kind = "api_key"  // an account's API key
	KindService  Kind = "service"  // a service doing background work on its own behalf
)

// Identity is the verified caller.
type Identity struct {
	Kind Kind
	// PrincipalID identifies the user, API key, operator or service.
	PrincipalID string
	// AccountID is the tenant the caller acts in; empty for operators and for services working
	// across accounts.
	AccountID string
	// Permissions granted inside AccountID, as "area:level" strings (for example
	// "organizations:write"); defined by the org service's role model.
	Permissions []string
	// UserID is the user an API key acts as, if any (the principal itself for users).
	UserID string
	// RestrictedToGroups limits the organizations the caller sees to those in Groups; false
	// means "All Organizations".
	RestrictedToGroups bool
	Groups             []string
	// SessionID is the sign-in session a person calls through (Kind user only); empty for
	// every other caller. Rules for a person's own sign-in (their sessions, their password)
	// admit only an identity that has one, so an API key acting as a user cannot reach them.
	SessionID string
}

// SignedIn reports whether the caller is a person signed in with a session.
func (id Identity) SignedIn() bool {
	return id.Kind == KindUser && id.SessionID != "" && id.AccountID != ""
}

// Operator reports whether the caller is a platform operator.
func (id Identity) Operator() bool { return id.Kind == KindOperator }

// Has reports whether the identity holds permission p.
func (id Identity) Has(p string) bool { return slices.Contains(id.Permissions, p) }

// Service is the identity a service uses for its own background work.
func Service(name string) Identity { return Identity{Kind: KindService, PrincipalID: name} }

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the identity in ctx, if any.
func From(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// ErrUnauthenticated is returned when a call carries no valid identity.
var ErrUnauthenticated = apperr.Unauthenticated("authentication required")

// ErrOperatorOnly is returned when a tenant caller uses an operator-only operation.
var ErrOperatorOnly = apperr.PermissionDenied("only a platform operator may do this")

// RequireOperator returns the caller if it is a platform operator.
func RequireOperator(ctx context.Context) (Identity, error) {
	id, ok := From(ctx)
	if !ok {
		return Identity{}, ErrUnauthenticated
	}
	if !id.Operator() {
		return Identity{}, ErrOperatorOnly
	}
	return id, nil
}

// RequirePermission returns the caller if it holds p inside an account.
func RequirePermission(ctx context.Context, p string) (Identity, error) {
	id, ok := From(ctx)
	if !ok {
		return Identity{}, ErrUnauthenticated
	}
	if id.AccountID == "" || !id.Has(p) {
		return Identity{}, apperr.PermissionDenied("missing permission " + p)
	}
	return id, nil
}

// ErrAccountNotFound is what a caller gets for an account it may not act in: the same answer as
// for an account that does not exist, so existence never leaks across tenants.
var ErrAccountNotFound = apperr.NotFound("account not found")

// ForAccount returns the caller acting on accountID, provided it may: platform operators act on
// any account (holding every permission), everyone else only inside their own account and only
// with permission perm when perm is set.
func ForAccount(ctx context.Context, accountID, perm string) (Identity, error) {
	id, ok := From(ctx)
	if !ok {
		return id, ErrUnauthenticated
	}
	if id.Operator() {
		return id, nil
	}
	if id.AccountID != accountID {
		return id, ErrAccountNotFound
	}
	if perm != "" && !id.Has(perm) {
		return id, apperr.PermissionDenied("your role does not allow this (needs " + perm + ")")
	}
	return id, nil
}

// Actor names who made a change, for audit records and events.
func (id Identity) Actor() string {
	if id.UserID != "" {
		return id.UserID
	}
	return string(id.Kind) + ":" + id.PrincipalID
}

// Visibility is the caller's organization restriction: whether it sees only the organizations
// of some groups, and which. Operators and "All Organizations" callers are not restricted.
func (id Identity) Visibility() (restricted bool, groups []string) {
	if id.Operator() || !id.RestrictedToGroups {
		return false, nil
	}
	return true, slices.Clone(id.Groups)
}

// APIKeyDigest is the digest an API key is stored and looked up by: SHA-256 of the key with
// surrounding white space (a pasted key) removed. 256 random bits make a plain digest safe to
// store, there being nothing to brute-force. The gateway sends only this to the org service.
// Stored digests depend on this function: it never changes.
func APIKeyDigest(secret string) []byte {
	d := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	return d[:]
}
