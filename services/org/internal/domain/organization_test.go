package domain_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// wantErr checks err against an expected kind, field and message ("" kind: no error).
func wantErr(t *testing.T, err error, kind apperr.Kind, field, msg string) {
	t.Helper()
	if kind == apperr.KindInternal && field == "" && msg == "" {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	ae, ok := apperr.As(err)
	if !ok {
		t.Fatalf("got %v, want a %v error on %q: %q", err, kind, field, msg)
	}
	if ae.Kind != kind || ae.Field != field || ae.Message != msg {
		t.Fatalf("got %v %q %q, want %v %q %q", ae.Kind, ae.Field, ae.Message, kind, field, msg)
	}
}

func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		field, name string
		wantField   string
	}{
		{"organization", "Contoso", ""},
		{"organization", "", "organization.name"},
		{"organizations[3]", "", "organizations[3].name"},
		{"group", "", "group.name"},
	} {
		err := domain.CheckName(tc.field, tc.name)
		if tc.wantField == "" {
			wantErr(t, err, apperr.KindInternal, "", "")
			continue
		}
		wantErr(t, err, apperr.KindInvalid, tc.wantField, "is required")
	}
}

func TestCheckParent(t *testing.T) {
	t.Parallel()
	const field = "organization.parent_id"
	for _, tc := range []struct {
		name            string
		orgID, parentID string
		parent          domain.Ancestry
		height          int
		msg             string // "" means accepted
	}{
		{name: "no parent", orgID: "a", parentID: ""},
		{name: "new under a top-level one", orgID: "", parentID: "p", parent: domain.Ancestry{Visible: true, Depth: 1}, height: 1},
		{name: "own parent", orgID: "a", parentID: "a", parent: domain.Ancestry{Visible: true, Depth: 1, IncludesOrg: true}, height: 1,
			msg: "an organization cannot be its own parent"},
		{name: "invisible or missing", orgID: "a", parentID: "p", parent: domain.Ancestry{}, height: 1,
			msg: "is not an organization of this account"},
		{name: "cycle", orgID: "a", parentID: "p", parent: domain.Ancestry{Visible: true, Depth: 3, IncludesOrg: true}, height: 2,
			msg: "would create a cycle: the new parent of the organization is one of its own sub-organizations"},
		{name: "at the depth limit", orgID: "a", parentID: "p", parent: domain.Ancestry{Visible: true, Depth: 4}, height: 1},
		{name: "leaf one too deep", orgID: "", parentID: "p", parent: domain.Ancestry{Visible: true, Depth: 5}, height: 1,
			msg: "would nest organizations 6 levels deep; the limit is 5"},
		{name: "subtree too deep", orgID: "a", parentID: "p", parent: domain.Ancestry{Visible: true, Depth: 2}, height: 4,
			msg: "would nest organizations 6 levels deep; the limit is 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := domain.CheckParent("organization", tc.orgID, tc.parentID, tc.parent, tc.height)
			if tc.msg == "" {
				wantErr(t, err, apperr.KindInternal, "", "")
				return
			}
			if tc.name == "cycle" {
				wantErr(t, err, apperr.KindConflict, "", tc.msg)
				return
			}
			wantErr(t, err, apperr.KindInvalid, field, tc.msg)
		})
	}
}

func TestDeactivateOnlyActive(t *testing.T) {
	t.Parallel()
	wantErr(t, domain.Organization{State: domain.StateActive}.CheckDeactivate(), apperr.KindInternal, "", "")
	wantErr(t, domain.Organization{State: domain.StateInactive}.CheckDeactivate(), apperr.KindFailedPrecondition, "",
		"the organization is already deactivated")
}

