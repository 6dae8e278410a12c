package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// Defaults every new account starts with; they are ordinary list entries the MSP can extend.
var (
	defaultTypes    = []string{"Customer", "Vendor", "Owner", "Prospect"}
	defaultStatuses = []string{"Active", "Inactive"}
)

// CreateAccount creates an account with its built-in roles, default lists and settings, its
// first administrator and that administrator's API key, and account.created, all at once.
func (s *Service) CreateAccount(ctx context.Context, req *orgv1.CreateAccountRequest) (*orgv1.CreateAccountResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	admin := req.GetAdministrator()
	if err := requireUserFields(admin, "administrator"); err != nil {
		return nil, err
	}
	resp := &orgv1.CreateAccountResponse{}
	var accountID string
	// The account row decides the tenant, so it is inserted first, then the rest under its scope.
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var created time.Time
		err := tx.QueryRow(ctx, `INSERT INTO accounts (display_name) VALUES ($1) RETURNING id::text, created_at`,
			req.GetAccount().GetDisplayName()).Scan(&accountID, &created)
		if err != nil {
			return postgres.Translate(err)
		}
		resp.Account = &orgv1.Account{Id: accountID, DisplayName: req.GetAccount().GetDisplayName(), CreateTime: timestamppb.New(created)}
		if err := postgres.ScopeTx(ctx, tx, accountID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO account_settings (account_id, company_name) VALUES ($1, $2)`,
			accountID, req.GetAccount().GetDisplayName()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO account_limits (account_id) VALUES ($1)`, accountID); err != nil {
			return err
		}
		adminRole := ""
		for _, r := range builtinRoles() {
			perms, _ := json.Marshal(r.levels)
			var id string
			if err := tx.QueryRow(ctx, `INSERT INTO roles (account_id, name, builtin, permissions) VALUES ($1, $2, $3, $4) RETURNING id::text`,
				accountID, r.name, int16(r.kind), perms).Scan(&id); err != nil {
				return err
			}
			if r.kind == orgv1.BuiltinRole_BUILTIN_ROLE_IT_PROVIDER_ADMIN {
				adminRole = id
			}
		}
		for _, n := range defaultTypes {
			if _, err := tx.Exec(ctx, `INSERT INTO organization_types (account_id, name) VALUES ($1, $2)`, accountID, n); err != nil {
				return err
			}
		}
		for _, n := range defaultStatuses {
			if _, err := tx.Exec(ctx, `INSERT INTO organization_statuses (account_id, name) VALUES ($1, $2)`, accountID, n); err != nil {
				return err
			}
		}
		u := &orgv1.User{FirstName: admin.GetFirstName(), LastName: admin.GetLastName(), Email: admin.GetEmail(), RoleId: adminRole, AllOrganizations: true,
			EmailPreferences: &orgv1.EmailPreferences{ReviewAssigned: true}}
		user, err := insertUser(ctx, tx, accountID, u, "administrator")
		if err != nil {
			return err
		}
		resp.Administrator = user
		key, err := insertAPIKey(ctx, tx, accountID, &orgv1.ApiKey{Name: "Initial administrator key", RoleId: adminRole, UserId: user.GetId()})
		if err != nil {
			return err
		}
		resp.AdministratorApiKey = key.secret
		if err := s.enqueue(ctx, tx, &orgv1.AccountCreated{AccountId: accountID, DisplayName: resp.Account.GetDisplayName()}); err != nil {
			return err
		}
		err = s.enqueue(ctx, tx, &orgv1.UserCreated{AccountId: accountID, User: user})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	return resp, nil
}

// GetAccount returns an account to an operator or to a caller inside it.
func (s *Service) GetAccount(ctx context.Context, accountID string) (*orgv1.Account, error) {
	if _, err := caller(ctx, accountID, ""); err != nil {
		return nil, err
	}
	a := &orgv1.Account{}
	var created time.Time
	err := s.pool.QueryRow(ctx, `SELECT id::text, display_name, created_at FROM accounts WHERE id = $1`, accountID).
		Scan(&a.Id, &a.DisplayName, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrAccountNotFound
	}
	if err != nil {
		return nil, err
	}
	a.CreateTime = timestamppb.New(created)
	return a, nil
}

// AccountPage is a keyset position in the oldest-first account list.
type AccountPage struct {
	AfterTime time.Time
	AfterID   string
	Size      int
}

// ListAccounts lists accounts oldest first; platform operators only.
func (s *Service) ListAccounts(ctx context.Context, p AccountPage) ([]*orgv1.Account, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id::text, display_name, created_at FROM accounts
		WHERE $1::text = '' OR (created_at, id) > ($2, $1::uuid) ORDER BY created_at, id LIMIT $3`,
		p.AfterID, p.AfterTime, p.Size)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*orgv1.Account, error) {
		a := &orgv1.Account{}
		var t time.Time
		err := r.Scan(&a.Id, &a.DisplayName, &t)
		a.CreateTime = timestamppb.New(t)
		return a, err
	})
}

// newAPIKey returns a key and the digest stored for it. 256 random bits make a plain SHA-256
// digest safe to store: there is nothing to brute-force.
func newAPIKey() (secret string, digest []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret = "opk_" + base64.RawURLEncoding.EncodeToString(b)
	return secret, digestOf(secret)
}

func digestOf(secret string) []byte {
	d := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	return d[:]
}
