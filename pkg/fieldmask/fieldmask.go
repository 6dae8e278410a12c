// Package fieldmask checks the update masks of AIP-134 style Update methods, once for every
// service: which fields a request may change, named as the caller wrote them.
package fieldmask

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// Paths checks mask against the fields that may change and returns them in snake_case; "*"
// means all of allowed. field names the mask in errors ("update_mask").
func Paths(mask *fieldmaskpb.FieldMask, field string, allowed ...string) ([]string, error) {
	paths := mask.GetPaths()
	if len(paths) == 1 && paths[0] == "*" {
		return slices.Clone(allowed), nil
	}
	if len(paths) == 0 {
		return nil, apperr.Invalid(field, "names no field to change")
	}
	paths = slices.Clone(paths)
	for i, p := range paths {
		// REST callers name fields as they see them in JSON (lowerCamelCase).
		p = SnakeCase(p)
		paths[i] = p
		if !slices.Contains(allowed, p) {
			return nil, apperr.Invalidf(field, "%q cannot be changed here (allowed: %v)", p, allowed)
		}
	}
	return paths, nil
}

// SnakeCase turns a JSON field name (lowerCamelCase) into its proto name.
func SnakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// CamelCase turns a proto field name into the name a REST client sees (lowerCamelCase, as
// protojson writes it): the inverse of SnakeCase.
func CamelCase(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		switch {
		case r == '_':
			up = b.Len() > 0
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
