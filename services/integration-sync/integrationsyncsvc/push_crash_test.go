package integrationsyncsvc_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/integration-sync/integrationsyncsvc"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// TestPushesAreExactlyOnceAcrossSIGKILL is issue 15's acceptance of durable pushes:
// integration-sync is killed with SIGKILL while it creates 1,000 organizations in ConnectWise,
// and started again; afterwards the simulator's write log holds exactly one create per
// organization (a create whose answer the kill swallowed is found, not made again), and every
// organization is linked to its company.
func TestPushesAreExactlyOnceAcrossSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs integration-sync as a process twice and kills it")
	}
	t.Parallel()
	const (
		orgs    = 1000
		latency = 15 * time.Millisecond
		lease   = 2 * time.Second
	)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	spec := integrationsyncsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	bus := testkit.StartNATS(t)
	credentialKeys := secrets.GenerateSpec("k1")
	sims, err := simulators.Start(ctx, simulators.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tool := sims.ConnectWise.Sim
	tool.SetQuota(100000, time.Minute) // the budget is not what this test is about

	svc := appWithoutWorkers(t, db, credentialKeys)
	account := uuid.NewString()
	actx := identity.With(ctx, identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-" + account[:8],
		AccountID: account, Permissions: []string{domain.PermRead, domain.PermWrite}})
	integ, err := svc.CreateIntegration(actx, account, app.IntegrationInput{Kind: "connectwise", Endpoint: sims.ConnectWise.URL,
		Credentials: map[string]string{"site": "api-na.myconnectwise.net", "companyId": simulators.ConnectWiseCompanyID,
			"publicKey": simulators.ConnectWisePublicKey, "privateKey": simulators.ConnectWisePrivateKey,
			"clientId": simulators.ConnectWiseClientID},
		Budget: domain.BudgetPolicy{Requests: 100000, Window: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateSyncSettings(actx, account, integ.ID, domain.SyncSettings{Direction: domain.SyncTwoWay}); err != nil {
		t.Fatal(err)
	}
	// Orgplane's 1,000 new organizations, as the consumer of org's events records them.
	st := store.New(db.Pool)
	now := time.Now()
	for i := range orgs {
		o := domain.Organization{AccountID: account, ID: uuid.NewString(), Name: fmt.Sprintf("Pushed Client %04d", i+1), Active: true, Changed: now}
		if err := st.InTenant(ctx, account, func(tx *store.Tx) error { return svc.OrganizationChanged(ctx, tx, o, "user:ada") }); err != nil {
			t.Fatal(err)
		}
	}
	tool.Faults.SetLatency(latency)

	start := startProcesses(t, db, bus, credentialKeys, lease).start
	deadline := time.Now().Add(90 * time.Second)
	first := start(1)
	for len(tool.Writes()) < orgs/4 {
		if time.Now().After(deadline) {
			t.Fatalf("the first process made %d writes in time", len(tool.Writes()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	atKill := len(tool.Writes())
	second := start(2)

	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for {
		var tasks, linked int
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM integration_sync.sync_tasks),
			(SELECT count(DISTINCT organization_id) FROM integration_sync.external_organizations WHERE organization_id IS NOT NULL)`).
			Scan(&tasks, &linked); err != nil {
			t.Fatal(err)
		}
		if tasks == 0 && linked == orgs {
			break
		}
		if time.Now().After(deadline) {
			rows, _ := conn.Query(ctx, `SELECT t.state || ' ' || t.reason || ' ' || t.attempts || ' ' || coalesce(q.due_at::text, 'unqueued') || ' lease ' || coalesce(q.lease_until::text,'') || ' ' || coalesce(q.lease_owner,'') || ' now ' || now()::text || ' gen ' || t.generation || ' cs ' || coalesce(t.create_started_at::text,'-')
				FROM integration_sync.sync_tasks t LEFT JOIN integration_sync.sync_queue q ON q.task_id = t.id LIMIT 5`)
			left, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			_ = second.Process.Signal(syscall.SIGQUIT)
			time.Sleep(time.Second)
			t.Fatalf("after the restart: %d tasks left (%q), %d organizations linked", tasks, left, linked)
		}
		time.Sleep(50 * time.Millisecond)
	}
	creates := map[string]int{}
	for _, w := range tool.Writes() {
		if w.Action != "create" {
			t.Errorf("unexpected %s of %q", w.Action, w.Name)
		}
		creates[w.Name]++
	}
	for name, n := range creates {
		if n != 1 {
			t.Errorf("%q created %d times", name, n)
		}
	}
	if len(creates) != orgs || len(tool.Writes()) != orgs {
		t.Errorf("%d writes for %d names, want %d creates", len(tool.Writes()), len(creates), orgs)
	}
	t.Logf("killed after %d of %d creates", atKill, orgs)
}
