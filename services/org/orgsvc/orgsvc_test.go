package orgsvc_test

import (
	"context"

	"github.com/jackc/pgx/v5"
	"log/slog"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

func TestMain(m *testing.M) { testkit.Main(m) }

type orgHarness struct {
	accounts orgv1.AccountServiceClient
	orgs     orgv1.OrganizationServiceClient
	db       *pgx.Conn
}

func startOrg(t *testing.T) orgv1.AccountServiceClient { return startOrgHarness(t).accounts }

func startOrgHarness(t testing.TB) orgHarness {
	t.Helper()
	spec := orgsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	keys := testkit.Keyring(t)
	log := slog.New(slog.DiscardHandler)
	srv, err := rpc.NewServer(log, keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spec.New(context.Background(), platform.Deps{Log: log, Pool: db.Pool, Keys: keys, Server: srv}); err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(testkit.ServeGRPC(t, srv), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	admin, err := pgx.Connect(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return orgHarness{accounts: orgv1.NewAccountServiceClient(conn), orgs: orgv1.NewOrganizationServiceClient(conn), db: admin}
}

var operator = identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"}

func as(id identity.Identity) context.Context { return identity.With(context.Background(), id) }

var admin = &orgv1.User{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com"}

func createAccount(t testing.TB, c orgv1.AccountServiceClient, name string) *orgv1.Account {
	t.Helper()
	resp, err := c.CreateAccount(as(operator), &orgv1.CreateAccountRequest{Account: &orgv1.Account{DisplayName: name}, Administrator: admin})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetAccount()
}

func TestAccountsAreVisibleOnlyToTheirOwnersAndOperators(t *testing.T) {
	c := startOrg(t)
	a := createAccount(t, c, "Contoso MSP")
	b := createAccount(t, c, "Fabrikam IT")
	adminA := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-a", AccountID: a.GetId()}

	got, err := c.GetAccount(as(adminA), &orgv1.GetAccountRequest{AccountId: a.GetId()})
	if err != nil || got.GetDisplayName() != "Contoso MSP" {
		t.Fatalf("own account: %v %v", got, err)
	}
	// Another tenant's account looks exactly like one that does not exist.
	_, errOther := c.GetAccount(as(adminA), &orgv1.GetAccountRequest{AccountId: b.GetId()})
	_, errMissing := c.GetAccount(as(adminA), &orgv1.GetAccountRequest{AccountId: "00000000-0000-4000-8000-000000000000"})
	if status.Code(errOther) != codes.NotFound || status.Convert(errOther).Message() != status.Convert(errMissing).Message() {
		t.Fatalf("other tenant's account: %v; missing account: %v", errOther, errMissing)
	}
	if _, err := c.GetAccount(as(operator), &orgv1.GetAccountRequest{AccountId: b.GetId()}); err != nil {
		t.Fatalf("operator get: %v", err)
	}
}

func TestOnlyOperatorsCreateAndListAccounts(t *testing.T) {
	c := startOrg(t)
	tenant := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-a", AccountID: "00000000-0000-4000-8000-000000000001", Permissions: []string{"accounts:write"}}
	_, err := c.CreateAccount(as(tenant), &orgv1.CreateAccountRequest{Account: &orgv1.Account{DisplayName: "Sneaky"}, Administrator: admin})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("tenant create: %v", err)
	}
	if _, err := c.ListAccounts(as(tenant), &orgv1.ListAccountsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("tenant list: %v", err)
	}
	list, err := c.ListAccounts(as(operator), &orgv1.ListAccountsRequest{})
	if err != nil || len(list.GetAccounts()) != 0 {
		t.Fatalf("refused create left %v (%v)", list.GetAccounts(), err)
	}
}

func TestEveryTenantTableIsUnderRowLevelSecurity(t *testing.T) {
	spec := orgsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	testkit.RequireTenantTablesProtected(t, db, testkit.Outbox, testkit.Exception{Table: "api_key_digests",
		Reason: "a presented key's digest is looked up to find its account, before any tenant is known"},
		testkit.Exception{Table: "session_digests",
			Reason: "a session cookie's digest is looked up to find its account, before any tenant is known"},
		testkit.Exception{Table: "sign_in_link_digests",
			Reason: "an invitation or reset link's token digest is looked up to find its account, before any tenant is known"},
		testkit.Exception{Table: "sign_in_challenge_digests",
			Reason: "a sign-in's second step carries only its challenge token: its digest finds the account before any tenant is known"},
		testkit.Exception{Table: "user_email_digests",
			Reason: "sign-in and reset requests name an email, not an account: its digest finds the accounts before any tenant is known"},
		testkit.Exception{Table: "sso_flow_states",
			Reason: "a single sign-on callback carries only the state: its digest finds the flow's account before any tenant is known"})
}
