package domain

import (
	"github.com/google/uuid"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// SyncUpdate is a PSA company's changes to its organization as the PSA sync sends them: a nil
// field did not change. An empty TypeID or StatusID clears it.
type SyncUpdate struct {
	Name     *string
	TypeID   *string
	StatusID *string
	// Active false deactivates, true reactivates.
	Active *bool
}

// SyncPlan is what a SyncUpdate does to an organization.
type SyncPlan struct {
	// Org is the organization with the new field values.
	Org Organization
	// Paths name the fields whose values change, as an update mask names them.
	Paths []string
	// Deactivate and Reactivate say whether its state changes (at most one is set).
	Deactivate, Reactivate bool
}

// Empty reports whether the plan changes nothing.
func (p SyncPlan) Empty() bool { return len(p.Paths) == 0 && !p.Deactivate && !p.Reactivate }

// PlanSyncUpdate decides what u changes in cur: only what differs. The PSA sends what its company
// holds, and a field Orgplane already has is not a change: it is neither written nor published,
// so a PSA repeating itself (or echoing Orgplane's own change back) changes nothing. Fields are
// named as the request spells them (top-level "name", "type_id", "status_id").
func PlanSyncUpdate(cur Organization, u SyncUpdate) (SyncPlan, error) {
	p := SyncPlan{Org: cur}
	if u.Name != nil {
		if *u.Name == "" {
			return SyncPlan{}, apperr.Invalid("name", "is required")
		}
		if *u.Name != cur.Name {
			p.Org.Name = *u.Name
			p.Paths = append(p.Paths, "name")
		}
	}
	for _, f := range []struct {
		path, msg string
		want      *string
		field     *string
	}{
		{"type_id", "is not an organization type of this account", u.TypeID, &p.Org.TypeID},
		{"status_id", "is not an organization status of this account", u.StatusID, &p.Org.StatusID},
	} {
		if f.want == nil {
			continue
		}
		id, err := canonicalID(*f.want)
		if err != nil {
			return SyncPlan{}, apperr.Invalid(f.path, f.msg)
		}
		if id != *f.field {
			*f.field = id
			p.Paths = append(p.Paths, f.path)
		}
	}
	if u.Active != nil {
		active := cur.State == StateActive
		p.Deactivate = active && !*u.Active
		p.Reactivate = !active && *u.Active
	}
	return p, nil
}

// canonicalID is id as Postgres returns a uuid (lower case, hyphenated), so it compares with
// the stored one; "" stays "".
func canonicalID(id string) (string, error) {
	if id == "" {
		return "", nil
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}
