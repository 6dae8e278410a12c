// Package app is the org service's use cases, one method each: check the caller's permission,
// open the transaction, let the domain decide, write through the store, enqueue the events in
// the same transaction. It knows no protos except the event messages it publishes.
package app

import (
	"context"
	"time"

	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/oidcrp"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Service runs the org service's use cases.
type Service struct {
	store  *store.Store
	now    domain.Clock
	pages  *pagetoken.Sealer
	signIn domain.SignInTimeouts
	// secrets seals TOTP secrets and client secrets; nil when ORGPLANE_CREDENTIAL_KEYS is not
	// set, and then two-step verification and single sign-on are unavailable (ErrNoSecrets).
	secrets *secrets.Keyring
	// sso is the OpenID Connect client single sign-on uses (WithSingleSignOn).
	sso *oidcrp.RelyingParty
}

// WithSecrets sets the keyring that seals what sign-in must read back (nil: none).
func (s *Service) WithSecrets(k *secrets.Keyring) *Service {
	s.secrets = k
	return s
}

// New returns a Service. A nil clock means time.Now; pages seals list page tokens.
func New(st *store.Store, now domain.Clock, pages *pagetoken.Sealer) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, now: now, pages: pages, signIn: domain.SignInTimeouts{}.WithDefaults()}
}

// caller returns the identity acting on accountID, provided it holds perm there.
func caller(ctx context.Context, accountID, perm string) (identity.Identity, error) {
	return identity.ForAccount(ctx, accountID, perm)
}

// writer is caller for a change (perm is an area's write permission): a member's change to an
// account whose subscription is canceled or past due is refused (403, domain.ErrSubscriptionInactive),
// whatever the route, as the README promises: the account is read-only until billing reactivates
// it. Platform operators and services are not held to it (an operator repairs accounts, billing
// applies the reactivation through org).
func (s *Service) writer(ctx context.Context, accountID, perm string) (identity.Identity, error) {
	id, err := caller(ctx, accountID, perm)
	if err != nil {
		return id, err
	}
	if id.Operator() || id.Kind == identity.KindService {
		return id, nil
	}
	writable, err := s.store.AccountWritable(ctx, accountID)
	if err != nil {
		return identity.Identity{}, err
	}
	if !writable {
		return identity.Identity{}, domain.ErrSubscriptionInactive
	}
	return id, nil
}
