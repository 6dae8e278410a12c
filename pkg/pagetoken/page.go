package pagetoken

import (
	"github.com/orgplane/orgplane/pkg/apperr"
)

// Page sizes every list method shares (AIP-158): 0 asks for the default, larger asks are capped.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// ErrBadToken is what a list call gets for a token it did not issue for this list and query.
var ErrBadToken = apperr.Invalid("page_token", "is not a token from a previous page of this list")

// Page is one list call's paging: how many items, and the position to continue after.
type Page[C any] struct {
	// Size is how many items the page holds at most.
	Size int
	// After is the position of the last item of the previous page, when Continues.
	After     C
	Continues bool

	sealer *Sealer
	list   string
	bind   string
}

// Open starts a page of the list named list: size as requested (0 means the default), token as
// received. bind is what the token must have been issued for (the query's filters): a token of
// another list, another query or another key is refused with ErrBadToken.
func Open[C any](s *Sealer, list string, size int32, token, bind string) (Page[C], error) {
	p := Page[C]{Size: DefaultPageSize, sealer: s, list: list, bind: bind}
	if size > 0 {
		p.Size = min(int(size), MaxPageSize)
	}
	if token == "" {
		return p, nil
	}
	var t struct {
		After C      `json:"a"`
		Bind  string `json:"b,omitempty"`
	}
	if err := s.Open(list, token, &t); err != nil || t.Bind != bind {
		return p, ErrBadToken
	}
	p.After, p.Continues = t.After, true
	return p, nil
}

// Next trims items read with a limit of Size+1 to the page and returns the token of the page
// after it ("" on the last page); position gives an item's place in the list's order.
func Next[C, T any](p Page[C], items []T, position func(T) C) ([]T, string, error) {
	if len(items) <= p.Size {
		return items, "", nil
	}
	items = items[:p.Size]
	tok, err := p.sealer.Seal(p.list, struct {
		After C      `json:"a"`
		Bind  string `json:"b,omitempty"`
	}{position(items[p.Size-1]), p.bind})
	if err != nil {
		return nil, "", err
	}
	return items, tok, nil
}
