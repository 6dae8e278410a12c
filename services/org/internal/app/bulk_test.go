package app_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/org/internal/app"
	"github.com/orgplane/orgplane/services/org/internal/domain"
	"github.com/orgplane/orgplane/services/org/internal/store"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

// bulkEnv is an account of its own database, the use cases over it on a clock the test moves,
// and a superuser connection that sees past row-level security to count what was written.
type bulkEnv struct {
	svc   *app.Service
	acc   string
	admin *pgx.Conn
	now   *atomic.Int64 // unix nanoseconds
}

func newBulkEnv(t *testing.T, limit int) bulkEnv {
	t.Helper()
	spec := orgsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	admin, err := pgx.Connect(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	e := bulkEnv{admin: admin, now: &atomic.Int64{}}
	e.now.Store(time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.UTC).UnixNano())
	e.acc = e.account(t, "Contoso MSP", limit)
	e.svc = app.New(store.New(db.Pool), func() time.Time { return time.Unix(0, e.now.Load()).UTC() }, nil)
	return e
}

func (e bulkEnv) account(t *testing.T, name string, limit int) string {
	t.Helper()
	var acc string
	if err := e.admin.QueryRow(context.Background(), `INSERT INTO org.accounts (display_name) VALUES ($1) RETURNING id::text`, name).Scan(&acc); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.Exec(context.Background(), `INSERT INTO org.account_limits (account_id, organization_limit) VALUES ($1, $2)`, acc, limit); err != nil {
		t.Fatal(err)
	}
	return acc
}

// writer acts on acc as an API key that may create organizations.
func writer(acc string) context.Context {
	return identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "import-worker",
		AccountID: acc, Permissions: []string{"organizations:read", "organizations:write"}})
}

// written is what a bulk create leaves in the database for an account.
type written struct{ orgs, events, licenses, requests int }

