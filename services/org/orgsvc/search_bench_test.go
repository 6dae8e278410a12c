package orgsvc_test

import (
	"context"
	"testing"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
)

// BenchmarkSearch50k measures "as you type" search and a first page over an account of 50,000
// organizations, through gRPC with every interceptor, as the UI would call it.
func BenchmarkSearch50k(b *testing.B) {
	h := startOrgHarness(b)
	acct := createAccount(b, h.accounts, "Contoso MSP")
	ctx := context.Background()
	// Seeding through the API would take minutes; the rows are what matter here.
	_, err := h.db.Exec(ctx, `INSERT INTO org.organizations (account_id, name)
		SELECT $1, 'Client ' || md5(i::text) || ' ' || i FROM generate_series(1, 50000) i`, acct.GetId())
	if err != nil {
		b.Fatal(err)
	}
	// The counters the service keeps with every change.
	if _, err := h.db.Exec(ctx, `UPDATE org.account_limits SET active_count = 50000, total_count = 50000 WHERE account_id = $1`, acct.GetId()); err != nil {
		b.Fatal(err)
	}
	if _, err := h.db.Exec(ctx, `VACUUM ANALYZE org.organizations, org.organization_search`); err != nil {
		b.Fatal(err)
	}
	as := identity.With(ctx, identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: acct.GetId(),
		Permissions: []string{"organizations:read"}})
	for _, c := range []struct{ name, query string }{
		{"query=3 chars", "a1b"},
		{"query=6 chars", "a1b2c3"},
		{"query=1 char", "7"},
		{"no query, first page", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := h.orgs.ListOrganizations(as, &orgv1.ListOrganizationsRequest{AccountId: acct.GetId(), Query: c.query, PageSize: 20})
				if err != nil {
					b.Fatal(err)
				}
				if c.query == "" && resp.GetTotalSize() != 50000 {
					b.Fatalf("total %d", resp.GetTotalSize())
				}
			}
		})
	}
}
