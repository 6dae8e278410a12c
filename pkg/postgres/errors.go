package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Sentinels for the store boundary. Stores usually wrap them in a domain sentinel with a better
// message (errors.Is still finds these).
var (
	ErrNotFound = apperr.NotFound("not found")
	ErrConflict = apperr.Conflict("already exists")
	// ErrReferenced is a foreign-key violation: the change refers to, or removes, a row another
	// row depends on.
	ErrReferenced = apperr.FailedPrecondition("refers to a missing or still referenced record")
)

// Translate classifies a Postgres error. Errors it does not recognise are returned unchanged
// and so reach callers as masked internal errors.
func Translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound.Wrap(err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return ErrConflict.Wrap(err)
		case "23503": // foreign_key_violation
			return ErrReferenced.Wrap(err)
		}
	}
	return err
}

// ConstraintName returns the violated constraint, so a store can pick the domain error that
// fits (two unique constraints on one table mean two different conflicts).
func ConstraintName(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}
