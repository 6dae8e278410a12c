package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/events"
	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/services/billing/billingsvc"
	"github.com/orgplane/orgplane/services/billing/internal/app"
	"github.com/orgplane/orgplane/services/billing/internal/clients"
	"github.com/orgplane/orgplane/services/billing/internal/domain"
	"github.com/orgplane/orgplane/services/billing/internal/store"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// fakeOrg is the org service's LicenseService as the generated client sees it, with the rules of
// the real one (generations, the limit below use refused) and faults on demand. Billing talks to
// it through the real adapter (clients.Org), so the adapter's sorting of answers from failures is
// under test too.
type fakeOrg struct {
	mu     sync.Mutex
	limits map[string]*orgv1.LicenseUsage
	// calls counts SetLicenseLimit calls per account and generation.
	calls map[string]map[int64]int
	// fault, when set, decides the outcome of a call before org looks at it: apply it or not,
	// and the error the caller gets instead of the answer.
	fault func(accountID string, gen int64) (apply bool, err error)
}

func newFakeOrg() *fakeOrg {
	return &fakeOrg{limits: map[string]*orgv1.LicenseUsage{}, calls: map[string]map[int64]int{}}
}

func (f *fakeOrg) SetLicenseLimit(_ context.Context, in *orgv1.SetLicenseLimitRequest, _ ...grpc.CallOption) (*orgv1.LicenseUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	acc := in.GetAccountId()
	if f.calls[acc] == nil {
		f.calls[acc] = map[int64]int{}
	}
	f.calls[acc][in.GetGeneration()]++
	apply, ferr := true, error(nil)
	if f.fault != nil {
		apply, ferr = f.fault(acc, in.GetGeneration())
	}
	if !apply {
		return nil, ferr
	}
	cur := f.limit(acc)
	if in.GetGeneration() > 0 && in.GetGeneration() <= cur.GetGeneration() {
		return proto.Clone(cur).(*orgv1.LicenseUsage), ferr
	}
	if !in.GetUnlimited() && in.GetOrganizationLimit() < cur.GetUsed() {
		st, _ := status.New(codes.FailedPrecondition,
			fmt.Sprintf("%d organizations are active; the limit cannot go below that (deactivate some first)", cur.GetUsed())).
			WithDetails(&errdetails.ErrorInfo{Reason: "LIMIT_BELOW_USE", Domain: "orgplane.io"})
		return nil, st.Err()
	}
	cur.Unlimited, cur.OrganizationLimit, cur.Writable = in.GetUnlimited(), in.GetOrganizationLimit(), in.GetWritable()
	if cur.Unlimited {
		cur.OrganizationLimit = 0
	}
	cur.Generation = max(cur.GetGeneration(), in.GetGeneration())
	return proto.Clone(cur).(*orgv1.LicenseUsage), ferr
}

func (f *fakeOrg) GetLicenseUsage(_ context.Context, in *orgv1.GetLicenseUsageRequest, _ ...grpc.CallOption) (*orgv1.LicenseUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return proto.Clone(f.limit(in.GetAccountId())).(*orgv1.LicenseUsage), nil
}

// limit is an account's row; a new account is unlimited and writable, as in org.
func (f *fakeOrg) limit(acc string) *orgv1.LicenseUsage {
	if f.limits[acc] == nil {
		f.limits[acc] = &orgv1.LicenseUsage{Unlimited: true, Writable: true}
	}
	return f.limits[acc]
}

func (f *fakeOrg) usage(acc string) *orgv1.LicenseUsage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return proto.Clone(f.limit(acc)).(*orgv1.LicenseUsage)
}

func (f *fakeOrg) setUsed(acc string, n int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit(acc).Used = n
}

