// Package app is the org service's use cases, one method each: check the caller's permission,
// open the transaction, let the domain decide, write through the store, enqueue the events in
// the same transaction. It knows no protos except the event messages it publishes.
package app

import (
	"context"
	"time"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Service runs the org service's use cases.
type Service struct {
	store *store.Store
	now   domain.Clock
	pages *pagetoken.Sealer
}

// New returns a Service. A nil clock means time.Now; pages seals list page tokens.
func New(st *store.Store, now domain.Clock, pages *pagetoken.Sealer) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, now: now, pages: pages}
}

// caller returns the identity acting on accountID, provided it holds perm there.
func caller(ctx context.Context, accountID, perm string) (identity.Identity, error) {
	return identity.ForAccount(ctx, accountID, perm)
}
