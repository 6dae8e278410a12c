package billingsvc_test

import (
	"testing"

	"github.com/orgplane/orgplane/pkg/testkit"
	"github.com/orgplane/orgplane/services/billing/billingsvc"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestEveryTenantTableIsUnderRowLevelSecurity(t *testing.T) {
	spec := billingsvc.Spec()
	db := testkit.NewDB(t, spec.Name, spec.Role(), spec.MigrationSets()...)
	testkit.RequireTenantTablesProtected(t, db, "outbox")
}
