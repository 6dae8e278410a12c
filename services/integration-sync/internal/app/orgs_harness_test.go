package app_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// deletions stands in for the org service's deletions, which it records; the sync's other calls
// are not used by these tests (the stack tests run the real org service).
type deletions struct {
	mu sync.Mutex
	// synced and deleted are the organizations asked of DeleteSynced and Delete, in order.
	synced, deleted []string
	// callers are the identities Delete was called with.
	callers []identity.Identity
	// children go with their parent.
	children map[string][]string
	// refuse answers for an organization instead; fail answers its next calls, once each.
	refuse map[string]error
	fail   map[string][]error
	gone   map[string]bool
}

func newDeletions() *deletions {
	return &deletions{children: map[string][]string{}, refuse: map[string]error{}, fail: map[string][]error{}, gone: map[string]bool{}}
}

var errNotUsed = errors.New("not used by these tests")

func (d *deletions) CreateSynced(context.Context, string, string, string, domain.Organization) (string, error) {
	return "", errNotUsed
}

func (d *deletions) UpdateSynced(context.Context, string, string, string, domain.OrgChanges) error {
	return errNotUsed
}

func (d *deletions) DeleteSynced(_ context.Context, _, _, organizationID string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.synced = append(d.synced, organizationID)
	return d.delete(organizationID)
}

func (d *deletions) Delete(ctx context.Context, _, organizationID string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deleted = append(d.deleted, organizationID)
	id, _ := identity.From(ctx)
	d.callers = append(d.callers, id)
	return d.delete(organizationID)
}

func (d *deletions) delete(id string) ([]string, error) {
	if errs := d.fail[id]; len(errs) > 0 {
		d.fail[id] = errs[1:]
		return nil, errs[0]
	}
	if err := d.refuse[id]; err != nil {
		return nil, err
	}
	if d.gone[id] {
		return nil, apperr.NotFound("organization not found")
	}
	out := append([]string{id}, d.children[id]...)
	for _, o := range out {
		d.gone[o] = true
	}
	return out, nil
}

func (d *deletions) calls() (synced, deleted []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.synced), slices.Clone(d.deleted)
}

// link records that a cached company is linked to an organization, as mapping's event would
// (with no base yet), created by the sync or not, and tells org whether the pair syncs.
func (w *world) link(integrationID, externalID, organizationID string, createdBySync bool) {
	w.t.Helper()
	now := time.Now().UTC()
	err := store.New(w.db.Pool).InTenant(context.Background(), w.account, func(tx *store.Tx) error {
		if err := w.knowOrganization(tx, organizationID); err != nil {
			return err
		}
		if _, err := tx.SetLink(context.Background(), integrationID, externalID, organizationID); err != nil {
			return err
		}
		return tx.PublishSyncing(context.Background(), w.account, integrationID, []string{externalID}, now)
	})
	if err != nil {
		w.t.Fatal(err)
	}
	var n int
	w.superQuery(w.t, `WITH u AS (UPDATE integration_sync.external_organizations SET created_by_sync = $3, last_sync_at = $4,
			last_sync_result = 'linked' WHERE integration_id = $1 AND external_id = $2 RETURNING 1) SELECT count(*) FROM u`,
		[]any{integrationID, externalID, createdBySync, now}, &n)
	if n != 1 {
		w.t.Fatalf("no company %s to link", externalID)
	}
}

// published decodes the events of M's kind the world's account has in the outbox, in order.
func published[M proto.Message](w *world) []M {
	w.t.Helper()
	var zero M
	kind, err := events.KindOf(zero)
	if err != nil {
		w.t.Fatal(err)
	}
	subject, err := kind.SubjectFor(w.account)
	if err != nil {
		w.t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), w.db.URL)
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT payload FROM integration_sync.outbox WHERE subject = $1 ORDER BY seq`, subject)
	if err != nil {
		w.t.Fatal(err)
	}
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		w.t.Fatal(err)
	}
	out := make([]M, 0, len(payloads))
	for _, p := range payloads {
		m := zero.ProtoReflect().New().Interface().(M)
		if err := proto.Unmarshal(p, m); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// superQuery runs a query as the superuser (across row-level security) and scans its one row.
func (w *world) superQuery(t *testing.T, q string, args []any, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), w.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), q, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// fullRefresh runs a full refresh to its end and requires it to succeed.
func (w *world) fullRefresh(svc *app.Service, integrationID string) domain.Operation {
	w.t.Helper()
	op, err := svc.RefreshIntegration(w.ctx(), w.account, integrationID, domain.ModeFull)
	if err != nil {
		w.t.Fatal(err)
	}
	done := w.waitOperation(svc, op.ID, 30*time.Second, nil)
	if done.State != domain.OpSucceeded {
		w.t.Fatalf("refresh ended %v: %s %s", done.State, done.ErrorReason, done.ErrorMessage)
	}
	return done
}

// knowOrganization gives integration-sync its copy of an organization, as org's events would.
func (w *world) knowOrganization(tx *store.Tx, organizationID string) error {
	return tx.UpsertOrganization(context.Background(), domain.Organization{AccountID: w.account, ID: organizationID,
		Name: "Organization " + organizationID[:8], Active: true, Changed: time.Unix(0, 0)})
}
