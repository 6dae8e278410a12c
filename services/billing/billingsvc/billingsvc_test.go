package billingsvc_test

import (
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/services/billing/billingsvc"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestEveryTenantTableIsUnderRowLevelSecurity(t *testing.T) {
	spec := billingsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	testkit.RequireTenantTablesProtected(t, db, testkit.Outbox, testkit.Exception{Table: "license_intent_queue",
		Reason: "the intent worker finds every account's due intents before it knows a tenant; ids and timing only"})
}
