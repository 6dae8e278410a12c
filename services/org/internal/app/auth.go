package app

import (
	"context"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// errOnlyServicesAuthenticate refuses anyone but a service (the gateway) asking what a
// credential grants.
var errOnlyServicesAuthenticate = apperr.PermissionDenied("only services may authenticate credentials")

// AuthenticateAPIKey resolves a key digest (identity.APIKeyDigest) to the identity it grants:
// its account, its role's permissions and, when it acts as a user, that user's organization
// groups, all narrowed to what the key's owner (the user behind its creation) holds now
// (domain.KeyGrant.Identity). It reads the key, its user and its owner on every request, so
// revocation, role changes and deactivations apply at once, in one round trip (see
// store.AuthenticateAPIKey); a use is written at most once a minute.
func (s *Service) AuthenticateAPIKey(ctx context.Context, digest []byte) (domain.KeyIdentity, error) {
	if id, ok := identity.From(ctx); !ok || id.Kind != identity.KindService {
		return domain.KeyIdentity{}, errOnlyServicesAuthenticate
	}
	grant, err := s.store.AuthenticateAPIKey(ctx, digest)
	if err != nil {
		return domain.KeyIdentity{}, err
	}
	out, err := grant.Identity()
	if err != nil {
		return domain.KeyIdentity{}, err
	}
	if now := s.now(); grant.NeedsUseRecorded(now) {
		err := s.store.InTenant(ctx, grant.AccountID, func(tx *store.Tx) error {
			return tx.RecordAPIKeyUse(ctx, grant.APIKeyID, now)
		})
		if err != nil {
			return domain.KeyIdentity{}, err
		}
	}
	return out, nil
}