func (e bulkEnv) written(t *testing.T, acc string) written {
	t.Helper()
	var w written
	err := e.admin.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM org.organizations WHERE account_id = $1),
			(SELECT count(*) FROM org.outbox WHERE account_id = $1 AND subject LIKE '%.organization.created'),
			(SELECT active_count FROM org.account_limits WHERE account_id = $1),
			(SELECT count(*) FROM org.bulk_create_requests WHERE account_id = $1)`, acc).
		Scan(&w.orgs, &w.events, &w.licenses, &w.requests)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func named(names ...string) []domain.Organization {
	out := make([]domain.Organization, len(names))
	for i, n := range names {
		out[i] = domain.Organization{Name: n, Notes: "imported from IT Glue"}
	}
	return out
}

// inUTC puts the times of orgs in one location, so equal instants compare equal (pgx reads them
// in time.Local).
func inUTC(orgs []domain.Organization) []domain.Organization {
	out := slices.Clone(orgs)
	for i := range out {
		out[i].CreatedAt, out[i].UpdatedAt, out[i].DeactivatedAt = out[i].CreatedAt.UTC(), out[i].UpdatedAt.UTC(), out[i].DeactivatedAt.UTC()
	}
	return out
}

func ids(orgs []domain.Organization) []string {
	out := make([]string, len(orgs))
	for i, o := range orgs {
		out[i] = o.ID
	}
	return out
}

const requestID = "6b3f0b8e-2f4a-4c1e-9a55-0d7c2b1e8f01"

// A repeat of a committed bulk create (the import worker after a crash) creates nothing, takes
// no license, publishes nothing, and gets the first answer back: the same organizations in its
// own request order. The license limit is exactly full after the first call, so a second
// creation could not even have succeeded.
func TestARepeatedBulkCreateCreatesNothingAndAnswersTheSame(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 3)
	ctx := writer(e.acc)

	first, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named("Acme", "Globex", "Initech"))
	if err != nil {
		t.Fatal(err)
	}
	after := e.written(t, e.acc)
	if want := (written{orgs: 3, events: 3, licenses: 3, requests: 1}); after != want {
		t.Fatalf("first bulk create wrote %+v, want %+v", after, want)
	}

	e.now.Add(int64(time.Hour)) // a retry comes later; the answer keeps the creation time
	again, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named("Acme", "Globex", "Initech"))
	if err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if !reflect.DeepEqual(inUTC(again), inUTC(first)) {
		t.Fatalf("repeat answered\n%+v\nwant the first answer\n%+v", again, first)
	}
	if w := e.written(t, e.acc); w != after {
		t.Fatalf("repeat wrote: %+v, before it %+v", w, after)
	}

	// The same names in another order: the same organizations, in this request's order.
	shuffled, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named("Initech", "Acme", "Globex"))
	if err != nil {
		t.Fatalf("reordered repeat: %v", err)
	}
	if got, want := ids(shuffled), []string{first[2].ID, first[0].ID, first[1].ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("reordered repeat answered %v, want %v", got, want)
	}
	if w := e.written(t, e.acc); w != after {
		t.Fatalf("reordered repeat wrote: %+v, before it %+v", w, after)
	}
}

// A repeat answers with the organizations as they are now: one renamed since is still matched
// by the name the request asked for, one deleted since is left out.
func TestARepeatAnswersWithTheOrganizationsAsTheyAreNow(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 10)
	ctx := writer(e.acc)
	first, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named("Acme", "Globex", "Initech"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.Exec(context.Background(), `UPDATE org.organizations SET name = 'Acme Corp' WHERE id = $1`, first[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.Exec(context.Background(), `DELETE FROM org.organizations WHERE id = $1`, first[1].ID); err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named("Acme", "Globex", "Initech"))
	if err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if len(again) != 2 || again[0].ID != first[0].ID || again[0].Name != "Acme Corp" || again[1].ID != first[2].ID {
		t.Fatalf("repeat answered %+v; want Acme Corp (renamed) and Initech, Globex (deleted) left out", again)
	}
}

// Two callers repeating the same request at the same moment: exactly one creates, every one
// gets the same organizations, none fails.
func TestConcurrentRepeatsCreateOnce(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 1000)
	ctx := writer(e.acc)
	batch := make([]string, 200)
	for i := range batch {
		batch[i] = fmt.Sprintf("Client %03d", i)
	}
	const callers = 6
	answers := make([][]string, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			<-start
			orgs, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named(batch...))
			answers[c], errs[c] = ids(orgs), err
		})
	}
	close(start)
	wg.Wait()
	for c := range callers {
		if errs[c] != nil {
			t.Fatalf("caller %d: %v", c, errs[c])
		}
		if len(answers[c]) != len(batch) || !reflect.DeepEqual(answers[c], answers[0]) {
			t.Fatalf("caller %d got %d organizations, not the same as caller 0's %d", c, len(answers[c]), len(answers[0]))
		}
	}
	if w, want := e.written(t, e.acc), (written{orgs: 200, events: 200, licenses: 200, requests: 1}); w != want {
		t.Fatalf("concurrent repeats wrote %+v, want %+v", w, want)
	}
}

// A request id already used for other names is refused (409, naming requestId) and nothing is
// created; the same id in another account is another request.
func TestARequestIDReusedForOtherNamesIsRefused(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 10)
	ctx := writer(e.acc)
	if _, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named("Acme", "Globex")); err != nil {
		t.Fatal(err)
	}
	before := e.written(t, e.acc)
	for _, other := range [][]string{{"Acme", "Umbrella"}, {"Acme"}, {"Acme", "Globex", "Umbrella"}} {
		_, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named(other...))
		ae, ok := apperr.As(err)
		if !errors.Is(err, domain.ErrRequestIDReused) || !ok || ae.Kind != apperr.KindConflict ||
			ae.Reason != "REQUEST_ID_REUSED" || ae.Field != "requestId" {
			t.Fatalf("request id reused for %v: %v", other, err)
		}
	}
	if w := e.written(t, e.acc); w != before {
		t.Fatalf("refused repeats wrote: %+v, before them %+v", w, before)
	}

	other := e.account(t, "Fabrikam MSP", 10)
	orgs, err := e.svc.BulkCreateOrganizations(writer(other), other, requestID, named("Umbrella"))
	if err != nil || len(orgs) != 1 || orgs[0].Name != "Umbrella" {
		t.Fatalf("the same request id in another account: %+v, %v", orgs, err)
	}
}

// A bulk create that fails leaves no record of its request id: the retry creates.
func TestAFailedBulkCreateDoesNotKeepItsRequestID(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 2)
	ctx := writer(e.acc)
	if _, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named("Acme", "Globex", "Initech")); apperr.KindOf(err) != apperr.KindFailedPrecondition {
		t.Fatalf("over the license limit: %v", err)
	}
	if w := e.written(t, e.acc); w != (written{}) {
		t.Fatalf("refused bulk create wrote %+v", w)
	}
	if _, err := e.admin.Exec(context.Background(), `UPDATE org.account_limits SET organization_limit = 3 WHERE account_id = $1`, e.acc); err != nil {
		t.Fatal(err)
	}
	orgs, err := e.svc.BulkCreateOrganizations(ctx, e.acc, requestID, named("Acme", "Globex", "Initech"))
	if err != nil || len(orgs) != 3 {
		t.Fatalf("retry after the limit was raised: %d organizations, %v", len(orgs), err)
	}
	if w, want := e.written(t, e.acc), (written{orgs: 3, events: 3, licenses: 3, requests: 1}); w != want {
		t.Fatalf("retry wrote %+v, want %+v", w, want)
	}
}

// Without a request id nothing is recorded and a repeat is a new request, refused because its
// names exist.
func TestWithoutARequestIDARepeatIsANewRequest(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 10)
	ctx := writer(e.acc)
	if _, err := e.svc.BulkCreateOrganizations(ctx, e.acc, "", named("Acme", "Globex")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.BulkCreateOrganizations(ctx, e.acc, "", named("Acme", "Globex")); apperr.KindOf(err) != apperr.KindConflict ||
		errors.Is(err, domain.ErrRequestIDReused) {
		t.Fatalf("repeat without a request id: %v", err)
	}
	if _, err := e.svc.BulkCreateOrganizations(ctx, e.acc, "", named("Initech")); err != nil {
		t.Fatal(err)
	}
	if w, want := e.written(t, e.acc), (written{orgs: 3, events: 3, licenses: 3}); w != want {
		t.Fatalf("bulk creates without request ids wrote %+v, want %+v", w, want)
	}
}

// Request ids are remembered for the retention period: the next recorded bulk create after it
// forgets the old ones, and only those.
func TestOldRequestIDsArePruned(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 10)
	ctx := writer(e.acc)
	const (
		oldID    = "00000000-0000-4000-8000-000000000001"
		recentID = "00000000-0000-4000-8000-000000000002"
		newID    = "00000000-0000-4000-8000-000000000003"
	)
	if _, err := e.svc.BulkCreateOrganizations(ctx, e.acc, oldID, named("Acme")); err != nil {
		t.Fatal(err)
	}
	e.now.Add(int64(6 * 24 * time.Hour))
	if _, err := e.svc.BulkCreateOrganizations(ctx, e.acc, recentID, named("Globex")); err != nil {
		t.Fatal(err)
	}
	e.now.Add(int64(domain.BulkCreateRequestRetention - 6*24*time.Hour + time.Minute))
	// A repeat of the expired id before any pruning still answers: ids last at least a week.
	if orgs, err := e.svc.BulkCreateOrganizations(ctx, e.acc, oldID, named("Acme")); err != nil || len(orgs) != 1 {
		t.Fatalf("repeat of a week-old request: %+v, %v", orgs, err)
	}
	if _, err := e.svc.BulkCreateOrganizations(ctx, e.acc, newID, named("Initech")); err != nil {
		t.Fatal(err)
	}
	rows, err := e.admin.Query(context.Background(), `SELECT request_id::text FROM org.bulk_create_requests WHERE account_id = $1 ORDER BY request_id`, e.acc)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || !reflect.DeepEqual(kept, []string{recentID, newID}) {
		t.Fatalf("kept request ids %v (%v), want the recent and the new one", kept, err)
	}
}
