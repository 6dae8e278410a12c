package domain_test

import (
	"slices"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestPlanSyncUpdate(t *testing.T) {
	t.Parallel()
	const (
		typeID   = "0b8a3c2e-7f6d-4e5c-9b1a-2c3d4e5f6a7b"
		statusID = "1c9b4d3f-8a7e-4f6d-8c2b-3d4e5f6a7b8c"
	)
	cur := domain.Organization{ID: "o", Name: "Contoso", TypeID: typeID, State: domain.StateActive,
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	inactive := cur
	inactive.State = domain.StateInactive
	str := func(s string) *string { return &s }
	yes, no := new(bool), new(bool)
	*yes = true

	for _, tc := range []struct {
		name       string
		cur        domain.Organization
		u          domain.SyncUpdate
		paths      []string
		deactivate bool
		reactivate bool
		want       domain.Organization // checked when paths are set
		field      string              // refused on this field
	}{
		{name: "nothing asked", cur: cur, u: domain.SyncUpdate{}},
		{name: "what it already has", cur: cur, u: domain.SyncUpdate{Name: str("Contoso"), TypeID: str(typeID), StatusID: str(""), Active: yes}},
		{name: "the same type in upper case", cur: cur, u: domain.SyncUpdate{TypeID: str("0B8A3C2E-7F6D-4E5C-9B1A-2C3D4E5F6A7B")}},
		{name: "a rename", cur: cur, u: domain.SyncUpdate{Name: str("Contoso Ltd"), TypeID: str(typeID)}, paths: []string{"name"},
			want: domain.Organization{ID: "o", Name: "Contoso Ltd", TypeID: typeID}},
		{name: "type cleared, status set", cur: cur, u: domain.SyncUpdate{TypeID: str(""), StatusID: str(statusID)},
			paths: []string{"type_id", "status_id"}, want: domain.Organization{ID: "o", Name: "Contoso", StatusID: statusID}},
		{name: "deactivation", cur: cur, u: domain.SyncUpdate{Active: no}, deactivate: true},
		{name: "already inactive", cur: inactive, u: domain.SyncUpdate{Active: no}},
		{name: "reactivation", cur: inactive, u: domain.SyncUpdate{Active: yes}, reactivate: true},
		{name: "rename and deactivation", cur: cur, u: domain.SyncUpdate{Name: str("Contoso Ltd"), Active: no}, paths: []string{"name"},
			deactivate: true, want: domain.Organization{ID: "o", Name: "Contoso Ltd", TypeID: typeID}},
		{name: "empty name", cur: cur, u: domain.SyncUpdate{Name: str("")}, field: "name"},
		{name: "type not an id", cur: cur, u: domain.SyncUpdate{TypeID: str("Managed")}, field: "type_id"},
		{name: "status not an id", cur: cur, u: domain.SyncUpdate{StatusID: str("42")}, field: "status_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := domain.PlanSyncUpdate(tc.cur, tc.u)
			if tc.field != "" {
				if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.KindInvalid || ae.Field != tc.field {
					t.Fatalf("got %v, want invalid %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Paths, tc.paths) || p.Deactivate != tc.deactivate || p.Reactivate != tc.reactivate {
				t.Fatalf("plan changes %v, deactivate %v, reactivate %v; want %v, %v, %v", p.Paths, p.Deactivate, p.Reactivate,
					tc.paths, tc.deactivate, tc.reactivate)
			}
			if p.Empty() != (len(tc.paths) == 0 && !tc.deactivate && !tc.reactivate) {
				t.Fatalf("Empty() = %v for %+v", p.Empty(), p)
			}
			if len(tc.paths) > 0 && (p.Org.ID != tc.want.ID || p.Org.Name != tc.want.Name || p.Org.TypeID != tc.want.TypeID ||
				p.Org.StatusID != tc.want.StatusID) {
				t.Fatalf("planned organization %+v, want %+v", p.Org, tc.want)
			}
		})
	}
}
