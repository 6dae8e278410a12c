package domain_test

import (
	"slices"
	"testing"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
)

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestPlanSync(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	mappings := domain.ValueMappings{
		Types:    []domain.ValueMapping{{OrganizationValueID: "org-customer", PSAValueID: "1"}, {OrganizationValueID: "org-vendor", PSAValueID: "2"}},
		Statuses: []domain.ValueMapping{{OrganizationValueID: "org-active", PSAValueID: "10"}},
	}
	org := func(name string, at time.Time) domain.Organization {
		return domain.Organization{ID: "o", Name: name, TypeID: "org-customer", StatusID: "org-active", Active: true, Changed: at}
	}
	psa := func(name string, at time.Time) domain.ExternalOrganization {
		return domain.ExternalOrganization{ExternalID: "7", Name: name, TypeID: "1", StatusID: "10", Active: true, VendorUpdated: at}
	}
	inStep := &domain.Base{Org: org("Contoso", t0).Values(), PSA: psa("Contoso", t0).Values()}

	cases := []struct {
		name      string
		base      *domain.Base
		org       domain.Organization
		psa       domain.ExternalOrganization
		direction domain.SyncDirection
		toPSA     []string
		toOrg     []string
		conflicts int
		check     func(t *testing.T, p domain.SyncPlan)
	}{
		{name: "nothing changed", base: inStep, org: org("Contoso", t0), psa: psa("Contoso", t0), direction: domain.SyncTwoWay},
		{name: "just linked: no base, nothing written", base: nil, org: org("Contoso Ltd", t0), psa: psa("CONTOSO", t0), direction: domain.SyncTwoWay},
		{name: "renamed in Orgplane", base: inStep, org: org("Contoso Pharma", t0.Add(time.Hour)), psa: psa("Contoso", t0),
			direction: domain.SyncTwoWay, toPSA: []string{"name"},
			check: func(t *testing.T, p domain.SyncPlan) {
				if str(p.ToPSA.Name) != "Contoso Pharma" {
					t.Errorf("ToPSA.Name = %s", str(p.ToPSA.Name))
				}
			}},
		{name: "renamed in Orgplane, one-way from the PSA: not pushed", base: inStep, org: org("Contoso Pharma", t0.Add(time.Hour)),
			psa: psa("Contoso", t0), direction: domain.SyncFromPSA},
		{name: "renamed in the PSA", base: inStep, org: org("Contoso", t0), psa: psa("Contoso Group", t0.Add(time.Hour)),
			direction: domain.SyncFromPSA, toOrg: []string{"name"},
			check: func(t *testing.T, p domain.SyncPlan) {
				if str(p.ToOrg.Name) != "Contoso Group" {
					t.Errorf("ToOrg.Name = %s", str(p.ToOrg.Name))
				}
			}},
		{name: "the PSA's rename coming back as Orgplane's event: no echo", base: &domain.Base{Org: org("Contoso Group", t0).Values(),
			PSA: psa("Contoso Group", t0).Values()}, org: org("Contoso Group", t0.Add(time.Hour)), psa: psa("Contoso Group", t0),
			direction: domain.SyncTwoWay},
		{name: "both renamed, Orgplane's is newer", base: inStep, org: org("Contoso A", t0.Add(2*time.Hour)),
			psa: psa("Contoso B", t0.Add(time.Hour)), direction: domain.SyncTwoWay, toPSA: []string{"name"}, conflicts: 1,
			check: func(t *testing.T, p domain.SyncPlan) {
				if c := p.Conflicts[0]; c.Winner != domain.ToPSA || c.OrgValue != "Contoso A" || c.PSAValue != "Contoso B" {
					t.Errorf("conflict %+v", c)
				}
			}},
		{name: "both renamed, the PSA's is newer", base: inStep, org: org("Contoso A", t0.Add(time.Hour)),
			psa: psa("Contoso B", t0.Add(2*time.Hour)), direction: domain.SyncTwoWay, toOrg: []string{"name"}, conflicts: 1},
		{name: "both renamed at the same time: the PSA wins", base: inStep, org: org("Contoso A", t0.Add(time.Hour)),
			psa: psa("Contoso B", t0.Add(time.Hour)), direction: domain.SyncTwoWay, toOrg: []string{"name"}, conflicts: 1},
		{name: "both made the same change: no conflict", base: inStep, org: org("Contoso A", t0.Add(time.Hour)),
			psa: psa("Contoso A", t0.Add(2*time.Hour)), direction: domain.SyncTwoWay},
		{name: "type changed in Orgplane goes through the mapping", base: inStep,
			org: func() domain.Organization { o := org("Contoso", t0); o.TypeID = "org-vendor"; return o }(), psa: psa("Contoso", t0),
			direction: domain.SyncTwoWay, toPSA: []string{"type"},
			check: func(t *testing.T, p domain.SyncPlan) {
				if str(p.ToPSA.TypeID) != "2" {
					t.Errorf("ToPSA.TypeID = %s", str(p.ToPSA.TypeID))
				}
			}},
		{name: "a status with no mapping is left alone", base: inStep,
			org: func() domain.Organization { o := org("Contoso", t0); o.StatusID = "org-unmapped"; return o }(), psa: psa("Contoso", t0),
			direction: domain.SyncTwoWay},
		{name: "deactivated in Orgplane", base: inStep,
			org: func() domain.Organization { o := org("Contoso", t0); o.Active = false; return o }(), psa: psa("Contoso", t0),
			direction: domain.SyncTwoWay, toPSA: []string{"active"},
			check: func(t *testing.T, p domain.SyncPlan) {
				if p.ToPSA.Active == nil || *p.ToPSA.Active {
					t.Errorf("ToPSA.Active = %v", p.ToPSA.Active)
				}
			}},
		{name: "made inactive in the PSA", base: inStep, org: org("Contoso", t0),
			psa:       func() domain.ExternalOrganization { e := psa("Contoso", t0); e.Active = false; return e }(),
			direction: domain.SyncTwoWay, toOrg: []string{"active"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := domain.PlanSync(c.base, c.org, c.psa, c.direction, mappings)
			if !slices.Equal(p.ToPSAFields, c.toPSA) || !slices.Equal(p.ToOrgFields, c.toOrg) || len(p.Conflicts) != c.conflicts {
				t.Fatalf("plan: to the PSA %v, to Orgplane %v, %d conflicts; want %v, %v, %d",
					p.ToPSAFields, p.ToOrgFields, len(p.Conflicts), c.toPSA, c.toOrg, c.conflicts)
			}
			if (len(c.toOrg) == 0) != p.ToOrg.Empty() {
				t.Errorf("ToOrg %+v does not match its fields %v", p.ToOrg, p.ToOrgFields)
			}
			if c.check != nil {
				c.check(t, p)
			}
		})
	}
}

