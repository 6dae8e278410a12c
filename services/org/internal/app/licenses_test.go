package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

func TestMain(m *testing.M) { testkit.Main(m) }

var billing = identity.With(context.Background(), identity.Service("billing"))

// licenseAccount returns the license use cases over a fresh database and an account in it with
// active organizations already counted.
func licenseAccount(t *testing.T, active int) (*app.Service, string, *pgx.Conn) {
	t.Helper()
	spec := orgsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	admin, err := pgx.Connect(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	var acc string
	if err := admin.QueryRow(context.Background(), `INSERT INTO org.accounts (display_name) VALUES ('Contoso MSP') RETURNING id::text`).Scan(&acc); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(context.Background(), `INSERT INTO org.account_limits (account_id, active_count) VALUES ($1, $2)`, acc, active); err != nil {
		t.Fatal(err)
	}
	return app.New(store.New(db.Pool), nil, nil), acc, admin
}

func limit(l int32, gen int64) domain.LicenseLimit {
	return domain.LicenseLimit{Limit: l, Writable: true, Generation: gen}
}

// A change billing retries, or one overtaken by a later change, never undoes the later one.
func TestAStaleGenerationIsIgnored(t *testing.T) {
	svc, acc, admin := licenseAccount(t, 3)

	steps := []struct {
		name string
		set  domain.LicenseLimit
		want domain.LicenseUsage
	}{
		{"first change", limit(10, 1), domain.LicenseUsage{LicenseLimit: limit(10, 1), Used: 3}},
		{"the same change retried", limit(10, 1), domain.LicenseUsage{LicenseLimit: limit(10, 1), Used: 3}},
		{"a later change", limit(8, 3), domain.LicenseUsage{LicenseLimit: limit(8, 3), Used: 3}},
		{"an earlier change delivered late", limit(20, 2), domain.LicenseUsage{LicenseLimit: limit(8, 3), Used: 3}},
		{"a late change is not refused even below use", limit(1, 2), domain.LicenseUsage{LicenseLimit: limit(8, 3), Used: 3}},
		{"generation 0 applies and keeps the sequence", limit(9, 0), domain.LicenseUsage{LicenseLimit: limit(9, 3), Used: 3}},
		{"unlimited", domain.LicenseLimit{Unlimited: true, Limit: 5, Writable: false, Generation: 4},
			domain.LicenseUsage{LicenseLimit: domain.LicenseLimit{Unlimited: true, Generation: 4}, Used: 3}},
	}
	for _, s := range steps {
		got, err := svc.SetLicenseLimit(billing, acc, s.set)
		if err != nil || got != s.want {
			t.Fatalf("%s: SetLicenseLimit = %+v, %v; want %+v", s.name, got, err, s.want)
		}
		read, err := svc.LicenseUsage(billing, acc)
		if err != nil || read != s.want {
			t.Fatalf("%s: LicenseUsage = %+v, %v; want %+v", s.name, read, err, s.want)
		}
	}
	var stored *int32
	var gen int64
	if err := admin.QueryRow(context.Background(), `SELECT organization_limit, generation FROM org.account_limits WHERE account_id = $1`, acc).
		Scan(&stored, &gen); err != nil || stored != nil || gen != 4 {
		t.Fatalf("stored limit %v, generation %d, %v", stored, gen, err)
	}
}

func TestALimitBelowUseIsRefusedAndChangesNothing(t *testing.T) {
	svc, acc, _ := licenseAccount(t, 3)
	if _, err := svc.SetLicenseLimit(billing, acc, limit(10, 1)); err != nil {
		t.Fatal(err)
	}
	_, err := svc.SetLicenseLimit(billing, acc, limit(2, 2))
	ae, ok := apperr.As(err)
	if !ok || ae.Kind != apperr.KindFailedPrecondition || ae.Reason != "LIMIT_BELOW_USE" ||
		ae.Message != "3 organizations are active; the limit cannot go below that (deactivate some first)" {
		t.Fatalf("below use: %v", err)
	}
	// Refused, so generation 2 was not used up: billing's next change (generation 3) applies,
	// and so would a retry of 2 once use allows it.
	if u, _ := svc.LicenseUsage(billing, acc); u != (domain.LicenseUsage{LicenseLimit: limit(10, 1), Used: 3}) {
		t.Fatalf("after a refusal: %+v", u)
	}
	if u, err := svc.SetLicenseLimit(billing, acc, limit(3, 2)); err != nil || u.Limit != 3 || u.Generation != 2 {
		t.Fatalf("generation 2 at the use: %+v %v", u, err)
	}
}

func TestOnlyServicesSetOrReadTheLimit(t *testing.T) {
	svc, acc, _ := licenseAccount(t, 0)
	admin := identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "k", AccountID: acc,
		Permissions: []string{"subscription:read", "subscription:write"}})
	operator := identity.With(context.Background(), identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"})
	for name, ctx := range map[string]context.Context{"account admin": admin, "operator": operator} {
		if _, err := svc.SetLicenseLimit(ctx, acc, limit(5, 1)); apperr.KindOf(err) != apperr.KindPermissionDenied {
			t.Errorf("%s sets the limit: %v", name, err)
		}
		if _, err := svc.LicenseUsage(ctx, acc); apperr.KindOf(err) != apperr.KindPermissionDenied {
			t.Errorf("%s reads the limit: %v", name, err)
		}
	}
	if _, err := svc.SetLicenseLimit(context.Background(), acc, limit(5, 1)); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("no identity: %v", err)
	}
	if _, err := svc.SetLicenseLimit(billing, "00000000-0000-0000-0000-000000000001", limit(5, 1)); !errors.Is(err, domain.ErrAccountNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}
