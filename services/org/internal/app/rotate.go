package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// Rotation counts what Rotate did.
type Rotation struct {
	Accounts int
	// Resealed under the newest key, by kind.
	TOTPSecrets, ClientSecrets, FlowVerifiers int
	// Current were under the newest key already.
	Current int
	// Unopenable opened under no key of the keyring: they are left as they are.
	Unopenable int
}

const (
	// rotateBatch is how many values of one kind one transaction reseals: an account with
	// many users is resealed in short transactions, each holding few row locks.
	rotateBatch = 500
	// rotateAccounts is how many accounts are listed at a time.
	rotateAccounts = 200
)

// sealedKind is one column of sealed values: how to read a page of it (after a row id, "" from
// the first), what each value's associated data is, and how to replace one value that has not
// changed meanwhile.
type sealedKind struct {
	what  string
	count func(*Rotation) *int
	read  func(ctx context.Context, tx *store.Tx, after string) ([]store.Sealed, error)
	aad   func(accountID, id string) []byte
	write func(ctx context.Context, tx *store.Tx, id string, old, sealed []byte) (bool, error)
}

// sealedKinds are every sealed value the org service keeps: TOTP secrets (pending enrollments
// included), identity providers' client secrets, and the PKCE verifiers of single sign-on
// flows. Flows are resealed too, though they last ten minutes, so that the old key can be
// dropped as soon as the command ends without failing a sign-in under way.
func sealedKinds() []sealedKind {
	return []sealedKind{
		{
			what:  "the TOTP secret of user",
			count: func(r *Rotation) *int { return &r.TOTPSecrets },
			read: func(ctx context.Context, tx *store.Tx, after string) ([]store.Sealed, error) {
				return tx.SealedTOTPSecrets(ctx, after, rotateBatch)
			},
			aad: totpAAD,
			write: func(ctx context.Context, tx *store.Tx, userID string, old, sealed []byte) (bool, error) {
				return tx.ResealTOTP(ctx, userID, old, sealed)
			},
		},
		{
			what:  "the identity provider's client secret of account",
			count: func(r *Rotation) *int { return &r.ClientSecrets },
			read: func(ctx context.Context, tx *store.Tx, after string) ([]store.Sealed, error) {
				if after != "" {
					return nil, nil
				}
				rec, err := tx.SSOProvider(ctx)
				if errors.Is(err, domain.ErrSSOProviderNotFound) || (err == nil && len(rec.SecretSealed) == 0) {
					return nil, nil
				}
				return []store.Sealed{{ID: rec.Provider.AccountID, Value: rec.SecretSealed}}, err
			},
			aad: func(accountID, _ string) []byte { return clientSecretAAD(accountID) },
			write: func(ctx context.Context, tx *store.Tx, _ string, old, sealed []byte) (bool, error) {
				return tx.ResealClientSecret(ctx, old, sealed)
			},
		},
		{
			what:  "the PKCE verifier of single sign-on flow",
			count: func(r *Rotation) *int { return &r.FlowVerifiers },
			read: func(ctx context.Context, tx *store.Tx, after string) ([]store.Sealed, error) {
				return tx.SealedVerifiers(ctx, after, rotateBatch)
			},
			aad: verifierAAD,
			write: func(ctx context.Context, tx *store.Tx, flowID string, old, sealed []byte) (bool, error) {
				return tx.ResealVerifier(ctx, flowID, old, sealed)
			},
		},
	}
}

// Rotate reseals every sealed value not under the newest credential key with the newest, each
// with its own associated data, account by account and batch by batch, and says what it did.
// It is safe to run while the service runs (a value changed meanwhile is left to its new seal,
// which is under the newest key of a restarted service) and again (what is current is skipped).
// A value no key opens is counted and left as it is, the others are still resealed, and Rotate
// then fails: the keys such values were sealed under must not be dropped on its word.
func (s *Service) Rotate(ctx context.Context) (Rotation, error) {
	if s.secrets == nil {
		return Rotation{}, domain.ErrNoSecrets
	}
	var r Rotation
	var firstFailure error
	var after domain.Account
	for {
		accounts, err := s.store.Accounts(ctx, after.Created, after.ID, rotateAccounts)
		if err != nil {
			return r, err
		}
		for _, a := range accounts {
			if err := s.rotateAccount(ctx, a.ID, &r, &firstFailure); err != nil {
				return r, fmt.Errorf("account %s: %w", a.ID, err)
			}
			r.Accounts++
		}
		if len(accounts) < rotateAccounts {
			break
		}
		after = accounts[len(accounts)-1]
	}
	if r.Unopenable > 0 {
		return r, fmt.Errorf("%d sealed values opened under no key of the keyring and were left as they are (the first: %w)",
			r.Unopenable, firstFailure)
	}
	return r, nil
}

// rotateAccount reseals the account's values into r, one transaction per batch of a kind; the
// first value no key opens goes to *first.
func (s *Service) rotateAccount(ctx context.Context, accountID string, r *Rotation, first *error) error {
	for _, kind := range sealedKinds() {
		after := ""
		for {
			var page []store.Sealed
			var resealed, current int
			var failed []error
			// The transaction may run again (a serialization failure): its counts are its own.
			err := s.store.InTenant(ctx, accountID, func(tx *store.Tx) error {
				resealed, current, failed = 0, 0, nil
				var err error
				if page, err = kind.read(ctx, tx, after); err != nil {
					return err
				}
				for _, v := range page {
					if !s.secrets.NeedsReseal(v.Value) {
						current++
						continue
					}
					sealed, err := s.secrets.Reseal(v.Value, kind.aad(accountID, v.ID))
					if err != nil {
						failed = append(failed, fmt.Errorf("%s %s: %w", kind.what, v.ID, err))
						continue
					}
					ok, err := kind.write(ctx, tx, v.ID, v.Value, sealed)
					if err != nil {
						return err
					}
					if ok {
						resealed++
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			*kind.count(r) += resealed
			r.Current += current
			r.Unopenable += len(failed)
			if *first == nil && len(failed) > 0 {
				*first = failed[0]
			}
			if len(page) < rotateBatch {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return nil
}
