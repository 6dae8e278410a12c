package events_test

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/events"
	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/postgres"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const schema = "evtest"

type harness struct {
	t    *testing.T
	ctx  context.Context
	db   *testkit.DB
	nats *testkit.NATS
	nc   *nats.Conn
	js   jetstream.JetStream
	log  *slog.Logger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sub, err := fs.Sub(os.DirFS("testdata"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, log: slog.New(slog.DiscardHandler)}
	h.db = testkit.NewDB(t, schema, "orgplane_evtest", events.Migrations(), postgres.MigrationSet{Name: "evtest", FS: sub})
	h.nats = testkit.StartNATS(t)
	h.nc, h.js, err = events.Connect(h.nats.Admin(), "test", h.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.nc.Close)
	return h
}

func (h *harness) ensureStreams() {
	h.t.Helper()
	streams, err := events.StreamsOf(&orgv1.AccountCreated{})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := events.EnsureStreams(h.ctx, h.js, streams...); err != nil {
		h.t.Fatal(err)
	}
}

// commitChange commits an event the way a service does: inside the change's transaction.
func (h *harness) commitChange(account string) string {
	h.t.Helper()
	var id string
	err := postgres.InTenantTx(h.ctx, h.db.Pool, account, func(tx pgx.Tx) error {
		var err error
		id, err = events.Enqueue(h.ctx, tx, &orgv1.AccountCreated{AccountId: account, DisplayName: "Contoso"})
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) startRelay() {
	r := events.NewRelay(h.db.Pool, h.js, h.log, schema)
	r.PollInterval = 100 * time.Millisecond
	r.AckTimeout = time.Second
	h.background(r.Run)
}

// background runs fn until the test ends and waits for it to return.
func (h *harness) background(fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = fn(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

func (h *harness) consumer() *events.Consumer {
	h.t.Helper()
	c, err := events.NewConsumer(h.js, h.db.Pool, h.log, h.consumerSpec())
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) startConsumer() {
	h.background(h.consumer().Run)
}

func (h *harness) times(eventID string) int {
	h.t.Helper()
	var n int
	err := h.db.Pool.QueryRow(h.ctx, "SELECT coalesce((SELECT times FROM received WHERE event_id = $1), 0)", eventID).Scan(&n)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) waitApplied(eventID string, within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for h.times(eventID) == 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("event %s not applied within %s", eventID, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) streamMessages() uint64 {
	h.t.Helper()
	s, err := h.js.Stream(h.ctx, "ORGPLANE_ORG")
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

func (h *harness) outboxLen() int {
	h.t.Helper()
	var n int
	if err := h.db.Pool.QueryRow(h.ctx, "SELECT count(*) FROM outbox").Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestChangeCommitsWhileNATSIsDownAndIsDeliveredAfter(t *testing.T) {
	h := newHarness(t)
	h.ensureStreams()
	h.nats.Stop()

	h.startRelay()
	id := h.commitChange(uuid.NewString()) // commits although NATS is down
	time.Sleep(500 * time.Millisecond)     // the relay tries and fails meanwhile
	if n := h.outboxLen(); n != 1 {
		t.Fatalf("outbox holds %d events during the outage, want 1", n)
	}

	h.nats.Restart(t)
	h.startConsumer()
	h.waitApplied(id, 20*time.Second)
	// The relay removes the row once JetStream acknowledged it, which may be just after the
	// consumer saw the event.
	deadline := time.Now().Add(5 * time.Second)
	for h.outboxLen() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("outbox still holds the event after delivery")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplayedPublishIsDeduplicated(t *testing.T) {
	h := newHarness(t)
	h.ensureStreams()
	r := events.NewRelay(h.db.Pool, h.js, h.log, schema)

	id := h.commitChange(uuid.NewString())
	var row struct {
		subject, account string
		payload, headers []byte
	}
	err := h.db.Pool.QueryRow(h.ctx, "SELECT subject, account_id::text, payload, headers FROM outbox WHERE event_id = $1", id).
		Scan(&row.subject, &row.account, &row.payload, &row.headers)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Drain(h.ctx); err != nil || n != 1 {
		t.Fatalf("drain: %d, %v", n, err)
	}
	// A relay that crashed after publishing but before deleting leaves the row behind.
	_, err = h.db.Pool.Exec(h.ctx, "INSERT INTO outbox (event_id, subject, account_id, payload, headers) VALUES ($1, $2, $3, $4, $5)",
		id, row.subject, row.account, row.payload, row.headers)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Drain(h.ctx); err != nil || n != 1 {
		t.Fatalf("second drain: %d, %v", n, err)
	}
	if got := h.streamMessages(); got != 1 {
		t.Fatalf("stream holds %d messages after a replayed publish, want 1", got)
	}
}

func TestConsumerAppliesARedeliveredEventOnce(t *testing.T) {
	h := newHarness(t)
	// A duplicate window this short lets the same event reach the stream twice, as it would
	// after a replay outside the window.
	_, err := h.js.CreateOrUpdateStream(h.ctx, jetstream.StreamConfig{
		Name: "ORGPLANE_ORG", Subjects: []string{"orgplane.org.v1.>"}, Duplicates: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	id, account := uuid.NewString(), uuid.NewString()
	ev := &orgv1.AccountCreated{EventId: id, AccountId: account}
	payload, err := protoMarshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		msg := nats.NewMsg("orgplane.org.v1." + account + ".account.created")
		msg.Data = payload
		msg.Header.Set(events.HeaderAccountID, account)
		msg.Header.Set(events.HeaderEventType, "orgplane.org.v1.AccountCreated")
		if _, err := h.js.PublishMsg(h.ctx, msg, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if got := h.streamMessages(); got != 2 {
		t.Fatalf("stream holds %d copies, want 2 for this test to mean anything", got)
	}
	h.startConsumer()
	h.waitApplied(id, 10*time.Second)
	// Wait until both copies are acknowledged, then check the effect happened once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := h.js.Consumer(h.ctx, "ORGPLANE_ORG", "test-received")
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("copies not acknowledged: ack floor %d", info.AckFloor.Stream)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.times(id); n != 1 {
		t.Fatalf("event applied %d times, want 1", n)
	}
}

func TestRelayDoesNotSkipALateCommit(t *testing.T) {
	h := newHarness(t)
	h.ensureStreams()
	h.startRelay()
	h.startConsumer()

	// The early transaction takes the lower sequence number but commits last.
	late, err := h.db.Pool.Begin(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	lateID, err := events.Enqueue(h.ctx, late, &orgv1.AccountCreated{AccountId: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	earlyID := h.commitChange(uuid.NewString())
	h.waitApplied(earlyID, 10*time.Second)
	if h.times(lateID) != 0 {
		t.Fatal("uncommitted event was delivered")
	}
	if err := late.Commit(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.waitApplied(lateID, 10*time.Second)
}

// Every message declared an event names itself correctly and can be enqueued: it carries the
// envelope, and its subject and stream follow from its package.
func TestDeclaredEventsCarryTheEnvelope(t *testing.T) {
	names := declaredEvents()
	if len(names) < 12 {
		t.Fatalf("found %d event messages; the org and billing events alone are 12", len(names))
	}
	h := newHarness(t)
	for _, name := range names {
		t.Run(string(name), func(t *testing.T) {
			msg, err := protoregistryFind(name)
			if err != nil {
				t.Fatal(err)
			}
			kind, err := events.KindOf(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(kind.Subject, strings.TrimSuffix(kind.Stream.Subjects[0], ">")) {
				t.Errorf("subject %s is outside its stream %v", kind.Subject, kind.Stream.Subjects)
			}
			err = postgres.InTx(h.ctx, h.db.Pool, func(tx pgx.Tx) error {
				_, err := events.Enqueue(h.ctx, tx, msg)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSubjectsAndStreamsComeFromTheEventMessages(t *testing.T) {
	for _, tc := range []struct {
		msg             proto.Message
		subject, stream string
	}{
		{&orgv1.OrganizationCreated{}, "orgplane.org.v1.*.organization.created", "ORGPLANE_ORG"},
		{&orgv1.ReviewOwnerChanged{}, "orgplane.org.v1.*.review.owner_changed", "ORGPLANE_ORG"},
		{&orgv1.AccountSettingsUpdated{}, "orgplane.org.v1.*.account_settings.updated", "ORGPLANE_ORG"},
		{&billingv1.SubscriptionChanged{}, "orgplane.billing.v1.*.subscription.changed", "ORGPLANE_BILLING"},
	} {
		k, err := events.KindOf(tc.msg)
		if err != nil || k.Subject != tc.subject || k.Stream.Name != tc.stream {
			t.Errorf("%T: %q in %q (%v), want %q in %q", tc.msg, k.Subject, k.Stream.Name, err, tc.subject, tc.stream)
		}
	}
	// The account fills the wildcard; an event of no account has a fixed token, and nothing that
	// could widen a subscription or shift the entity is accepted as an account.
	k, _ := events.KindOf(&orgv1.OrganizationCreated{})
	for account, want := range map[string]string{
		"3f2c9a4e-0d1b-4c55-9a8e-1b2c3d4e5f60": "orgplane.org.v1.3f2c9a4e-0d1b-4c55-9a8e-1b2c3d4e5f60.organization.created",
		"":                                     "orgplane.org.v1._.organization.created",
		"a.b":                                  "", "*": "", ">": "", "a b": "", "3F2C9A4E-0D1B-4C55-9A8E-1B2C3D4E5F60": "",
	} {
		got, err := k.SubjectFor(account)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("SubjectFor(%q) = %q, %v; want %q", account, got, err, want)
		}
	}
	if s, ok := events.SubjectOf(&orgv1.OrganizationCreated{AccountId: "acc-1"}); !ok || s != "orgplane.org.v1.acc-1.organization.created" {
		t.Errorf("SubjectOf = %q, %v", s, ok)
	}
	if _, err := events.KindOf(&orgv1.Organization{}); err == nil {
		t.Error("a message without the event option was taken for an event")
	}
	if _, err := events.NewConsumer(nil, nil, slog.New(slog.DiscardHandler), events.ConsumerSpec{Durable: "x-mixed",
		Handlers: []events.Handler{
			events.On(func(context.Context, pgx.Tx, *orgv1.OrganizationCreated) error { return nil }),
			events.On(func(context.Context, pgx.Tx, *billingv1.SubscriptionChanged) error { return nil }),
		}}); err == nil {
		t.Error("a consumer reading two streams was accepted")
	}
	if _, err := events.NewConsumer(nil, nil, slog.New(slog.DiscardHandler), events.ConsumerSpec{Durable: "x-bad",
		Handlers: []events.Handler{events.On(func(context.Context, pgx.Tx, *orgv1.Organization) error { return nil })}}); err == nil {
		t.Error("a consumer of a message that is no event was accepted")
	}
}

// With several workers, events of different accounts are applied at the same time while each
// account's events keep their stream order.
func TestConcurrentConsumerKeepsEachAccountInOrder(t *testing.T) {
	h := newHarness(t)
	h.ensureStreams()
	accounts := []string{uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()}
	const perAccount = 15
	for i := range perAccount {
		for _, a := range accounts {
			err := postgres.InTenantTx(h.ctx, h.db.Pool, a, func(tx pgx.Tx) error {
				_, err := events.Enqueue(h.ctx, tx, &orgv1.AccountCreated{AccountId: a, DisplayName: fmt.Sprint(i)})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var (
		mu             sync.Mutex
		seen           = map[string][]string{}
		inFlight, peak int
		total          int
		allApplied     = make(chan struct{})
		first          sync.Once
	)
	c, err := events.NewConsumer(h.js, h.db.Pool, h.log, events.ConsumerSpec{
		Durable: "test-ordered", Concurrency: 4,
		Handlers: []events.Handler{events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.AccountCreated) error {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			// The first event is held until another is applied beside it: with several workers an
			// event of another account comes in meanwhile, with one none can. (Short random
			// sleeps alone left the overlap to chance on a loaded machine.)
			first.Do(func() {
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
					mu.Lock()
					overlapped := peak >= 2
					mu.Unlock()
					if overlapped {
						return
					}
				}
			})
			time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			inFlight--
			seen[ev.GetAccountId()] = append(seen[ev.GetAccountId()], ev.GetDisplayName())
			if total++; total == perAccount*len(accounts) {
				close(allApplied)
			}
			return nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.startRelay()
	h.background(c.Run)
	select {
	case <-allApplied:
	case <-time.After(30 * time.Second):
		t.Fatal("events not all applied")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range accounts {
		for i, v := range seen[a] {
			if v != fmt.Sprint(i) {
				t.Fatalf("account %s applied in order %v", a, seen[a])
			}
		}
	}
	if peak < 2 {
		t.Errorf("at most %d event applied at once with 4 workers", peak)
	}
}
