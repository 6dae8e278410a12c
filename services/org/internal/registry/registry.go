// Package registry is the org service's domain: accounts and their settings, people, roles and
// API keys, organizations with their groups, types and statuses, and reviews. Each operation
// checks who may do it, runs in one transaction scoped to the account (row-level security) and
// writes its events to the outbox in that same transaction.
package registry

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// Sentinel errors. Not-found errors are also what a caller gets for something it may not see,
// so existence never leaks across tenants or groups.
var (
	ErrAccountNotFound      = identity.ErrAccountNotFound
	ErrOrganizationNotFound = apperr.NotFound("organization not found")
	ErrUserNotFound         = apperr.NotFound("user not found")
	ErrRoleNotFound         = apperr.NotFound("role not found")
	ErrAPIKeyNotFound       = apperr.NotFound("API key not found")
	ErrGroupNotFound        = apperr.NotFound("group not found")
	ErrReviewNotFound       = apperr.NotFound("review not found")
	ErrLogoNotFound         = apperr.NotFound("no logo set")
	ErrDuplicateName        = apperr.Conflict("an organization with this name already exists")
)

// Clock tells the time; tests inject one to age organizations by months.
type Clock func() time.Time

// Service implements the registry's operations.
type Service struct {
	pool  *pgxpool.Pool
	now   Clock
	pages *pagetoken.Sealer
}

// New returns a Service over pool. A nil clock means time.Now. pages seals list page tokens.
func New(pool *pgxpool.Pool, now Clock, pages *pagetoken.Sealer) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{pool: pool, now: now, pages: pages}
}

// caller returns the identity acting on accountID, provided it may (see identity.ForAccount).
func caller(ctx context.Context, accountID, perm string) (identity.Identity, error) {
	return identity.ForAccount(ctx, accountID, perm)
}

// enqueue writes an event stamped with the service's clock.
func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, msg proto.Message) error {
	_, err := events.EnqueueAt(ctx, tx, msg, s.now())
	return err
}

// inTenant runs fn in a transaction scoped to accountID.
func (s *Service) inTenant(ctx context.Context, accountID string, fn func(pgx.Tx) error) error {
	return postgres.InTenantTx(ctx, s.pool, accountID, fn)
}

// visibility is the group restriction of a caller, as SQL arguments: restricted, group ids.
func visibility(id identity.Identity) (bool, []string) {
	if id.Operator() || !id.RestrictedToGroups {
		return false, nil
	}
	return true, append([]string{}, id.Groups...)
}

// actor names who made a change, for events.
func actor(id identity.Identity) string {
	if id.UserID != "" {
		return id.UserID
	}
	return id.PrincipalID
}
