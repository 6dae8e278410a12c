package autotask

import "github.com/orgplane/orgplane/deploy/simulators/simkit"

// SeedDefault fills the database with the dev stack's clients spelled Autotask's way (mostly
// with a legal suffix, "Acme Dental Inc."), mostly Customers with some Prospects, Vendors and
// Partners, every seventh a sub-company of the one before, and every twelfth "deleted": made
// inactive, the only removal Autotask's API allows.
func (s *Server) SeedDefault(base []string) {
	store := s.tool.Store
	var prev simkit.Company
	for i, name := range base {
		variant := simkit.Suffix
		switch i % 4 {
		case 1:
			variant = simkit.AsIs
		case 3:
			variant = simkit.NoPunct
		}
		c := simkit.Company{Name: simkit.Vary(name, variant, i), TypeID: 1, StatusID: 1, Active: true}
		switch i % 10 {
		case 3:
			c.TypeID = 3 // Prospect
		case 6:
			c.TypeID = 6 // Vendor
		case 9:
			c.TypeID = 7 // Partner
		}
		if (i+1)%7 == 0 && prev.ID != 0 && prev.ParentID == 0 {
			c.ParentID = prev.ID
		}
		if (i+1)%12 == 0 {
			c.Active, c.StatusID = false, 2
		}
		prev = store.Add(c)
	}
}