func TestReactivationWaitsTwelveMonths(t *testing.T) {
	t.Parallel()
	// Deactivated late in the evening in Chicago: already the next day in UTC, as dates are shown.
	chicago := time.FixedZone("CST", -6*3600)
	deactivated := time.Date(2025, 3, 14, 21, 30, 0, 0, chicago) // 2025-03-15 03:30 UTC
	inactive := domain.Organization{State: domain.StateInactive, DeactivatedAt: deactivated}
	const cooldownMsg = "the organization was deactivated on 2025-03-15 and can be reactivated from 2026-03-15 (12 months later)"
	for _, tc := range []struct {
		name     string
		org      domain.Organization
		now      time.Time
		override bool
		kind     apperr.Kind
		msg      string
	}{
		{name: "already active", org: domain.Organization{State: domain.StateActive}, now: deactivated,
			kind: apperr.KindFailedPrecondition, msg: "the organization is already active"},
		{name: "a day later", org: inactive, now: deactivated.AddDate(0, 0, 1), kind: apperr.KindFailedPrecondition, msg: cooldownMsg},
		{name: "a second short of 12 months", org: inactive, now: deactivated.AddDate(0, 12, 0).Add(-time.Second),
			kind: apperr.KindFailedPrecondition, msg: cooldownMsg},
		{name: "12 months later", org: inactive, now: deactivated.AddDate(0, 12, 0)},
		{name: "overridden", org: inactive, now: deactivated.AddDate(0, 0, 1), override: true},
		{name: "never deactivated, inactive", org: domain.Organization{State: domain.StateInactive}, now: deactivated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.org.CheckReactivate(tc.now, tc.override)
			wantErr(t, err, tc.kind, "", tc.msg)
			if tc.msg == cooldownMsg {
				if ae, _ := apperr.As(err); ae.Reason != "REACTIVATION_COOLDOWN" {
					t.Errorf("reason %q, want REACTIVATION_COOLDOWN", ae.Reason)
				}
			}
		})
	}
}

func TestOnlyOperatorsOverrideTheCooldown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		override, operator, refused bool
	}{{false, false, false}, {false, true, false}, {true, true, false}, {true, false, true}} {
		err := domain.CheckCooldownOverride(tc.override, tc.operator)
		if tc.refused {
			wantErr(t, err, apperr.KindPermissionDenied, "", "only a platform operator may override the 12-month reactivation rule")
		} else {
			wantErr(t, err, apperr.KindInternal, "", "")
		}
	}
}

func TestDeleteIsRefusedWhileAnythingSyncs(t *testing.T) {
	t.Parallel()
	root := domain.SubtreeMember{ID: "root", Name: "Contoso", Active: true}
	child := domain.SubtreeMember{ID: "child", Name: "Contoso Labs", ParentID: "root"}
	syncedBy := func(m domain.SubtreeMember, integrations ...string) domain.SubtreeMember {
		m.SyncedBy = integrations
		return m
	}
	const (
		itself = "the organization cannot be deleted while it is kept in sync with an external tool; disable sync first"
		sub    = `the organization cannot be deleted while its sub-organization "Contoso Labs" is kept in sync with an external tool; disable sync first`
	)
	for _, tc := range []struct {
		name    string
		subtree []domain.SubtreeMember
		by      string // the integration deleting; "" for a member
		msg     string
	}{
		{name: "nothing syncs", subtree: []domain.SubtreeMember{child, root}},
		{name: "the organization syncs", subtree: []domain.SubtreeMember{child, syncedBy(root, "cw")}, msg: itself},
		{name: "a sub-organization syncs", subtree: []domain.SubtreeMember{syncedBy(child, "cw"), syncedBy(root, "cw")}, msg: sub},
		{name: "its own integration deletes it", subtree: []domain.SubtreeMember{syncedBy(child, "cw"), syncedBy(root, "cw")}, by: "cw"},
		{name: "another integration syncs it too", subtree: []domain.SubtreeMember{child, syncedBy(root, "cw", "at")}, by: "cw", msg: itself},
		{name: "another integration syncs a sub-organization", subtree: []domain.SubtreeMember{syncedBy(child, "at"), syncedBy(root, "cw")},
			by: "cw", msg: sub},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := domain.CheckDelete("root", tc.subtree, tc.by)
			if tc.msg == "" {
				wantErr(t, err, apperr.KindInternal, "", "")
				return
			}
			// 409: the organization's state, not the request, is in the way.
			wantErr(t, err, apperr.KindConflict, "", tc.msg)
			if ae, _ := apperr.As(err); ae.Reason != "SYNC_ENABLED" {
				t.Errorf("reason %q, want SYNC_ENABLED", ae.Reason)
			}
		})
	}
	if n := domain.ActiveCount([]domain.SubtreeMember{child, root, {Active: true}}); n != 2 {
		t.Errorf("ActiveCount = %d, want 2", n)
	}
}

