package app

import (
	"context"
	"fmt"
	"time"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/pbconv"
	"github.com/orgplane/orgplane/services/org/internal/store"
)

// CreatedAccount is a new account with its first administrator and that administrator's key
// secret, which is shown only now.
type CreatedAccount struct {
	Account          domain.Account
	Administrator    domain.User
	AdministratorKey string
}

// CreateAccount creates an account with its built-in roles, default lists and settings, its
// first administrator (the person admin names) and that administrator's API key, and publishes
// account.created and user.created, all at once. Platform operators only.
func (s *Service) CreateAccount(ctx context.Context, displayName string, admin domain.NewUser) (CreatedAccount, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return CreatedAccount{}, err
	}
	if err := admin.Check("administrator"); err != nil {
		return CreatedAccount{}, err
	}
	var out CreatedAccount
	// Not InTenant: there is no tenant until the account row exists; CreateAccount scopes the
	// transaction to it.
	err := s.store.InSystem(ctx, func(tx *store.Tx) error {
		acct, err := tx.CreateAccount(ctx, displayName)
		if err != nil {
			return err
		}
		if err := tx.SeedAccount(ctx, acct.ID, displayName); err != nil {
			return err
		}
		roles, err := tx.SeedRoles(ctx, acct.ID, domain.BuiltinRoles())
		if err != nil {
			return err
		}
		if err := tx.SeedOrganizationLists(ctx, acct.ID, domain.NewAccountOrganizationTypes(), domain.NewAccountOrganizationStatuses()); err != nil {
			return err
		}
		adminRole := roles[domain.RoleITProviderAdmin]
		user, err := tx.InsertUser(ctx, acct.ID, domain.NewAccountAdministrator(admin, adminRole), "administrator")
		if err != nil {
			return err
		}
		secret := domain.NewAPIKeySecret()
		if _, err := tx.InsertAPIKey(ctx, acct.ID, domain.APIKey{Name: domain.NewAccountAPIKeyName, RoleID: adminRole, UserID: user.ID}, secret); err != nil {
			return err
		}
		now := s.now()
		if err := tx.Enqueue(ctx, &orgv1.AccountCreated{AccountId: acct.ID, DisplayName: acct.DisplayName}, now); err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, &orgv1.UserCreated{AccountId: acct.ID, User: pbconv.User(user), Administrator: true}, now); err != nil {
			return err
		}
		out = CreatedAccount{Account: acct, Administrator: user, AdministratorKey: secret}
		return nil
	})
	if err != nil {
		return CreatedAccount{}, fmt.Errorf("create account: %w", err)
	}
	return out, nil
}

// Account returns an account to an operator or to a caller inside it.
func (s *Service) Account(ctx context.Context, accountID string) (domain.Account, error) {
	if _, err := caller(ctx, accountID, ""); err != nil {
		return domain.Account{}, err
	}
	return s.store.Account(ctx, accountID)
}

// accountPosition is an account's place in the oldest-first list, as page tokens carry it.
type accountPosition struct {
	Created time.Time `json:"t"`
	ID      string    `json:"i"`
}

// ListAccounts lists accounts oldest first, a page at a time; platform operators only. It
// returns the token of the next page, "" on the last.
func (s *Service) ListAccounts(ctx context.Context, pageSize int32, pageToken string) ([]domain.Account, string, error) {
	// The token is checked first, as before the split: a forged token is a 400 for anyone.
	page, err := pagetoken.Open[accountPosition](ctx, s.pages, "accounts", pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, "", err
	}
	list, err := s.store.Accounts(ctx, page.After.Created, page.After.ID, page.Size+1)
	if err != nil {
		return nil, "", err
	}
	return pagetoken.Next(page, list, func(a domain.Account) accountPosition { return accountPosition{a.Created, a.ID} })
}
