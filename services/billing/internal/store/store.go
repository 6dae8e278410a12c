// Package store holds the billing schema's migrations.
package store

import (
	"embed"
	"io/fs"

	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the billing schema's migration set.
func Migrations() postgres.MigrationSet {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // fixed at compile time
	}
	return postgres.MigrationSet{Name: "billing", FS: sub}
}
