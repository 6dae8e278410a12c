package postgres

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

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
	if ConnectionLost(err) {
		return ErrUnavailable.Wrap(err)
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

// ErrUnavailable is a lost, refused or shutting-down database connection. It is a fault of the
// moment, not of the request: callers get Unavailable (HTTP 503) and may retry.
var ErrUnavailable = apperr.Unavailable("the database is unavailable; retry shortly")

// ConnectionLost reports whether err says the database could not be reached or the connection
// broke (refused, reset, closed mid-query, the server shutting down or out of connection
// slots), or reached a server that cannot take writes now (a standby, during a failover), as
// opposed to an error in the statement itself. Such an error is retryable by the caller once
// the database is back or a new primary is.
func ConnectionLost(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection_exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin, crash shutdown; cannot connect now
			return true
		case pe.Code == "53300": // too_many_connections
			return true
		case pe.Code == "25006": // read_only_sql_transaction: a standby, or a primary being demoted
			// The services' own read-only transactions only read, so a write refused as read-only
			// went to a server that is not the primary (yet): a failover's window, not a bug of
			// the request.
			return true
		}
		return false // the server answered: the statement, not the connection, failed
	}
	if errors.Is(err, errServerHungUp) || errors.Is(err, puddle.ErrClosedPool) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// A server that died mid-reply: only pgx's own wording tells this EOF from, say, a truncated
	// upload's, which must stay a request error.
	if (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) && strings.Contains(err.Error(), "failed to receive message") {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// pgx reports a connection that died under it as "conn closed" without a wrapped cause.
	return pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}
