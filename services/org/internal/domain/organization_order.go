package domain

import (
	"strings"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// OrderKey is what an organization list is ordered by.
type OrderKey int

// The keys a list may be ordered by. Ties are broken by id in every order.
const (
	// OrderByName orders by name regardless of case (lower-cased, then byte order), so that
	// "acme" sits next to "Acme Dental" as in the Setup Organizations grid.
	OrderByName OrderKey = iota
	OrderByCreateTime
	OrderByUpdateTime
)

var orderKeyNames = map[OrderKey]string{OrderByName: "name", OrderByCreateTime: "create_time", OrderByUpdateTime: "update_time"}

// OrganizationOrder is the order of an organization list. Desc reverses the whole order, the
// id that breaks ties included, so that a list and its reverse are mirror images.
type OrganizationOrder struct {
	By   OrderKey
	Desc bool
}

// ParseOrganizationOrder reads a list request's order_by (AIP-132): "name" (also the meaning of
// ""), "create_time" or "update_time", optionally followed by " desc".
func ParseOrganizationOrder(s string) (OrganizationOrder, error) {
	if s == "" {
		return OrganizationOrder{}, nil
	}
	field, dir, spaced := strings.Cut(s, " ")
	var o OrganizationOrder
	switch {
	case !spaced:
	case dir == "desc":
		o.Desc = true
	default:
		return OrganizationOrder{}, errBadOrder
	}
	for k, name := range orderKeyNames {
		if name == field {
			o.By = k
			return o, nil
		}
	}
	return OrganizationOrder{}, errBadOrder
}

var errBadOrder = apperr.Invalid("order_by", `must be "name", "create_time" or "update_time", optionally followed by " desc"`)

// String is the order as order_by spells it, one spelling per order ("" reads as "name"), so
// that a page token bound to it continues the same order however the request spelled it.
func (o OrganizationOrder) String() string {
	s := orderKeyNames[o.By]
	if o.Desc {
		s += " desc"
	}
	return s
}
