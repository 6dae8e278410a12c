package domain

import (
	"slices"
	"time"

	"github.com/orgplane/orgplane/services/integration-sync/internal/connector"
)

// Organization is what integration-sync keeps of an Orgplane organization, from org's events.
type Organization struct {
	AccountID, ID    string
	Name             string
	TypeID, StatusID string
	ParentID         string
	Active           bool
	GroupIDs         []string
	Changed          time.Time // when org committed the last change applied here
}

// VisibleTo reports whether a caller limited to groups (restricted) may see the organization.
func (o Organization) VisibleTo(restricted bool, groups []string) bool {
	if !restricted {
		return true
	}
	for _, g := range o.GroupIDs {
		if slices.Contains(groups, g) {
			return true
		}
	}
	return false
}

// Values are the synced fields of one side, in that side's own ids.
type Values struct {
	Name     string `json:"name"`
	TypeID   string `json:"typeId,omitempty"`
	StatusID string `json:"statusId,omitempty"`
	Active   bool   `json:"active"`
}

// OrgValues are an organization's synced fields.
func (o Organization) Values() Values {
	return Values{Name: o.Name, TypeID: o.TypeID, StatusID: o.StatusID, Active: o.Active}
}

// PSAValues are a cached company's synced fields.
func (e ExternalOrganization) Values() Values {
	return Values{Name: e.Name, TypeID: e.TypeID, StatusID: e.StatusID, Active: e.Active}
}

// Base is what both sides held when they were last in step: a side whose value differs from
// its base changed it since. It is what keeps a change from echoing back to where it came from.
type Base struct {
	Org Values `json:"org"`
	PSA Values `json:"psa"`
}

// ValueMapping pairs an Orgplane type or status with the PSA's.
type ValueMapping struct {
	OrganizationValueID string `json:"organizationValueId"`
	PSAValueID          string `json:"psaValueId"`
}

// ValueMappings translate types and statuses between the two sides' lists.
type ValueMappings struct {
	Types    []ValueMapping `json:"types,omitempty"`
	Statuses []ValueMapping `json:"statuses,omitempty"`
}

func toPSA(list []ValueMapping, orgValue string) (string, bool) {
	if orgValue == "" {
		return "", false
	}
	for _, m := range list {
		if m.OrganizationValueID == orgValue {
			return m.PSAValueID, true
		}
	}
	return "", false
}

func toOrg(list []ValueMapping, psaValue string) (string, bool) {
	if psaValue == "" {
		return "", false
	}
	for _, m := range list {
		if m.PSAValueID == psaValue {
			return m.OrganizationValueID, true
		}
	}
	return "", false
}

// PSAType and PSAStatus are the PSA's ids for an organization's type and status, when mapped.
func (m ValueMappings) PSAType(orgType string) (string, bool) { return toPSA(m.Types, orgType) }
func (m ValueMappings) PSAStatus(orgStatus string) (string, bool) {
	return toPSA(m.Statuses, orgStatus)
}

// OrgType and OrgStatus are Orgplane's ids for a company's type and status, when mapped.
func (m ValueMappings) OrgType(psaType string) (string, bool) { return toOrg(m.Types, psaType) }
func (m ValueMappings) OrgStatus(psaStatus string) (string, bool) {
	return toOrg(m.Statuses, psaStatus)
}

// InOrgScope reports whether an Orgplane organization is inside the scope's Orgplane lists.
func (s SyncScope) InOrgScope(o Organization) bool {
	return (len(s.OrganizationTypeIDs) == 0 || slices.Contains(s.OrganizationTypeIDs, o.TypeID)) &&
		(len(s.OrganizationStatusIDs) == 0 || slices.Contains(s.OrganizationStatusIDs, o.StatusID))
}

// Pushes reports whether Orgplane's changes go to the PSA; Pulls whether the PSA's come in.
func (d SyncDirection) Pushes() bool { return d == SyncTwoWay }
func (d SyncDirection) Pulls() bool  { return d == SyncTwoWay || d == SyncFromPSA }

// OrgChanges are the fields a sync changes in Orgplane; nil leaves one as it is.
type OrgChanges struct {
	Name, TypeID, StatusID *string
	Active                 *bool
}

// Empty reports whether nothing changes.
func (c OrgChanges) Empty() bool {
	return c.Name == nil && c.TypeID == nil && c.StatusID == nil && c.Active == nil
}

// Side is which side a sync wrote (values as in the API).
type Side int16

// Sides.
const (
	ToPSA   Side = 1
	FromPSA Side = 2
)

// Conflict is one field both sides changed between two syncs.
type Conflict struct {
	Field        string
	OrgValue     string
	PSAValue     string
	Winner       Side
	OrgAt, PSAAt time.Time
}

// SyncPlan is what one reconcile of a linked pair writes on each side.
type SyncPlan struct {
	ToPSA       connector.Changes
	ToPSAFields []string
	ToOrg       OrgChanges
	ToOrgFields []string
	Conflicts   []Conflict
}