func (f *fakeOrg) setFault(fn func(acc string, gen int64) (bool, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
}

func (f *fakeOrg) callsOf(acc string, gen int64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[acc][gen]
}

var unavailable = status.Error(codes.Unavailable, "connection refused")

type harness struct {
	t     *testing.T
	db    *testkit.DB
	admin *pgx.Conn
	org   *fakeOrg
	svc   *app.Service
	now   time.Time
	// pages is shared by every replica, as the keyring is in production.
	pages *pagetoken.Sealer
}

// testConfig keeps the waits of a test short.
func testConfig() app.Config {
	return app.Config{
		Trial:          domain.TrialTerms{Limit: 25, Days: 30},
		CallTimeout:    time.Second,
		Lease:          2 * time.Second,
		Retry:          domain.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		PollInterval:   50 * time.Millisecond,
		WaitForPending: 0,
	}
}

func newHarness(t *testing.T, cfg app.Config) *harness {
	t.Helper()
	spec := billingsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	admin, err := pgx.Connect(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	h := &harness{t: t, db: db, admin: admin, org: newFakeOrg(), now: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC),
		pages: pagetoken.New([]byte("billing test page token key 32by"))}
	h.svc = h.service(cfg)
	return h
}

// service is one more replica of billing over the same database and org.
func (h *harness) service(cfg app.Config) *app.Service {
	return app.New(store.New(h.db.Pool), clients.NewOrg(h.org), func() time.Time { return h.now }, h.pages, cfg, slog.New(slog.DiscardHandler))
}

// deliver hands ev to billing's consumer durable as JetStream would, through the real consumer
// (its own transaction, processed_events), and reports whether it was applied.
func (h *harness) deliver(durable string, ev proto.Message, eventID string) bool {
	h.t.Helper()
	var spec events.ConsumerSpec
	for _, s := range h.svc.Consumers() {
		if s.Durable == durable {
			spec = s
		}
	}
	c, err := events.NewConsumer(nil, h.db.Pool, slog.New(slog.DiscardHandler), spec)
	if err != nil {
		h.t.Fatal(err)
	}
	// As the outbox writes it: the payload carries the event id the message is published under.
	ev.ProtoReflect().Set(ev.ProtoReflect().Descriptor().Fields().ByName("event_id"), protoreflect.ValueOfString(eventID))
	subject, _ := events.SubjectOf(ev)
	data, err := proto.Marshal(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	account := ev.ProtoReflect().Get(ev.ProtoReflect().Descriptor().Fields().ByName("account_id")).String()
	applied, err := c.Apply(context.Background(), events.Delivery{EventID: eventID, AccountID: account, Subject: subject,
		Type: string(ev.ProtoReflect().Descriptor().FullName()), Data: data, Attempt: 1})
	if err != nil {
		h.t.Fatalf("deliver %s: %v", subject, err)
	}
	return applied
}

// newAccount creates an account as org announces it and lets the worker start its trial.
func (h *harness) newAccount() string {
	h.t.Helper()
	acc := uuid.NewString()
	h.deliver("billing-subscriptions", &orgv1.AccountCreated{AccountId: acc, OccurredAt: timestamppb.New(h.now)}, uuid.NewString())
	if _, err := h.svc.ApplyDueIntents(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	if u := h.org.usage(acc); u.GetUnlimited() || u.GetOrganizationLimit() != 25 {
		h.t.Fatalf("trial not applied to org: %v", u)
	}
	return acc
}

func adminOf(acc string) context.Context {
	return identity.With(context.Background(), identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-1",
		AccountID: acc, UserID: "user-" + acc[:8], Permissions: []string{domain.PermRead, domain.PermWrite}})
}

var operator = identity.With(context.Background(), identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"})

func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.admin.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// changed are the subscription.changed events billing has enqueued for acc, oldest first.
func (h *harness) changed(acc string) []*billingv1.SubscriptionChanged {
	h.t.Helper()
	rows, err := h.admin.Query(context.Background(),
		`SELECT payload FROM billing.outbox WHERE account_id = $1 AND subject LIKE 'orgplane.billing.v1.%.subscription.changed' ORDER BY seq`, acc)
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*billingv1.SubscriptionChanged, error) {
		var b []byte
		if err := r.Scan(&b); err != nil {
			return nil, err
		}
		ev := &billingv1.SubscriptionChanged{}
		return ev, proto.Unmarshal(b, ev)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) subscription(acc string) domain.Subscription {
	h.t.Helper()
	s, err := h.svc.GetSubscription(adminOf(acc), acc)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) intentStatus(acc string, gen int64) string {
	h.t.Helper()
	var s string
	if err := h.admin.QueryRow(context.Background(), `SELECT status FROM billing.license_intents WHERE account_id = $1 AND generation = $2`,
		acc, gen).Scan(&s); err != nil {
		h.t.Fatalf("intent %d: %v", gen, err)
	}
	return s
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
