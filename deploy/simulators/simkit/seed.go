package simkit

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The dev stack's tools hold the same MSP clients under slightly different names, as real ones
// do: the registry says "Acme Dental", IT Glue "ACME Dental", ConnectWise "Acme Dental, LLC",
// Autotask "Acme Dental Inc." Matching must see through case, punctuation and legal suffixes.
var (
	seedFirst = []string{"Acme", "Northwind", "Contoso", "Fabrikam", "Blue Ridge", "Summit", "Harbor", "Cedar",
		"Pioneer", "Redwood", "Lakeside", "Granite", "Riverside", "Evergreen", "Silver Creek", "Oakmont", "Bayview",
		"Maple", "Horizon", "Keystone", "Sterling", "Prairie", "Coastal", "Ironwood", "Willow", "Falcon", "Beacon",
		"Meridian", "Crescent", "Highland", "St. Mary's", "O'Brien", "Johnson & Sons", "Parker-Hale", "Tri-County"}
	seedSecond = []string{"Dental", "Law Group", "Accounting", "Veterinary Clinic", "Construction", "Family Medicine",
		"Realty", "Insurance", "Engineering", "Logistics", "Manufacturing", "Credit Union", "School District",
		"Architects", "Pharmacy", "Auto Group", "Foods", "Orthopedics", "Chiropractic", "Consulting"}
	legalSuffixes = []string{"LLC", "Inc.", "Ltd", "Corp.", "LLP", "PLLC", "Co."}
)

// BaseNames returns n distinct client names, the same for the same seed.
func BaseNames(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		name := seedFirst[r.IntN(len(seedFirst))] + " " + seedSecond[r.IntN(len(seedSecond))]
		if seen[name] {
			name = fmt.Sprintf("%s %d", name, len(out)+1)
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}

// Variant is how one tool spells the same client's name.
type Variant int

// The variants the seeds use.
const (
	AsIs       Variant = iota
	UpperFirst         // "ACME Dental"
	Lower              // "acme dental"
	Suffix             // "Acme Dental, LLC"
	NoPunct            // "St Marys Pharmacy"
)

// Vary spells name the variant's way; i picks the legal suffix.
func Vary(name string, v Variant, i int) string {
	switch v {
	case UpperFirst:
		first, rest, _ := strings.Cut(name, " ")
		return strings.ToUpper(first) + " " + rest
	case Lower:
		return strings.ToLower(name)
	case Suffix:
		s := legalSuffixes[i%len(legalSuffixes)]
		if i%2 == 0 {
			return name + ", " + s
		}
		return name + " " + s
	case NoPunct:
		return strings.NewReplacer(".", "", "'", "", ",", "", "&", "and", "-", " ").Replace(name)
	}
	return name
}

// SeedOptions say how Seed fills a tool.
type SeedOptions struct {
	// Names are the clients, spelled the tool's way.
	Names []string
	// SubEvery makes every SubEvery-th company a sub-organization of the one before it (0: none).
	SubEvery int
	// DeleteEvery flags every DeleteEvery-th company deleted (0: none); Remove makes it vanish
	// instead (tools without a deleted flag).
	DeleteEvery int
	Remove      bool
	// InactiveEvery makes every InactiveEvery-th company inactive (0: none).
	InactiveEvery int
	// Identifier derives ConnectWise's identifier from a name (nil: none).
	Identifier func(name string, i int) string
}

// Seed adds the named companies to store, with parents, deletions and inactive ones as asked,
// spread over the tool's types and statuses.
func Seed(store *Store, o SeedOptions) {
	var prev Company
	for i, name := range o.Names {
		c := Company{Name: name, Active: o.InactiveEvery == 0 || (i+1)%o.InactiveEvery != 0}
		if len(store.Types) > 0 {
			c.TypeID = store.Types[i%len(store.Types)].ID
		}
		if len(store.Statuses) > 0 {
			c.StatusID = store.Statuses[0].ID
			if !c.Active && len(store.Statuses) > 1 {
				c.StatusID = store.Statuses[1].ID
			}
		}
		if o.SubEvery > 0 && (i+1)%o.SubEvery == 0 && prev.ID != 0 && prev.ParentID == 0 {
			c.ParentID = prev.ID
		}
		if o.Identifier != nil {
			c.Identifier = o.Identifier(name, i)
		}
		added := store.Add(c)
		if o.DeleteEvery > 0 && (i+1)%o.DeleteEvery == 0 {
			if o.Remove {
				store.Remove(added.ID)
			} else {
				store.SoftDelete(added.ID)
			}
			continue
		}
		prev = added
	}
}
