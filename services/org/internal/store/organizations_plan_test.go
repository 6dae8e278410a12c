package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// planNode is the part of EXPLAIN (ANALYZE, FORMAT JSON) the test reads.
type planNode struct {
	NodeType      string     `json:"Node Type"`
	IndexName     string     `json:"Index Name"`
	IndexCond     string     `json:"Index Cond"`
	Direction     string     `json:"Scan Direction"`
	ActualRows    float64    `json:"Actual Rows"`
	RemovedByFilt float64    `json:"Rows Removed by Filter"`
	Plans         []planNode `json:"Plans"`
}

func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.walk(f)
	}
}

// Every order of the organization list is one index scan over the account's entries, started at
// the page's position: a page in the middle of thousands of organizations reads a page of index
// entries, in order, with no sort, as the runtime role under row-level security.
func TestEveryOrganizationOrderIsAnIndexScanFromThePosition(t *testing.T) {
	t.Parallel()
	spec := orgsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })

	// Two accounts of 3,000 organizations: names come in pairs equal but for case, every three
	// share a creation time and about every five a last change.
	const perAccount, limit, middle = 3000, 101, 1500
	var accounts [2]string
	for i := range accounts {
		if err := admin.QueryRow(ctx, `INSERT INTO org.accounts (display_name) VALUES ($1) RETURNING id::text`,
			fmt.Sprintf("MSP %d", i)).Scan(&accounts[i]); err != nil {
			t.Fatal(err)
		}
		_, err := admin.Exec(ctx, `INSERT INTO org.organizations (account_id, name, created_at, updated_at)
			SELECT $1, CASE WHEN i % 2 = 0 THEN 'Client ' ELSE 'client ' END || md5((i / 2)::text),
				$2::timestamptz + (i / 3) * interval '1 second', $2::timestamptz + ((i * 7919) % $3 / 5) * interval '1 minute'
			FROM generate_series(0, $3 - 1) i`, accounts[i], time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), perAccount)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, `ANALYZE org.organizations, org.organization_search`); err != nil {
		t.Fatal(err)
	}
	acct := accounts[1]

	for _, c := range []struct {
		order    string
		index    string
		position string // the organization's key and id, in the same order, as the superuser reads them
	}{
		{"name", "organization_search_order", `lower(name), id`},
		{"name desc", "organization_search_order", `lower(name) DESC, id DESC`},
		{"create_time", "organizations_created", `created_at, id`},
		{"create_time desc", "organizations_created", `created_at DESC, id DESC`},
		{"update_time", "organizations_updated", `updated_at, id`},
		{"update_time desc", "organizations_updated", `updated_at DESC, id DESC`},
	} {
		t.Run(c.order, func(t *testing.T) {
			ord, err := domain.ParseOrganizationOrder(c.order)
			if err != nil {
				t.Fatal(err)
			}
			var o domain.Organization
			if err := admin.QueryRow(ctx, `SELECT id::text, name, created_at, updated_at FROM org.organizations
					WHERE account_id = $1 ORDER BY `+c.position+` OFFSET $2 LIMIT 1`, acct, middle-1).
				Scan(&o.ID, &o.Name, &o.CreatedAt, &o.UpdatedAt); err != nil {
				t.Fatal(err)
			}
			pos := store.PositionOf(o, ord)
			for _, after := range []*store.OrgPosition{nil, &pos} {
				sql, args := store.OrganizationPageSQL(acct, domain.OrganizationFilter{}, ord, after, limit)
				var raw []byte
				err := postgres.InTenantTx(ctx, db.Pool, acct, func(tx pgx.Tx) error {
					return tx.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+sql, args...).Scan(&raw)
				})
				if err != nil {
					t.Fatal(err)
				}
				var plans []struct{ Plan planNode }
				if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
					t.Fatalf("plan %s: %v", raw, err)
				}
				plan := plans[0].Plan
				var scans []planNode
				plan.walk(func(n planNode) {
					if strings.Contains(n.NodeType, "Sort") {
						t.Errorf("after %v: the plan sorts (%s)", after, n.NodeType)
					}
					if n.IndexName == c.index {
						scans = append(scans, n)
					}
				})
				want := "Forward"
				if ord.Desc {
					want = "Backward"
				}
				switch {
				case plan.ActualRows != limit:
					t.Errorf("after %v: the page holds %v rows, want %d", after, plan.ActualRows, limit)
				case len(scans) != 1:
					t.Errorf("after %v: the plan scans %s %d times, want once", after, c.index, len(scans))
				case scans[0].Direction != want:
					t.Errorf("after %v: %s is read %s, want %s", after, c.index, scans[0].Direction, want)
				case scans[0].ActualRows > limit || scans[0].RemovedByFilt > 0:
					// A keyset the index cannot seek to shows here: the rows before the position
					// are read and dropped.
					t.Errorf("after %v: %s read %v rows and dropped %v, want at most one page", after, c.index,
						scans[0].ActualRows, scans[0].RemovedByFilt)
				case after != nil && !strings.Contains(scans[0].IndexCond, "ROW("):
					t.Errorf("after %v: the position is not part of the index condition %q", after, scans[0].IndexCond)
				}
				if t.Failed() {
					t.Logf("%s", raw)
				}
			}
		})
	}
}
