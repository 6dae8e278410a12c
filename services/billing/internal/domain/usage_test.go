package domain_test

import (
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
)

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		u         domain.Usage
		remaining int32
		canAdd    bool
	}{
		{"room left", domain.Usage{OrgLimit: domain.OrgLimit{Limit: 10, Writable: true}, Used: 4}, 6, true},
		{"full", domain.Usage{OrgLimit: domain.OrgLimit{Limit: 10, Writable: true}, Used: 10}, 0, false},
		{"above the limit never goes negative", domain.Usage{OrgLimit: domain.OrgLimit{Limit: 10, Writable: true}, Used: 12}, 0, false},
		{"unlimited", domain.Usage{OrgLimit: domain.OrgLimit{Unlimited: true, Writable: true}, Used: 500}, 0, true},
		{"read-only with room", domain.Usage{OrgLimit: domain.OrgLimit{Limit: 10}, Used: 1}, 9, false},
		{"read-only unlimited", domain.Usage{OrgLimit: domain.OrgLimit{Unlimited: true}}, 0, false},
	} {
		if r, a := c.u.Remaining(), c.u.CanAddOrganizations(); r != c.remaining || a != c.canAdd {
			t.Errorf("%s: remaining %d, can add %v; want %d, %v", c.name, r, a, c.remaining, c.canAdd)
		}
	}
}

func TestParseDateRange(t *testing.T) {
	t.Parallel()
	r, err := domain.ParseDateRange("2026-01-14", "2026-01-18")
	if err != nil || r.From.Format("2006-01-02") != "2026-01-14" || r.To.Format("2006-01-02") != "2026-01-18" {
		t.Fatalf("range = %+v, %v", r, err)
	}
	if _, err := domain.ParseDateRange("2025-01-01", "2026-01-02"); err != nil {
		t.Fatalf("366 days: %v", err)
	}
	for _, c := range []struct{ start, end, want string }{
		{"2026-02-30", "2026-03-01", "start_date: is not a calendar date"},
		{"2026-02-01", "2026-13-01", "end_date: is not a calendar date"},
		{"2026-02-01", "2026-01-01", "end_date: is before start_date"},
		{"2025-01-01", "2026-01-03", "end_date: is more than 366 days after start_date"},
	} {
		_, err := domain.ParseDateRange(c.start, c.end)
		if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.KindInvalid || ae.Error() != c.want {
			t.Errorf("%s..%s: %v, want %q", c.start, c.end, err, c.want)
		}
	}
}