// PlanSync compares a linked pair with its base and says what to write where.
//
// The rule, per field (name, type, status, active): a side that differs from its base changed
// it. One side changed: the other follows (Orgplane's change reaches the PSA only when the
// direction pushes; types and statuses only through a mapping). Both changed to different
// values: a conflict, won by the newer change (Orgplane's commit time against the PSA's own
// last-modified time; a tie goes to the PSA, the system of record for companies). No base (a
// pair just linked): nothing is written, the current values become the base.
func PlanSync(base *Base, org Organization, psa ExternalOrganization, direction SyncDirection, m ValueMappings) SyncPlan {
	var p SyncPlan
	if base == nil {
		return p
	}
	ov, pv := org.Values(), psa.Values()
	type field struct {
		name            string
		orgNow, orgBase string
		psaNow, psaBase string
		orgAsPSA        func() (string, bool)
		psaAsOrg        func() (string, bool)
		setPSA          func(string)
		setOrg          func(string)
	}
	boolText := func(b bool) string {
		if b {
			return "true"
		}
		return "false"
	}
	same := func(v string) func() (string, bool) { return func() (string, bool) { return v, true } }
	fields := []field{
		{name: "name", orgNow: ov.Name, orgBase: base.Org.Name, psaNow: pv.Name, psaBase: base.PSA.Name,
			orgAsPSA: same(ov.Name), psaAsOrg: same(pv.Name),
			setPSA: func(v string) { p.ToPSA.Name = &v }, setOrg: func(v string) { p.ToOrg.Name = &v }},
		{name: "type", orgNow: ov.TypeID, orgBase: base.Org.TypeID, psaNow: pv.TypeID, psaBase: base.PSA.TypeID,
			orgAsPSA: func() (string, bool) { return m.PSAType(ov.TypeID) }, psaAsOrg: func() (string, bool) { return m.OrgType(pv.TypeID) },
			setPSA: func(v string) { p.ToPSA.TypeID = &v }, setOrg: func(v string) { p.ToOrg.TypeID = &v }},
		{name: "status", orgNow: ov.StatusID, orgBase: base.Org.StatusID, psaNow: pv.StatusID, psaBase: base.PSA.StatusID,
			orgAsPSA: func() (string, bool) { return m.PSAStatus(ov.StatusID) }, psaAsOrg: func() (string, bool) { return m.OrgStatus(pv.StatusID) },
			setPSA: func(v string) { p.ToPSA.StatusID = &v }, setOrg: func(v string) { p.ToOrg.StatusID = &v }},
		{name: "active", orgNow: boolText(ov.Active), orgBase: boolText(base.Org.Active), psaNow: boolText(pv.Active), psaBase: boolText(base.PSA.Active),
			orgAsPSA: same(boolText(ov.Active)), psaAsOrg: same(boolText(pv.Active)),
			setPSA: func(v string) { b := v == "true"; p.ToPSA.Active = &b }, setOrg: func(v string) { b := v == "true"; p.ToOrg.Active = &b }},
	}
	for _, f := range fields {
		orgChanged, psaChanged := f.orgNow != f.orgBase, f.psaNow != f.psaBase
		push := func() {
			if v, ok := f.orgAsPSA(); ok && v != f.psaNow && direction.Pushes() {
				f.setPSA(v)
				p.ToPSAFields = append(p.ToPSAFields, f.name)
			}
		}
		pull := func() {
			if v, ok := f.psaAsOrg(); ok && v != f.orgNow && direction.Pulls() {
				f.setOrg(v)
				p.ToOrgFields = append(p.ToOrgFields, f.name)
			}
		}
		switch {
		case orgChanged && psaChanged:
			if v, ok := f.orgAsPSA(); ok && v == f.psaNow {
				continue // both sides made the same change
			}
			c := Conflict{Field: f.name, OrgValue: f.orgNow, PSAValue: f.psaNow, OrgAt: org.Changed, PSAAt: psa.VendorUpdated, Winner: FromPSA}
			if org.Changed.After(psa.VendorUpdated) {
				c.Winner = ToPSA
			}
			p.Conflicts = append(p.Conflicts, c)
			if c.Winner == ToPSA {
				push()
			} else {
				pull()
			}
		case orgChanged:
			push()
		case psaChanged:
			pull()
		}
	}
	return p
}

// NewCompanyFor is what creating an organization's company in a PSA sends: its name, its type
// and status through the mappings (the PSA's defaults when unmapped), and its parent's company.
func NewCompanyFor(o Organization, parentExternalID string, m ValueMappings) connector.NewCompany {
	c := connector.NewCompany{Name: o.Name, ParentID: parentExternalID}
	c.TypeID, _ = m.PSAType(o.TypeID)
	c.StatusID, _ = m.PSAStatus(o.StatusID)
	return c
}

// Sync task states (values as stored).
const (
	TaskPending        int16 = 1
	TaskFailing        int16 = 2
	TaskWaitingLicense int16 = 3
)

// TaskBackoff is how long a failed sync task waits before its next attempt: doubling from 2 s,
// capped at 5 minutes, so a PSA that is down for a while is tried again soon after it is back.
func TaskBackoff(attempts int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < attempts && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// LicenseWait is how often a company waiting for a free license is tried again.
const LicenseWait = time.Minute
