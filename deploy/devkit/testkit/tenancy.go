package testkit

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// Exception names a table that holds account_id but stays outside the tenant policy, and says
// why. The only acceptable reason is that the table must be read before any tenant is known (the
// outbox relay, API key lookup, a work queue), so such a table may hold ids, digests, counters,
// times and machine text, never what people typed: RequireTenantTablesProtected refuses an
// exception for a table with names, emails, notes and the like, or with a text-search index.
type Exception struct {
	Table string
	// Reason is a sentence a reviewer can check against the table's migration.
	Reason string
}

// Outbox is the exception every service needs: pkg/events' outbox, which the relay drains for
// every account before it knows any. Its payloads are opaque bytes deleted once published.
var Outbox = Exception{Table: "outbox",
	Reason: "the relay publishes every account's events before it knows a tenant; rows leave once published"}

// minReasonWords keeps "relay" or "by design" from passing for a reason.
const minReasonWords = 6

// tenantWords mark a column as something a person typed about a tenant, when the column holds
// character data.
var tenantWords = []string{"name", "names", "email", "emails", "title", "description", "note", "notes",
	"comment", "comments", "address", "phone", "label", "text", "search"}

// RequireTenantTablesProtected fails unless every table of the schema with an account_id column
// has row-level security enabled and forced with the tenant policy (protect_tenant_table()),
// except those named in except. Each exception must state a reason, name an unprotected table
// that exists and holds account_id (a stale exception fails, so none outlives its need), and
// name a table that holds no tenant data a person typed: a table added without
// protect_tenant_table() fails the service's tests, and so does excusing one that holds names.
func RequireTenantTablesProtected(t testing.TB, db *DB, except ...Exception) {
	t.Helper()
	tables, err := tenantTables(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatalf("no tenant tables found in schema %s", db.Config.Schema)
	}
	excused := map[string]bool{}
	for _, e := range except {
		tab, ok := tables[e.Table]
		switch {
		case len(strings.Fields(e.Reason)) < minReasonWords:
			t.Errorf("the exception for %s.%s states no reason (%q): say why it is read before any tenant is known",
				db.Config.Schema, e.Table, e.Reason)
		case !ok:
			t.Errorf("the exception for %s.%s names no table holding account_id", db.Config.Schema, e.Table)
		case tab.protected:
			t.Errorf("table %s.%s is under the tenant policy: drop its exception", db.Config.Schema, e.Table)
		case len(tab.tenantData) > 0:
			t.Errorf("table %s.%s holds tenant data (%s) and cannot be excused from the tenant policy",
				db.Config.Schema, e.Table, strings.Join(tab.tenantData, ", "))
		default:
			excused[e.Table] = true
		}
	}
	names := make([]string, 0, len(tables))
	for name := range tables {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !tables[name].protected && !excused[name] {
			t.Errorf("table %s.%s holds account_id but is not under the tenant policy", db.Config.Schema, name)
		}
	}
}

type tenantTable struct {
	protected bool
	// tenantData lists the columns that make the table unfit for an exception, with why.
	tenantData []string
}

// tenantTables reads every table of the schema holding account_id: whether the tenant policy
// guards it, and which of its columns hold character data a person typed (by name) or serve a
// text search (by index).
func tenantTables(ctx context.Context, db *DB) (map[string]tenantTable, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT c.relname,
		       c.relrowsecurity AND c.relforcerowsecurity AND EXISTS (
		           SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant'),
		       a.attname,
		       t.typcategory = 'S' OR t.typname IN ('json', 'jsonb', 'xml', 'tsvector')
		           OR (t.typcategory = 'A' AND EXISTS (SELECT 1 FROM pg_type e WHERE e.oid = t.typelem AND e.typcategory = 'S')),
		       EXISTS (
		           SELECT 1 FROM pg_index i
		           JOIN pg_class ic ON ic.oid = i.indexrelid
		           JOIN pg_am am ON am.oid = ic.relam
		           WHERE i.indrelid = c.oid AND am.amname IN ('gin', 'gist', 'spgist')
		             AND (a.attnum = ANY (i.indkey::int2[])
		                  OR (0 = ANY (i.indkey::int2[]) AND pg_get_indexdef(i.indexrelid) ~ ('\m' || a.attname || '\M'))))
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		JOIN pg_type t ON t.oid = a.atttypid
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND EXISTS (
			SELECT 1 FROM pg_attribute x WHERE x.attrelid = c.oid AND x.attname = 'account_id' AND NOT x.attisdropped)
		ORDER BY c.relname, a.attnum`, db.Config.Schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]tenantTable{}
	for rows.Next() {
		var table, column string
		var protected, character, searched bool
		if err := rows.Scan(&table, &protected, &column, &character, &searched); err != nil {
			return nil, err
		}
		tab := out[table]
		tab.protected = protected
		switch {
		case character && searched:
			tab.tenantData = append(tab.tenantData, column+" has a text-search index")
		case character && slices.ContainsFunc(strings.Split(column, "_"), func(w string) bool { return slices.Contains(tenantWords, w) }):
			tab.tenantData = append(tab.tenantData, column)
		}
		out[table] = tab
	}
	return out, rows.Err()
}
