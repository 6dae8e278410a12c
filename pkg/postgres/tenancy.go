package postgres

import (
	"embed"
)

//go:embed migrations/*.sql
var tenancyMigrations embed.FS

// TenancyMigrations installs protect_tenant_table(), the one definition of the row-level security
// policy every tenant-owned table uses. Services apply it before their own migrations.
func TenancyMigrations() MigrationSet { return EmbeddedMigrations("tenancy", tenancyMigrations) }