func TestCheckBulk(t *testing.T) {
	t.Parallel()
	ok := domain.Organization{Name: "Contoso"}
	for _, tc := range []struct {
		name        string
		orgs        []domain.Organization
		field, msg  string
		wantRefused bool
	}{
		{name: "distinct names", orgs: []domain.Organization{ok, {Name: "Fabrikam"}, {Name: "contoso"}}},
		{name: "missing name", orgs: []domain.Organization{ok, {}}, wantRefused: true,
			field: "organizations[1].name", msg: "is required"},
		{name: "repeated name", orgs: []domain.Organization{ok, {Name: "Fabrikam"}, ok}, wantRefused: true,
			field: "organizations[2].name", msg: "repeats organizations[0].name"},
		{name: "parent", orgs: []domain.Organization{{Name: "A", ParentID: "p"}}, wantRefused: true,
			field: "organizations[0].parent_id", msg: "cannot be set in a bulk create; update the organization afterwards"},
		{name: "groups", orgs: []domain.Organization{ok, {Name: "B", GroupIDs: []string{"g"}}}, wantRefused: true,
			field: "organizations[1].group_ids", msg: "cannot be set in a bulk create; update the organization afterwards"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := domain.CheckBulk(tc.orgs)
			if !tc.wantRefused {
				wantErr(t, err, apperr.KindInternal, "", "")
				return
			}
			wantErr(t, err, apperr.KindInvalid, tc.field, tc.msg)
		})
	}
}

func TestFilterKeysDifferWhenFiltersDo(t *testing.T) {
	t.Parallel()
	base := domain.OrganizationFilter{Query: "con"}
	variants := []domain.OrganizationFilter{
		{}, {Query: "co"}, {Query: "con", State: domain.StateActive}, {Query: "con", GroupID: "g"},
		{Query: "con", TypeID: "t"}, {Query: "con", StatusID: "s"}, {Query: "con", EngineerID: "e"},
		{Query: "con", VCIOID: "v"}, {Query: "con", ParentID: "p"},
	}
	for _, v := range variants {
		if v.Key() == base.Key() {
			t.Errorf("%+v has the key of %+v", v, base)
		}
	}
	if base.Key() != (domain.OrganizationFilter{Query: "con"}).Key() {
		t.Error("equal filters have different keys")
	}
	for _, tc := range []struct {
		f    domain.OrganizationFilter
		want bool
	}{
		{domain.OrganizationFilter{}, true},
		{domain.OrganizationFilter{State: domain.StateInactive}, true},
		{domain.OrganizationFilter{Query: "a"}, false},
		{domain.OrganizationFilter{ParentID: "p"}, false},
	} {
		if got := tc.f.OnlyState(); got != tc.want {
			t.Errorf("%+v OnlyState = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func TestSortedGroups(t *testing.T) {
	t.Parallel()
	in := []string{"b", "a", "c"}
	got := domain.SortedGroups(in)
	if !slices.Equal(got, []string{"a", "b", "c"}) || !slices.Equal(in, []string{"b", "a", "c"}) {
		t.Errorf("SortedGroups(%v) = %v (input changed?)", in, got)
	}
	if got := domain.SortedGroups(nil); got == nil || len(got) != 0 {
		t.Errorf("SortedGroups(nil) = %#v, want empty, not nil", got)
	}
}

func TestBulkCreateNamesTheItemThatCollides(t *testing.T) {
	t.Parallel()
	in := []domain.Organization{{Name: "Acme"}, {Name: "Globex"}, {Name: "Initech"}}
	if err := domain.CheckBulkNamesFree(in, nil); err != nil {
		t.Fatalf("no name taken: %v", err)
	}
	err := domain.CheckBulkNamesFree(in, []string{"Initech"})
	if err == nil || !strings.Contains(err.Error(), "organizations[2].name") || apperr.KindOf(err) != apperr.KindConflict {
		t.Fatalf("a taken name: %v, want a conflict naming organizations[2].name", err)
	}
}
