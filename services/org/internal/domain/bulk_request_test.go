package domain_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func TestReplayBulkCreateMatchesTheSameNamesInAnyOrder(t *testing.T) {
	t.Parallel()
	rec := domain.BulkCreateRecord{Names: []string{"Acme", "Globex", "Initech"}, OrganizationIDs: []string{"a", "g", "i"}}
	orgs := func(names ...string) []domain.Organization {
		out := make([]domain.Organization, len(names))
		for i, n := range names {
			out[i] = domain.Organization{Name: n}
		}
		return out
	}
	tests := []struct {
		name string
		in   []domain.Organization
		want []string // nil: refused as a reused request id
	}{
		{"same order", orgs("Acme", "Globex", "Initech"), []string{"a", "g", "i"}},
		{"other order", orgs("Initech", "Acme", "Globex"), []string{"i", "a", "g"}},
		{"a name replaced", orgs("Acme", "Globex", "Umbrella"), nil},
		{"a name fewer", orgs("Acme", "Globex"), nil},
		{"a name more", orgs("Acme", "Globex", "Initech", "Umbrella"), nil},
		{"a name twice instead of another", orgs("Acme", "Acme", "Globex"), nil},
		{"case differs", orgs("acme", "Globex", "Initech"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.ReplayBulkCreate(rec, tt.in)
			if tt.want == nil {
				if !errors.Is(err, domain.ErrRequestIDReused) || got != nil {
					t.Fatalf("got %v, %v; want ErrRequestIDReused", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
