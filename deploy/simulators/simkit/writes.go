package simkit

import (
	"slices"
	"sync"
	"time"
)

// Write is one change a client made through the vendor API: the write log is how a test
// proves that an integration wrote something exactly once, or not at all (no echo).
type Write struct {
	// Seq numbers the writes from 1 as they are logged, right after each is applied.
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
	// Action is "create", "update" or "delete".
	Action    string `json:"action"`
	CompanyID int64  `json:"companyId"`
	// Name is the company's name after the write (before it, for a delete).
	Name string `json:"name"`
	// Fields are the fields the write set (create) or changed (update), in the simulators'
	// neutral spelling: name, identifier, typeId, statusId, parentId, active, deleted. An
	// update that changed nothing is still a write, with no fields.
	Fields []string `json:"fields,omitempty"`
}

// writeLog keeps the writes in order. It is unbounded: a simulator lives for one test or one
// dev session, and a test that counts writes needs all of them.
type writeLog struct {
	mu     sync.Mutex
	seq    int64
	writes []Write
}

func (l *writeLog) add(action string, c Company, fields []string) {
	l.mu.Lock()
	l.seq++
	l.writes = append(l.writes, Write{Seq: l.seq, At: time.Now().UTC(), Action: action, CompanyID: c.ID, Name: c.Name, Fields: fields})
	l.mu.Unlock()
}

func (l *writeLog) all() []Write {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Write, len(l.writes))
	copy(out, l.writes)
	for i := range out {
		out[i].Fields = slices.Clone(out[i].Fields)
	}
	return out
}

// reset forgets the writes; sequence numbers keep counting so a write read before a reset is
// never confused with one after it.
func (l *writeLog) reset() { l.mu.Lock(); l.writes = nil; l.mu.Unlock() }

// changedFields lists what differs between two versions of a company. For a create, before is
// the zero Company, so it lists the fields the create set.
func changedFields(before, after Company) []string {
	var out []string
	add := func(changed bool, name string) {
		if changed {
			out = append(out, name)
		}
	}
	add(before.Name != after.Name, "name")
	add(before.Identifier != after.Identifier, "identifier")
	add(before.TypeID != after.TypeID, "typeId")
	add(before.StatusID != after.StatusID, "statusId")
	add(before.ParentID != after.ParentID, "parentId")
	add(before.Active != after.Active, "active")
	add(before.Deleted != after.Deleted, "deleted")
	return out
}

// Writes returns the vendor-API writes the tool applied, in order.
func (t *Tool) Writes() []Write { return t.writes.all() }

// ResetWrites empties the write log.
func (t *Tool) ResetWrites() { t.writes.reset() }

// The vendor packages change companies through these, not through the Store, when serving
// their API: that is what makes a change a write. The control API and seeding go to the Store
// directly (a person editing the tool is not an integration's write).

// Add stores a company created through the vendor API and logs the write.
func (t *Tool) Add(c Company) Company {
	added := t.Store.Add(c)
	t.writes.add("create", added, changedFields(Company{}, added))
	return added
}

// Update changes a company through the vendor API and logs the write (with the fields f
// changed); false when there is no such company.
func (t *Tool) Update(id int64, f func(*Company)) (Company, bool) {
	var before Company
	after, ok := t.Store.Update(id, false, func(c *Company) {
		before = *c
		f(c)
	})
	if ok {
		t.writes.add("update", after, changedFields(before, after))
	}
	return after, ok
}

// SoftDelete flags a company deleted through the vendor API (Store.SoftDelete) and logs it.
func (t *Tool) SoftDelete(id int64) (Company, bool) {
	c, ok := t.Store.SoftDelete(id)
	if ok {
		t.writes.add("delete", c, nil)
	}
	return c, ok
}

// Remove deletes a company outright through the vendor API and logs it.
func (t *Tool) Remove(id int64) (Company, bool) {
	c, ok := t.Store.Remove(id)
	if ok {
		t.writes.add("delete", c, nil)
	}
	return c, ok
}
