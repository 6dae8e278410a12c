// Package apperr holds the kinds of error a service's domain can return. Domains declare their
// sentinels with these constructors (ErrNotFound = apperr.NotFound("organization not found")) and
// wrap them with context; one interceptor (package rpc) turns the kind into a gRPC status, so
// transport code never decides codes and internal text never reaches a caller.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for callers. The zero value is Internal: an error nobody classified
// is treated as a fault, masked and logged.
type Kind int

const (
	KindInternal Kind = iota
	KindInvalid
	KindNotFound
	KindConflict
	KindFailedPrecondition
	KindPermissionDenied
	KindUnauthenticated
	KindResourceExhausted
	KindUnavailable
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindFailedPrecondition:
		return "failed_precondition"
	case KindPermissionDenied:
		return "permission_denied"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindResourceExhausted:
		return "resource_exhausted"
	case KindUnavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// Error is a classified error. Message is safe to show to the caller; Err (the cause) is not.
type Error struct {
	Kind    Kind
	Message string
	// Field names the offending request field (proto field path) for KindInvalid.
	Field string
	// Reason is a stable machine-readable code for clients (for example "LICENSE_LIMIT").
	Reason string
	// QuotaSubject names the exhausted quota of a ResourceExhausted error (for example
	// "accounts/<id>/licenses"); it becomes a google.rpc.QuotaFailure.
	QuotaSubject string
	// Metadata are facts a client acts on without reading the message (the rows a conflict
	// names); they travel with Reason in the google.rpc.ErrorInfo, so they need a Reason.
	Metadata map[string]string
	Err      error

	sentinel *Error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Wrap returns a copy of e caused by err, so a sentinel can carry the underlying failure while
// errors.Is(result, sentinel) still holds.
func (e *Error) Wrap(err error) error {
	c := *e
	c.Err = err
	c.sentinel = e
	return &c
}

func (e *Error) Is(target error) bool { return e.sentinel != nil && target == e.sentinel }

// As finds the first classified error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// KindOf reports err's kind; unclassified errors are Internal.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return KindInternal
}

func NotFound(msg string) *Error { return &Error{Kind: KindNotFound, Message: msg} }
func Conflict(msg string) *Error { return &Error{Kind: KindConflict, Message: msg} }
func FailedPrecondition(msg string) *Error {
	return &Error{Kind: KindFailedPrecondition, Message: msg}
}
func PermissionDenied(msg string) *Error { return &Error{Kind: KindPermissionDenied, Message: msg} }
func Unauthenticated(msg string) *Error  { return &Error{Kind: KindUnauthenticated, Message: msg} }
func ResourceExhausted(msg string) *Error {
	return &Error{Kind: KindResourceExhausted, Message: msg}
}
func Unavailable(msg string) *Error { return &Error{Kind: KindUnavailable, Message: msg} }

// Invalid reports a request field that breaks a rule the schema cannot express (for example a
// time zone that is not in the IANA database).
func Invalid(field, msg string) *Error {
	return &Error{Kind: KindInvalid, Field: field, Message: msg}
}

// Invalidf is Invalid with a formatted message.
func Invalidf(field, format string, args ...any) *Error {
	return Invalid(field, fmt.Sprintf(format, args...))
}