func TestNewCompanyForMapsTypeStatusAndParent(t *testing.T) {
	m := domain.ValueMappings{Types: []domain.ValueMapping{{OrganizationValueID: "t", PSAValueID: "5"}}}
	c := domain.NewCompanyFor(domain.Organization{Name: "Fabrikam", TypeID: "t", StatusID: "unmapped"}, "42", m)
	if c.Name != "Fabrikam" || c.TypeID != "5" || c.StatusID != "" || c.ParentID != "42" {
		t.Fatalf("new company %+v", c)
	}
}

func TestTaskBackoffDoublesToFiveMinutes(t *testing.T) {
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := domain.TaskBackoff(i + 1); got != w {
			t.Errorf("attempt %d: %s, want %s", i+1, got, w)
		}
	}
	if got := domain.TaskBackoff(50); got != 5*time.Minute {
		t.Errorf("attempt 50: %s, want the 5 minute cap", got)
	}
}

func TestOrgScopeAndVisibility(t *testing.T) {
	s := domain.SyncScope{OrganizationStatusIDs: []string{"active"}}
	if !s.InOrgScope(domain.Organization{StatusID: "active"}) || s.InOrgScope(domain.Organization{StatusID: "prospect"}) {
		t.Error("an Orgplane status scope")
	}
	if !(domain.SyncScope{}).InOrgScope(domain.Organization{}) {
		t.Error("an empty scope admits all")
	}
	o := domain.Organization{GroupIDs: []string{"east"}}
	if !o.VisibleTo(false, nil) || !o.VisibleTo(true, []string{"west", "east"}) || o.VisibleTo(true, []string{"west"}) {
		t.Error("group visibility")
	}
}
