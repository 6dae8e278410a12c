package events_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// deadLettered reads orgplane.events.dead_lettered for durable, by reason.
func deadLettered(t *testing.T, durable string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := meterReader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != "orgplane.events.dead_lettered" || !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				if v, _ := dp.Attributes.Value(attribute.Key("consumer")); v.AsString() == durable {
					r, _ := dp.Attributes.Value(attribute.Key("reason"))
					out[r.AsString()] += dp.Value
				}
			}
		}
	}
	return out
}

// recordingSpec is the harness's consumer with a handler that first asks fail whether to refuse.
func (h *harness) recordingSpec(durable string, fail func(ev *orgv1.AccountCreated) error) events.ConsumerSpec {
	spec := h.consumerSpec()
	spec.Durable = durable
	spec.RetryBackoff, spec.MaxRetryBackoff = time.Millisecond, 5*time.Millisecond
	spec.Handlers = []events.Handler{events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.AccountCreated) error {
		if err := fail(ev); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO received (event_id, account_id, times) VALUES ($1, $2, 1)
			ON CONFLICT (event_id) DO UPDATE SET times = received.times + 1`, ev.GetEventId(), ev.GetAccountId())
		return err
	})}
	return spec
}

// A transient fault that outlasts the old schedule (20 deliveries, about 190 s of a Postgres
// outage) is waited out: the event is applied once the fault goes, never terminated. The
// backoff is shortened so 60 failed attempts take well under a second.
func TestConsumerRetriesATransientFaultForAsLongAsItLasts(t *testing.T) {
	installMeter()
	h := newHarness(t)
	h.ensureStreams()
	const outage = 60 // failed attempts, three times the old limit
	var attempts atomic.Int64
	spec := h.recordingSpec("test-outage", func(*orgv1.AccountCreated) error {
		if attempts.Add(1) <= outage {
			return errors.New("failed to connect to `host=127.0.0.1`: dial error: connection refused")
		}
		return nil
	})
	c, err := events.NewConsumer(h.js, h.db.Pool, h.log, spec)
	if err != nil {
		t.Fatal(err)
	}
	id := h.commitChange(uuid.NewString())
	h.startRelay()
	h.background(c.Run)
	h.waitApplied(id, 20*time.Second)
	if n := attempts.Load(); n <= outage {
		t.Fatalf("applied after %d attempts, want more than %d", n, outage)
	}
	if got := deadLettered(t, "test-outage"); len(got) != 0 {
		t.Fatalf("a transient fault was dead-lettered: %v", got)
	}
}

// An event that can never be applied (undecodable, or a handler error marked permanent) is set
// aside in the dead-letter stream under its consumer and reason, counted, and does not hold up
// the events behind it; once the cause is fixed, ReplayDeadLetters gets it applied, once.
func TestPoisonEventsAreDeadLetteredAndReplayed(t *testing.T) {
	installMeter()
	h := newHarness(t)
	h.ensureStreams()
	const durable = "test-poison"
	account := uuid.NewString()
	var broken atomic.Bool
	broken.Store(true)
	var refused atomic.Value
	spec := h.recordingSpec(durable, func(ev *orgv1.AccountCreated) error {
		if ev.GetDisplayName() == "refused" && broken.Load() {
			refused.Store(ev.GetEventId())
			return events.Permanent(errors.New("display name refused by a rule"))
		}
		return nil
	})
	c, err := events.NewConsumer(h.js, h.db.Pool, h.log, spec)
	if err != nil {
		t.Fatal(err)
	}
	accountCreated, _ := events.KindOf(&orgv1.AccountCreated{})
	undecodable := forged(t, accountCreated, account)
	undecodable.Data = []byte{0xff, 0xff, 0xff}
	if _, err := h.js.PublishMsg(h.ctx, undecodable); err != nil {
		t.Fatal(err)
	}
	poisonID := h.commitEvent(&orgv1.AccountCreated{AccountId: account, DisplayName: "refused"})
	goodID := h.commitEvent(&orgv1.AccountCreated{AccountId: account, DisplayName: "fine"})
	h.startRelay()
	h.background(c.Run)
	h.waitApplied(goodID, 30*time.Second) // behind both poison events of the same account

	dls := h.waitDeadLetters(durable, 2)
	reasons := map[string]events.DeadLetter{}
	for _, dl := range dls {
		reasons[dl.Reason] = dl
	}
	if dl, ok := reasons["permanent"]; !ok || dl.EventID != poisonID || dl.Detail != "display name refused by a rule" ||
		dl.Consumer != durable || dl.Subject != "orgplane.org.v1."+account+".account.created" {
		t.Errorf("permanent dead letter: %+v (all: %+v)", dl, dls)
	}
	if dl, ok := reasons["undecodable"]; !ok || dl.EventID != undecodable.Header.Get(jetstream.MsgIDHeader) || dl.Detail == "" {
		t.Errorf("undecodable dead letter: %+v (all: %+v)", dl, dls)
	}
	if got := deadLettered(t, durable); got["permanent"] != 1 || got["undecodable"] != 1 {
		t.Errorf("orgplane.events.dead_lettered = %v, want one permanent and one undecodable", got)
	}
	if h.times(poisonID) != 0 {
		t.Fatal("the refused event was applied")
	}
	// The subject names the consumer and the reason, so an operator can filter on either.
	if n := h.streamSubjectCount(events.DeadLetterStream, events.DeadLetterSubject(durable, "permanent")); n != 1 {
		t.Errorf("%d messages on %s, want 1", n, events.DeadLetterSubject(durable, "permanent"))
	}

	// The rule is fixed; the replay applies the refused event. The undecodable one is set aside again.
	broken.Store(false)
	n, err := events.ReplayDeadLetters(h.ctx, h.js, durable)
	if err != nil || n != 2 {
		t.Fatalf("replayed %d, %v; want 2", n, err)
	}
	h.waitApplied(poisonID, 30*time.Second)
	again := h.waitDeadLetters(durable, 1)
	if again[0].Reason != "undecodable" {
		t.Errorf("after the replay: %+v, want the undecodable event alone", again)
	}
	// Replaying twice does not apply twice.
	if _, err := events.ReplayDeadLetters(h.ctx, h.js, durable); err != nil {
		t.Fatal(err)
	}
	h.waitDeadLetters(durable, 1)
	if n := h.times(poisonID); n != 1 {
		t.Fatalf("replayed event applied %d times, want 1", n)
	}
}

func (h *harness) commitEvent(ev *orgv1.AccountCreated) string {
	h.t.Helper()
	m := proto.Clone(ev)
	var id string
	err := pgx.BeginFunc(h.ctx, h.db.Pool, func(tx pgx.Tx) error {
		var err error
		id, err = events.Enqueue(h.ctx, tx, m)
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// waitDeadLetters waits until durable has exactly n dead letters and returns them.
func (h *harness) waitDeadLetters(durable string, n int) []events.DeadLetter {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		dls, err := events.ListDeadLetters(h.ctx, h.js, durable)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(dls) == n {
			return dls
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d dead letters of %s, want %d: %+v", len(dls), durable, n, dls)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) streamSubjectCount(stream, subject string) uint64 {
	h.t.Helper()
	s, err := h.js.Stream(h.ctx, stream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(h.ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// A consumer with only its own service's credential can create the dead-letter stream and set
// its events aside there, and cannot write another consumer's dead letters.
func TestConsumerDeadLettersWithItsOwnCredential(t *testing.T) {
	h := newHarness(t)
	h.ensureStreams()
	spec := h.recordingSpec("billing-poisoned", func(*orgv1.AccountCreated) error {
		return events.Permanent(errors.New("never"))
	})
	perms, err := events.ServicePermissions("billing", nil, []events.ConsumerSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := events.Connect(h.nats.As(t, "billing", perms), "billing", h.log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, err := events.NewConsumer(js, h.db.Pool, h.log, spec)
	if err != nil {
		t.Fatal(err)
	}
	id := h.commitChange(uuid.NewString())
	h.startRelay()
	h.background(c.Run)
	dls := h.waitDeadLetters("billing-poisoned", 1)
	if dls[0].EventID != id || dls[0].Reason != "permanent" {
		t.Fatalf("dead letter %+v, want event %s for permanent", dls[0], id)
	}
	ctx, cancel := context.WithTimeout(h.ctx, 2*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, events.DeadLetterSubject("mapping-links", "permanent"), []byte("x")); err == nil {
		t.Error("billing wrote a dead letter of mapping's consumer")
	}
}
