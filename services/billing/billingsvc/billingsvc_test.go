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
	// license_intent_queue, like the outbox, is read by a worker before it knows the tenant; it
	// holds ids and timing only (see its migration).
	testkit.RequireTenantTablesProtected(t, db, "outbox", "license_intent_queue")
}
