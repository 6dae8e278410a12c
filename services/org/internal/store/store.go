// Package store holds the org schema's migrations; the SQL that reads and writes it lives with
// the rules it serves, in package registry.
package store

import (
	"embed"
	"io/fs"

	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the org schema's migration set.
func Migrations() postgres.MigrationSet {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // fixed at compile time
	}
	return postgres.MigrationSet{Name: "org", FS: sub}
}
