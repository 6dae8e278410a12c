package testkit_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/postgres"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// recorder is a testing.TB that keeps the failures RequireTenantTablesProtected reports.
type recorder struct {
	testing.TB
	failures []string
}

type fatal struct{}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any) { r.failures = append(r.failures, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(fatal{})
}
func (r *recorder) Fatal(args ...any) {
	r.Error(args...)
	panic(fatal{})
}

func check(t *testing.T, db *testkit.DB, except ...testkit.Exception) []string {
	t.Helper()
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(fatal); !ok {
					panic(p)
				}
			}
		}()
		testkit.RequireTenantTablesProtected(r, db, except...)
	}()
	return r.failures
}

func fixture(t *testing.T, name string) *testkit.DB {
	return testkit.NewDB(t, "fx_"+name, "", postgres.TenancyMigrations(),
		postgres.MigrationSet{Name: "fixture", FS: os.DirFS("testdata/tenancy/" + name)})
}

const reason = "read by a worker before it knows which tenant the row belongs to"

func TestTenantTableExceptionsNeedAReasonAndHoldNoTenantData(t *testing.T) {
	fine := fixture(t, "fine")
	leaky := fixture(t, "leaky")
	valid := []testkit.Exception{{Table: "key_digests", Reason: reason}, {Table: "work_queue", Reason: reason}, {Table: "counters", Reason: reason}}
	with := func(e ...testkit.Exception) []testkit.Exception {
		return append(append([]testkit.Exception{}, valid[1:]...), e...)
	}

	cases := []struct {
		name   string
		db     *testkit.DB
		except []testkit.Exception
		want   []string // one failure containing each, and no other failure
	}{
		{"stated exceptions for id-only tables pass", fine, valid, nil},
		{"an unprotected table without an exception fails", fine, valid[:2], []string{"counters holds account_id but is not under the tenant policy"}},
		{"an exception without a reason fails", fine, with(testkit.Exception{Table: "key_digests"}),
			[]string{"key_digests states no reason", "key_digests holds account_id but is not under"}},
		{"a token reason fails", fine, with(testkit.Exception{Table: "key_digests", Reason: "by design"}),
			[]string{"key_digests states no reason", "key_digests holds account_id but is not under"}},
		{"an exception for a protected table is stale", fine, append(valid, testkit.Exception{Table: "notes", Reason: reason}),
			[]string{"notes is under the tenant policy: drop its exception"}},
		{"an exception for no such table fails", fine, append(valid, testkit.Exception{Table: "gone", Reason: reason}),
			[]string{"gone names no table"}},
		{"names cannot be excused", leaky, []testkit.Exception{{Table: "name_copy", Reason: reason}, {Table: "body_index", Reason: reason}},
			[]string{"name_copy holds tenant data (name, name_lower)", "name_copy holds account_id but is not under",
				"body_index holds tenant data (body has a text-search index)", "body_index holds account_id but is not under"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := check(t, c.db, c.except...)
			for _, w := range c.want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("no failure says %q; got %q", w, got)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("failures %q, want %d", got, len(c.want))
			}
		})
	}
}
