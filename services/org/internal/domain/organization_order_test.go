package domain_test

import (
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestParseOrganizationOrder(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in      string
		want    domain.OrganizationOrder
		spelled string
	}{
		{"", domain.OrganizationOrder{By: domain.OrderByName}, "name"},
		{"name", domain.OrganizationOrder{By: domain.OrderByName}, "name"},
		{"name desc", domain.OrganizationOrder{By: domain.OrderByName, Desc: true}, "name desc"},
		{"create_time", domain.OrganizationOrder{By: domain.OrderByCreateTime}, "create_time"},
		{"create_time desc", domain.OrganizationOrder{By: domain.OrderByCreateTime, Desc: true}, "create_time desc"},
		{"update_time", domain.OrganizationOrder{By: domain.OrderByUpdateTime}, "update_time"},
		{"update_time desc", domain.OrganizationOrder{By: domain.OrderByUpdateTime, Desc: true}, "update_time desc"},
	} {
		got, err := domain.ParseOrganizationOrder(c.in)
		if err != nil || got != c.want || got.String() != c.spelled {
			t.Errorf("%q: %+v %q %v, want %+v %q", c.in, got, got.String(), err, c.want, c.spelled)
		}
	}
	for _, in := range []string{"desc", "name asc", "name  desc", "Name", "name DESC", "id", "create_time desc extra",
		" name", "name ", "name,create_time", "notes"} {
		_, err := domain.ParseOrganizationOrder(in)
		if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.KindInvalid || ae.Field != "order_by" {
			t.Errorf("%q: %v, want invalid order_by", in, err)
		}
	}
}
