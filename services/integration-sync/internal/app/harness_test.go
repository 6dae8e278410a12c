package app_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/orgplane/orgplane/pkg/apperr"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/integration-sync/integrationsyncsvc"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/budget"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// world is one test's integration-sync: a private database, the four simulators, and services
// (a "process" each) over that database.
type world struct {
	t    *testing.T
	db   *testkit.DB
	sims *simulators.Set
	keys string
	logs *syncBuffer
	// account is the tenant the test acts as, with every integrations permission.
	account string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newWorld(t *testing.T) *world {
	t.Helper()
	spec := platform.Spec{Name: "integration-sync", Migrations: []postgres.MigrationSet{store.Migrations()}}
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sims, err := simulators.Start(ctx, simulators.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, db: db, sims: sims, keys: secrets.GenerateSpec("k1"), logs: &syncBuffer{}, account: uuid.NewString()}
}

// service builds one integration-sync "process" over the world's database; run starts its
// workers until the test ends.
func (w *world) service(run bool, adjust ...func(*app.Config)) *app.Service {
	w.t.Helper()
	return w.serviceWith(noOrg{}, run, adjust...)
}

// serviceWith is w.service with orgs standing in for the org service (the stack tests run the
// real one). run starts the refresh and sync workers.
func (w *world) serviceWith(orgs app.Organizations, run bool, adjust ...func(*app.Config)) *app.Service {
	w.t.Helper()
	keys, err := secrets.ParseKeyring(w.keys)
	if err != nil {
		w.t.Fatal(err)
	}
	pool, err := postgres.Open(context.Background(), w.db.Config)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(pool.Close)
	cfg := app.DefaultConfig()
	cfg.Lease, cfg.Poll = 2*time.Second, 50*time.Millisecond
	for _, f := range adjust {
		f(&cfg)
	}
	b := budget.New(pool)
	w.t.Cleanup(b.Close)
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := app.New(store.New(pool), writable{}, orgs, keys, integrationsyncsvc.Kinds(), b, pagetoken.New([]byte("0123456789abcdef0123456789abcdef")), cfg, log)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = svc.RunOperations(ctx) }()
		syncDone := make(chan struct{})
		go func() { defer close(syncDone); _ = svc.RunSync(ctx) }()
		w.t.Cleanup(func() { cancel(); <-done; <-syncDone })
	}
	return svc
}

// noOrg answers for an org service these tests do not have: unavailable, so a pull waits.
type noOrg struct{}

var errNoOrg = apperr.Unavailable("no org service in these tests")

func (noOrg) CreateSynced(context.Context, string, string, string, domain.Organization) (string, error) {
	return "", errNoOrg
}
func (noOrg) UpdateSynced(context.Context, string, string, string, domain.OrgChanges) error {
	return errNoOrg
}
func (noOrg) DeleteSynced(context.Context, string, string, string) ([]string, error) {
	return nil, errNoOrg
}
func (noOrg) Delete(context.Context, string, string) ([]string, error) { return nil, errNoOrg }

// as is a context acting as a member of account with every integrations permission.
func as(account string) context.Context {
	return identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-" + account[:8],
		AccountID: account, Permissions: []string{domain.PermRead, domain.PermWrite}})
}

func (w *world) ctx() context.Context { return as(w.account) }

// connect creates an integration of kind against its simulator.
func (w *world) connect(svc *app.Service, kind string, policy domain.BudgetPolicy) app.IntegrationView {
	w.t.Helper()
	in := app.IntegrationInput{Kind: kind, Budget: policy}
	switch kind {
	case "itglue":
		in.Endpoint = w.sims.ITGlue.URL
		in.Credentials = map[string]string{"apiKey": simulators.ITGlueAPIKey}
	case "connectwise":
		in.Endpoint = w.sims.ConnectWise.URL
		in.Credentials = map[string]string{"site": "api-na.myconnectwise.net", "companyId": simulators.ConnectWiseCompanyID,
			"publicKey": simulators.ConnectWisePublicKey, "privateKey": simulators.ConnectWisePrivateKey,
			"clientId": simulators.ConnectWiseClientID, "webhookSecret": simulators.WebhookSecret}
	case "autotask":
		in.Endpoint = w.sims.Autotask.URL
		in.Credentials = map[string]string{"apiUser": simulators.AutotaskAPIUser, "secret": simulators.AutotaskSecret,
			"integrationCode": simulators.AutotaskIntegrationCode, "webhookSecret": simulators.WebhookSecret}
	}
	v, err := svc.CreateIntegration(w.ctx(), w.account, in)
	if err != nil {
		w.t.Fatalf("connect %s: %v", kind, err)
	}
	return v
}

func (w *world) sim(kind string) *simkit.Tool {
	switch kind {
	case "itglue":
		return w.sims.ITGlue.Sim
	case "connectwise":
		return w.sims.ConnectWise.Sim
	case "autotask":
		return w.sims.Autotask.Sim
	}
	return w.sims.Generic.Sim
}

// seed adds n companies to a simulator.
func seed(tool *simkit.Tool, n int, prefix string) {
	for i := range n {
		tool.Store.Add(simkit.Company{Name: fmt.Sprintf("%s %05d", prefix, i+1), Identifier: fmt.Sprintf("ID%05d", i+1), Active: true})
	}
}

// listRequests counts a simulator's listing requests.
func listRequests(kind string, s simkit.Stats) int {
	n := 0
	for route, c := range s.Requests {
		switch {
		case kind == "itglue" && route == "GET /organizations",
			kind == "connectwise" && strings.HasSuffix(route, "/company/companies") && strings.HasPrefix(route, "GET "),
			kind == "autotask" && strings.Contains(route, "/companies/query"):
			n += c
		}
	}
	return n
}

// waitOperation polls an operation until it ends, calling seen with each state read.
func (w *world) waitOperation(svc *app.Service, id string, timeout time.Duration, seen func(domain.Operation)) domain.Operation {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		op, err := svc.GetOperation(w.ctx(), w.account, id)
		if err != nil {
			w.t.Fatal(err)
		}
		if seen != nil {
			seen(op)
		}
		if op.State != domain.OpRunning {
			return op
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("operation %s still running after %v: %+v", id, timeout, op)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// externals reads every cached organization of an integration through the API, page by page.
func (w *world) externals(svc *app.Service, integrationID string, state domain.ExternalState) []domain.ExternalOrganization {
	w.t.Helper()
	var out []domain.ExternalOrganization
	token := ""
	for {
		page, next, _, err := svc.ListExternalOrganizations(w.ctx(), app.ExternalQuery{AccountID: w.account,
			IntegrationID: integrationID, State: state, PageSize: 1000, PageToken: token})
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		token = next
	}
}

type simkitCompany = simkit.Company

func itoa(n int64) string { return fmt.Sprint(n) }

// writable stands in for the org service's answer about the account's subscription (the
// whole-suite tests ask the real one): every test account is in good standing.
type writable struct{}

func (writable) Writable(context.Context, string) (bool, error) { return true, nil }
