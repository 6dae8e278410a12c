package domain_test

import (
	"testing"

	"github.com/orgplane/orgplane/services/mapping/internal/domain"
)

func TestPlanItemFollowsTheImportRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		exists         bool
		linked, itself string
		want           domain.Outcome
	}{
		{"no organization of that name: create", false, "", "7", domain.OutcomeCreated},
		{"an unmapped one: link", true, "", "7", domain.OutcomeLinked},
		{"linked to another IT Glue organization: relink", true, "3", "7", domain.OutcomeRelinked},
		{"linked to this very one meanwhile: already imported", true, "7", "7", domain.OutcomeFailed},
	} {
		if got, _ := domain.PlanItem(tc.exists, tc.linked, tc.itself); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestVisibleIsOrgsGroupRule(t *testing.T) {
	t.Parallel()
	if !domain.Visible(false, nil, nil) {
		t.Error("an unrestricted caller sees an organization in no group")
	}
	if domain.Visible(true, []string{"east"}, nil) || domain.Visible(true, []string{"east"}, []string{"west"}) {
		t.Error("a restricted caller sees an organization outside its groups")
	}
	if !domain.Visible(true, []string{"east", "north"}, []string{"west", "north"}) {
		t.Error("a restricted caller misses an organization in one of its groups")
	}
}
