// Package store holds the org schema's migrations; the SQL that reads and writes it lives with
// the rules it serves, in package registry.
package store

import (
	"embed"

	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the org schema's migration set.
func Migrations() postgres.MigrationSet { return postgres.EmbeddedMigrations("org", migrations) }
