package domain_test

import (
	"slices"
	"testing"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

func ptr(s string) *string { return &s }

func TestNewReviewDefaultsFromTheOrganization(t *testing.T) {
	t.Parallel()
	org := domain.Organization{ID: "org", DefaultEngineerID: "eng", DefaultVCIOID: "vcio"}
	for _, tc := range []struct {
		name string
		in   domain.Review
		want domain.Review
		err  bool
	}{
		{name: "all defaults", in: domain.Review{Title: "Q1"},
			want: domain.Review{OrganizationID: "org", Title: "Q1", EngineerID: "eng", VCIOID: "vcio", Status: domain.ReviewStatusNotStarted}},
		{name: "own assignees and status", in: domain.Review{Title: "Q1", EngineerID: "e2", VCIOID: "v2", Status: domain.ReviewStatusInProgress,
			EngineerDueDate: "2026-04-15"},
			want: domain.Review{OrganizationID: "org", Title: "Q1", EngineerID: "e2", VCIOID: "v2", Status: domain.ReviewStatusInProgress,
				EngineerDueDate: "2026-04-15"}},
		{name: "leap day", in: domain.Review{VCIODueDate: "2028-02-29"},
			want: domain.Review{OrganizationID: "org", EngineerID: "eng", VCIOID: "vcio", VCIODueDate: "2028-02-29", Status: domain.ReviewStatusNotStarted}},
		{name: "no such day", in: domain.Review{EngineerDueDate: "2026-02-30"}, err: true},
		{name: "not a leap year", in: domain.Review{VCIODueDate: "2027-02-29"}, err: true},
		{name: "year zero", in: domain.Review{VCIODueDate: "0000-01-01"}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.NewReview(tc.in, org)
			if tc.err {
				wantErr(t, err, apperr.KindInvalid, "due_date", "is not a calendar date")
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
	// An organization without defaults leaves the review unassigned.
	if got, _ := domain.NewReview(domain.Review{}, domain.Organization{ID: "o"}); got.EngineerID != "" || got.VCIOID != "" {
		t.Errorf("assignees %q %q, want none", got.EngineerID, got.VCIOID)
	}
}

func TestReassignment(t *testing.T) {
	t.Parallel()
	cur := domain.Review{ID: "r", EngineerID: "e1", EngineerDueDate: "2026-01-10", VCIOID: "v1", VCIODueDate: "2026-01-20"}
	for _, tc := range []struct {
		name        string
		a           domain.Reassignment
		want        domain.Review
		changes     []domain.OwnerChange
		field, msg  string
		wantRefused bool
	}{
		{name: "nothing to change", a: domain.Reassignment{}, wantRefused: true,
			field: "engineer_id", msg: "nothing to change: give engineer_id, vcio_id or a due date"},
		{name: "new engineer", a: domain.Reassignment{EngineerID: ptr("e2")},
			want:    domain.Review{ID: "r", EngineerID: "e2", EngineerDueDate: "2026-01-10", VCIOID: "v1", VCIODueDate: "2026-01-20"},
			changes: []domain.OwnerChange{{domain.ReviewRoleEngineer, "e1", "e2", "2026-01-10"}}},
		{name: "both, with a new due date", a: domain.Reassignment{EngineerID: ptr("e2"), VCIOID: ptr("v2"), VCIODueDate: ptr("2026-04-15")},
			want: domain.Review{ID: "r", EngineerID: "e2", EngineerDueDate: "2026-01-10", VCIOID: "v2", VCIODueDate: "2026-04-15"},
			changes: []domain.OwnerChange{{domain.ReviewRoleEngineer, "e1", "e2", "2026-01-10"},
				{domain.ReviewRoleVCIO, "v1", "v2", "2026-04-15"}}},
		{name: "unassign the vCIO", a: domain.Reassignment{VCIOID: ptr("")},
			want:    domain.Review{ID: "r", EngineerID: "e1", EngineerDueDate: "2026-01-10", VCIODueDate: "2026-01-20"},
			changes: []domain.OwnerChange{{domain.ReviewRoleVCIO, "v1", "", "2026-01-20"}}},
		{name: "only a due date moves", a: domain.Reassignment{EngineerDueDate: ptr("2026-02-01")},
			want: domain.Review{ID: "r", EngineerID: "e1", EngineerDueDate: "2026-02-01", VCIOID: "v1", VCIODueDate: "2026-01-20"}},
		{name: "same engineer again", a: domain.Reassignment{EngineerID: ptr("e1")}, want: cur},
		{name: "clear a due date", a: domain.Reassignment{EngineerDueDate: ptr("")},
			want: domain.Review{ID: "r", EngineerID: "e1", VCIOID: "v1", VCIODueDate: "2026-01-20"}},
		{name: "bad due date", a: domain.Reassignment{VCIODueDate: ptr("2026-13-01")}, wantRefused: true,
			field: "due_date", msg: "is not a calendar date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := cur.Apply(tc.a)
			if tc.wantRefused {
				wantErr(t, err, apperr.KindInvalid, tc.field, tc.msg)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
			if changes := domain.OwnerChanges(cur, got); !slices.Equal(changes, tc.changes) {
				t.Errorf("owner changes %+v, want %+v", changes, tc.changes)
			}
		})
	}
}

func TestOnlyActiveUsersAreAssigned(t *testing.T) {
	t.Parallel()
	inactive := map[string]bool{"gone": true}
	const msg = "is an inactive user; reactivate the user or assign an active one"
	wantErr(t, domain.CheckAssigneesActive("review.", "gone", "", inactive), apperr.KindInvalid, "review.engineer_id", msg)
	wantErr(t, domain.CheckAssigneesActive("", "here", "gone", inactive), apperr.KindInvalid, "vcio_id", msg)
	wantErr(t, domain.CheckAssigneesActive("", "here", "", inactive), apperr.KindInternal, "", "")
}

func TestAssigneeMeIsTheSignedInPerson(t *testing.T) {
	t.Parallel()
	const user = "0b0e1d5c-0000-4000-8000-000000000001"
	person := identity.Identity{Kind: identity.KindUser, PrincipalID: user, UserID: user, AccountID: "acct"}
	key := identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key", UserID: user, AccountID: "acct"}
	operator := identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"}
	for _, c := range []struct {
		filter string
		caller identity.Identity
		want   string
		err    bool
	}{
		{"", person, "", false},
		{"", key, "", false},
		{user, key, user, false},
		{user, operator, user, false},
		{"me", person, user, false},
		{"me", key, "", true},
		{"me", operator, "", true},
		{"me", identity.Service("gateway"), "", true},
	} {
		got, err := domain.ResolveAssignee(c.filter, c.caller)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%q for %s: %q, %v; want %q (error %v)", c.filter, c.caller.Kind, got, err, c.want, c.err)
		}
		if ae, ok := apperr.As(err); c.err && (!ok || ae.Kind != apperr.KindInvalid || ae.Field != "assignee_id") {
			t.Errorf("%q for %s: %v, want InvalidArgument naming assignee_id", c.filter, c.caller.Kind, err)
		}
	}
}
