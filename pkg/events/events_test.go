package events_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/testkit"
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
	h.nc, h.js, err = events.Connect(h.nats.URL, "test", h.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.nc.Close)
	return h
}

func (h *harness) ensureStreams() {
	h.t.Helper()
	if err := events.EnsureStreams(h.ctx, h.js, events.Streams()...); err != nil {
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
	return events.NewConsumer(h.js, h.db.Pool, h.log, events.ConsumerSpec{
		Stream:   "ORGPLANE_ORG",
		Durable:  "test-received",
		Subjects: []string{events.SubjectAccountCreated},
		AckWait:  2 * time.Second,
		Handler: func(ctx context.Context, tx pgx.Tx, d events.Delivery) error {
			var ev orgv1.AccountCreated
			if err := d.Decode(&ev); err != nil {
				return err
			}
			if ev.GetEventId() != d.EventID || ev.GetAccountId() != d.AccountID {
				h.t.Errorf("envelope %s/%s does not match headers %s/%s", ev.GetEventId(), ev.GetAccountId(), d.EventID, d.AccountID)
			}
			_, err := tx.Exec(ctx, `INSERT INTO received (event_id, account_id, times) VALUES ($1, $2, 1)
				ON CONFLICT (event_id) DO UPDATE SET times = received.times + 1`, d.EventID, d.AccountID)
			return err
		},
	})
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
	payload := []byte{}
	ev := &orgv1.AccountCreated{EventId: id, AccountId: account}
	payload, err = protoMarshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		msg := nats.NewMsg(events.SubjectAccountCreated)
		msg.Data = payload
		msg.Header.Set(events.HeaderAccountID, account)
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

func TestRegisteredEventsCarryTheEnvelope(t *testing.T) {
	for name := range events.Registered() {
		t.Run(string(name), func(t *testing.T) {
			h := newHarness(t)
			err := postgres.InTx(h.ctx, h.db.Pool, func(tx pgx.Tx) error {
				mt, err := protoregistryFind(name)
				if err != nil {
					return err
				}
				_, err = events.Enqueue(h.ctx, tx, mt)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
