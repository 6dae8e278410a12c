// Package simkit is what the vendor simulators share: the companies they serve, the faults a
// test injects, request accounting, rate windows and the control API. Each vendor package
// (itglue, connectwise, autotask, generic) is only that vendor's wire format over a Store.
package simkit

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Company is one organization in a simulated tool, in the union of the vendors' fields.
type Company struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	Identifier string    `json:"identifier,omitempty"` // ConnectWise's short code
	TypeID     int64     `json:"typeId"`
	StatusID   int64     `json:"statusId"`
	ParentID   int64     `json:"parentId,omitempty"`
	Active     bool      `json:"active"`
	Deleted    bool      `json:"deleted"`
	DeletedAt  time.Time `json:"deletedAt,omitzero"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Option is a type or status of the simulated tool.
type Option struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Store holds one simulated tool's companies. Safe for concurrent use.
type Store struct {
	mu        sync.Mutex
	now       func() time.Time
	nextID    int64
	companies map[int64]*Company
	// Types and Statuses are the tool's lists; the first of each is the default.
	Types, Statuses []Option
	listeners       []func(action string, c Company)
}

// NewStore returns an empty store whose ids start at firstID.
func NewStore(firstID int64, types, statuses []Option) *Store {
	return &Store{now: time.Now, nextID: firstID, companies: map[int64]*Company{}, Types: types, Statuses: statuses}
}

// SetClock makes the store read time from now (tests that need old lastUpdated values).
func (s *Store) SetClock(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// OnChange registers f, called after every change with "added", "updated" or "deleted" (outside
// the store's lock): the vendors' webhooks hang here.
func (s *Store) OnChange(f func(action string, c Company)) {
	s.mu.Lock()
	s.listeners = append(s.listeners, f)
	s.mu.Unlock()
}

func (s *Store) notify(action string, c Company) {
	s.mu.Lock()
	ls := slices.Clone(s.listeners)
	s.mu.Unlock()
	for _, f := range ls {
		f(action, c)
	}
}

// Add stores c with a new id, now as its creation and update time (unless set), and returns it.
func (s *Store) Add(c Company) Company {
	s.mu.Lock()
	c.ID = s.nextID
	s.nextID++
	now := s.now().UTC().Truncate(time.Millisecond)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	if c.TypeID == 0 && len(s.Types) > 0 {
		c.TypeID = s.Types[0].ID
	}
	if c.StatusID == 0 && len(s.Statuses) > 0 {
		c.StatusID = s.Statuses[0].ID
	}
	cp := c
	s.companies[c.ID] = &cp
	s.mu.Unlock()
	s.notify("added", c)
	return c
}

// Get returns a company (deleted ones too) and whether it exists.
func (s *Store) Get(id int64) (Company, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.companies[id]
	if !ok {
		return Company{}, false
	}
	return *c, true
}

// Update applies f to a company and stamps its update time unless keepUpdated; it returns the
// result and false when there is no such company.
func (s *Store) Update(id int64, keepUpdated bool, f func(*Company)) (Company, bool) {
	s.mu.Lock()
	c, ok := s.companies[id]
	if !ok {
		s.mu.Unlock()
		return Company{}, false
	}
	f(c)
	if !keepUpdated {
		c.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	}
	out := *c
	s.mu.Unlock()
	s.notify("updated", out)
	return out, true
}

// SoftDelete flags a company deleted the ConnectWise way: deletedFlag set, status and update
// time left as they were, so a listing filtered on lastUpdated misses it.
func (s *Store) SoftDelete(id int64) (Company, bool) {
	c, ok := s.Update(id, true, func(c *Company) { c.Deleted, c.DeletedAt = true, s.now().UTC() })
	if ok {
		s.notify("deleted", c)
	}
	return c, ok
}

// Remove deletes a company outright (and it vanishes from every listing).
func (s *Store) Remove(id int64) (Company, bool) {
	s.mu.Lock()
	c, ok := s.companies[id]
	if ok {
		delete(s.companies, id)
	}
	s.mu.Unlock()
	if !ok {
		return Company{}, false
	}
	s.notify("deleted", *c)
	return *c, true
}

// All returns every company (deleted ones too) ordered by id.
func (s *Store) All() []Company {
	s.mu.Lock()
	out := make([]Company, 0, len(s.companies))
	for _, c := range s.companies {
		out = append(out, *c)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Company) int { return int(a.ID - b.ID) })
	return out
}

// Len is how many companies the store holds (deleted ones too).
func (s *Store) Len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.companies) }

// OptionName is the name of the option with id in opts, "" when none.
func OptionName(opts []Option, id int64) string {
	for _, o := range opts {
		if o.ID == id {
			return o.Name
		}
	}
	return ""
}

// OptionByName finds an option by name, case-insensitively.
func OptionByName(opts []Option, name string) (Option, bool) {
	for _, o := range opts {
		if strings.EqualFold(o.Name, name) {
			return o, true
		}
	}
	return Option{}, false
}
