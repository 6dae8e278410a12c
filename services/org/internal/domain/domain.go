// Package domain is the org service's model: accounts and their settings, people, roles and API
// keys, organizations with their groups, types and statuses, reviews, and the rules that govern
// them (names, parent cycles and depth, the 12-month reactivation rule, license arithmetic,
// review assignment). It is pure Go: no database, no protos, no context; the app layer loads
// what a rule needs and asks the domain to decide.
package domain

import "time"

// Clock tells the time; tests inject one to age organizations by months.
type Clock func() time.Time
