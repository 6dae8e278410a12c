package integrationsyncsvc_test

import (
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/services/integration-sync/integrationsyncsvc"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestEveryTenantTableIsUnderRowLevelSecurity(t *testing.T) {
	spec := integrationsyncsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	workList := "workers find due work of every account before they know a tenant; ids and timing only"
	testkit.RequireTenantTablesProtected(t, db, testkit.Outbox,
		testkit.Exception{Table: "operation_queue", Reason: workList},
		testkit.Exception{Table: "sync_queue", Reason: workList},
		testkit.Exception{Table: "integration_directory", Reason: "the scheduler reads every account's schedule and a webhook names only its integration; ids and timing only"},
		testkit.Exception{Table: "webhook_deliveries", Reason: "deliveries are recorded before the tenant's transaction and retried by a worker; ids and timing only"},
	)
}
