package store

import "github.com/orgplane/orgplane/services/org/internal/domain"

// OrganizationPageSQL is the page query ListOrganizations runs for a caller who sees every
// organization, for the tests that read its plan.
func OrganizationPageSQL(accountID string, f domain.OrganizationFilter, ord domain.OrganizationOrder, after *OrgPosition, limit int) (string, []any) {
	q := organizationListSQL(accountID, domain.Visibility{}, f, ord, after, limit)
	return q.pageSQL, q.pageArgs
}
