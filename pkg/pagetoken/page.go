package pagetoken

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
)

// Page sizes every list method shares (AIP-158): 0 asks for the default, larger asks are capped.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// ErrBadToken is what a list call gets for a token it did not issue to this caller for this list
// and query: forged, altered, another account's, another caller's or visibility's, another
// query's, or sealed with a key no longer in the keyring. One answer for all, so a refusal says
// nothing about whose token it was.
var ErrBadToken = apperr.Invalid("page_token", "is not a token from a previous page of this list")

// ErrExpiredToken is what a list call gets for a token of its own that is older than TTL. Only
// the caller it was issued to can learn that it expired.
var ErrExpiredToken = apperr.Invalid("page_token", "has expired: list again from the first page")

// Page is one list call's paging: how many items, and the position to continue after.
type Page[C any] struct {
	// Size is how many items the page holds at most.
	Size int
	// After is the position of the last item of the previous page, when Continues.
	After     C
	Continues bool

	sealer  *Sealer
	binding []byte
}

// Open starts a page of the list named list: size as requested (0 means the default), token as
// received. The token is bound to the caller in ctx (its account, principal and visibility,
// taken here so that no call site can leave them out) and to query: every value that selects or
// orders the list's items, the listed account first (an operator's identity names no account).
// Page size is not bound: a position means the same at any size (AIP-158 lets it change).
// Anything but a live token this caller got from this list for this query is ErrBadToken (or
// ErrExpiredToken), before anything is read.
func Open[C any](ctx context.Context, s *Sealer, list string, size int32, token string, query ...string) (Page[C], error) {
	b, err := binding(ctx, list, query)
	if err != nil {
		return Page[C]{}, err
	}
	p := Page[C]{Size: DefaultPageSize, sealer: s, binding: b}
	if size > 0 {
		p.Size = min(int(size), MaxPageSize)
	}
	if token == "" {
		return p, nil
	}
	after, err := open[C](s, b, token)
	switch {
	case errors.Is(err, errExpired):
		return p, ErrExpiredToken
	case err != nil:
		return p, ErrBadToken
	}
	p.After, p.Continues = after, true
	return p, nil
}

// Next trims items read with a limit of Size+1 to the page and returns the token of the page
// after it ("" on the last page), bound as the page was; position gives an item's place in the
// list's order.
func Next[C, T any](p Page[C], items []T, position func(T) C) ([]T, string, error) {
	if len(items) <= p.Size {
		return items, "", nil
	}
	items = items[:p.Size]
	tok, err := seal(p.sealer, p.binding, position(items[p.Size-1]))
	if err != nil {
		return nil, "", err
	}
	return items, tok, nil
}

// binding encodes what a token is bound to, each value length-prefixed so that no two different
// bindings encode alike.
func binding(ctx context.Context, list string, query []string) ([]byte, error) {
	id, ok := identity.From(ctx)
	if !ok {
		return nil, identity.ErrUnauthenticated
	}
	restricted, groups := id.Visibility()
	slices.Sort(groups)
	groups = slices.Compact(groups)
	var b []byte
	add := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	add(list)
	add(string(id.Kind))
	add(id.PrincipalID)
	add(id.AccountID)
	add(strconv.FormatBool(restricted))
	b = binary.AppendUvarint(b, uint64(len(groups)))
	for _, g := range groups {
		add(g)
	}
	b = binary.AppendUvarint(b, uint64(len(query)))
	for _, q := range query {
		add(q)
	}
	return b, nil
}
