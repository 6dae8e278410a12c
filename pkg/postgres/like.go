package postgres

import "strings"

// EscapeLike makes s match itself inside a LIKE or ILIKE pattern (backslash is the default
// escape character): a search for "50%_off" finds that text, not everything.
func EscapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
