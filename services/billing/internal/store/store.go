// Package store holds the billing schema's migrations.
package store

import (
	"embed"

	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the billing schema's migration set.
func Migrations() postgres.MigrationSet { return postgres.EmbeddedMigrations("billing", migrations) }
