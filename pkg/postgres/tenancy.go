package postgres

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var tenancyMigrations embed.FS

// TenancyMigrations installs protect_tenant_table(), the one definition of the row-level security
// policy every tenant-owned table uses. Services apply it before their own migrations.
func TenancyMigrations() MigrationSet {
	sub, err := fs.Sub(tenancyMigrations, "migrations")
	if err != nil {
		panic(err) // fixed at compile time
	}
	return MigrationSet{Name: "tenancy", FS: sub}
}
