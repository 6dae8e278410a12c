package domain_test

import (
	"errors"
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestApplyLimit(t *testing.T) {
	t.Parallel()
	usage := func(limit, used int32, gen int64) domain.LicenseUsage {
		return domain.LicenseUsage{LicenseLimit: domain.LicenseLimit{Limit: limit, Writable: true, Generation: gen}, Used: used}
	}
	limit := func(l int32, gen int64) domain.LicenseLimit {
		return domain.LicenseLimit{Limit: l, Writable: true, Generation: gen}
	}
	for _, c := range []struct {
		name        string
		current     domain.LicenseUsage
		want        domain.LicenseLimit
		next        domain.LicenseUsage
		changed     bool
		belowUseErr bool
	}{
		{"a later generation applies", usage(10, 3, 4), limit(12, 5), usage(12, 3, 5), true, false},
		{"a gap in generations applies", usage(10, 3, 4), limit(12, 9), usage(12, 3, 9), true, false},
		{"the same generation again changes nothing", usage(12, 3, 5), limit(12, 5), usage(12, 3, 5), false, false},
		{"an older generation changes nothing", usage(12, 3, 5), limit(2, 4), usage(12, 3, 5), false, false},
		{"an older generation is not refused even below use", usage(12, 3, 5), limit(1, 3), usage(12, 3, 5), false, false},
		{"generation 0 applies unconditionally and keeps the sequence", usage(12, 3, 5), limit(7, 0), usage(7, 3, 5), true, false},
		{"the limit may equal use", usage(10, 3, 1), limit(3, 2), usage(3, 3, 2), true, false},
		{"below use is refused", usage(10, 3, 1), limit(2, 2), usage(10, 3, 1), false, true},
		{"below use is refused at generation 0 too", usage(10, 3, 1), limit(2, 0), usage(10, 3, 1), false, true},
		{"unlimited ignores the number", usage(10, 3, 1),
			domain.LicenseLimit{Unlimited: true, Limit: 1, Writable: true, Generation: 2},
			domain.LicenseUsage{LicenseLimit: domain.LicenseLimit{Unlimited: true, Writable: true, Generation: 2}, Used: 3}, true, false},
		{"read-only keeps the numbers", usage(10, 3, 1),
			domain.LicenseLimit{Limit: 10, Writable: false, Generation: 2},
			domain.LicenseUsage{LicenseLimit: domain.LicenseLimit{Limit: 10, Writable: false, Generation: 2}, Used: 3}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			next, changed, err := domain.ApplyLimit(c.current, c.want)
			if c.belowUseErr {
				ae, ok := apperr.As(err)
				if !ok || ae.Kind != apperr.KindFailedPrecondition || ae.Reason != "LIMIT_BELOW_USE" ||
					ae.Message != "3 organizations are active; the limit cannot go below that (deactivate some first)" {
					t.Fatalf("err = %v, want LIMIT_BELOW_USE", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if next != c.next || changed != c.changed {
				t.Fatalf("ApplyLimit = %+v changed=%v, want %+v changed=%v", next, changed, c.next, c.changed)
			}
		})
	}
}

func TestLimitBelowUseIsAFailedPrecondition(t *testing.T) {
	t.Parallel()
	err := domain.LimitBelowUse(7)
	if apperr.KindOf(err) != apperr.KindFailedPrecondition || errors.Unwrap(err) != nil {
		t.Fatalf("LimitBelowUse = %#v", err)
	}
}
