package events_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

var (
	meterOnce   sync.Once
	meterReader *sdkmetric.ManualReader
)

// rejections reads orgplane.events.rejected for durable, by reason. The reader is installed
// before any consumer of these tests is made.
func rejections(t *testing.T, durable string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := meterReader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != "orgplane.events.rejected" || !ok {
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

func installMeter() {
	meterOnce.Do(func() {
		meterReader = sdkmetric.NewManualReader()
		otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(meterReader)))
	})
}

// Messages that sit in the producer's stream but that its outbox could not have written (the
// stream is only as trustworthy as everyone holding the producer's rights, or an administrator's
// mistake) are terminated at first sight, logged and counted, never applied, and never block
// the events behind them.
func TestConsumerTerminatesEventsItsProducerCouldNotHavePublished(t *testing.T) {
	installMeter()
	h := newHarness(t)
	h.ensureStreams()
	account, other := uuid.NewString(), uuid.NewString()
	accountCreated, _ := events.KindOf(&orgv1.AccountCreated{})
	event := func(edit func(m *nats.Msg, ev *orgv1.AccountCreated)) *nats.Msg {
		m := forged(t, accountCreated, account)
		ev := &orgv1.AccountCreated{EventId: m.Header.Get(jetstream.MsgIDHeader), AccountId: account}
		m.Data = nil
		edit(m, ev)
		if m.Data == nil {
			m.Data, _ = proto.Marshal(ev)
		}
		return m
	}
	bad := []struct {
		name, reason string
		msg          *nats.Msg
	}{
		{"another event's type", "type_mismatch", event(func(m *nats.Msg, _ *orgv1.AccountCreated) {
			m.Header.Set(events.HeaderEventType, "orgplane.org.v1.OrganizationDeleted")
		})},
		{"no type", "type_mismatch", event(func(m *nats.Msg, _ *orgv1.AccountCreated) { m.Header.Del(events.HeaderEventType) })},
		{"headers of another account than the subject", "account_mismatch", event(func(m *nats.Msg, ev *orgv1.AccountCreated) {
			m.Header.Set(events.HeaderAccountID, other)
			ev.AccountId = other
		})},
		{"payload of another account", "envelope_mismatch", event(func(_ *nats.Msg, ev *orgv1.AccountCreated) { ev.AccountId = other })},
		{"payload of another event id", "envelope_mismatch", event(func(_ *nats.Msg, ev *orgv1.AccountCreated) { ev.EventId = uuid.NewString() })},
		{"no event id", "no_event_id", event(func(m *nats.Msg, _ *orgv1.AccountCreated) { m.Header.Del(jetstream.MsgIDHeader) })},
		{"undecodable payload", "undecodable", event(func(m *nats.Msg, _ *orgv1.AccountCreated) { m.Data = []byte{0xff, 0xff, 0xff} })},
	}
	for _, b := range bad {
		if _, err := h.js.PublishMsg(h.ctx, b.msg); err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
	}
	good := event(func(*nats.Msg, *orgv1.AccountCreated) {})
	if _, err := h.js.PublishMsg(h.ctx, good); err != nil {
		t.Fatal(err)
	}
	h.startConsumer()
	h.waitApplied(good.Header.Get(jetstream.MsgIDHeader), 10*time.Second)
	h.waitAcked("test-received", uint64(len(bad)+1))

	var applied int
	if err := h.db.Pool.QueryRow(h.ctx, "SELECT count(*) FROM received").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("%d events applied; want only the good one", applied)
	}
	want := map[string]int64{}
	for _, b := range bad {
		want[b.reason]++
	}
	got := rejections(t, "test-received")
	for reason, n := range want {
		if got[reason] != n {
			t.Errorf("orgplane.events.rejected{reason=%q} = %d, want %d (all: %v)", reason, got[reason], n, got)
		}
	}
}

// Subjects that do not belong to the stream's owner, or that name no event the consumer
// handles, are refused before anything is read or written.
func TestConsumerRefusesSubjectsOutsideItsProducer(t *testing.T) {
	h := newHarness(t)
	c := h.consumer()
	account := uuid.NewString()
	ev := &orgv1.AccountCreated{EventId: uuid.NewString(), AccountId: account}
	data, _ := proto.Marshal(ev)
	for subject, reason := range map[string]string{
		"orgplane.billing.v1." + account + ".account.created":  "foreign_subject",
		"orgplane.org.v2." + account + ".account.created":      "foreign_subject",
		"orgplane.org.v1.account.created":                      "foreign_subject",
		"orgplane.org.v1.*.account.created":                    "foreign_subject",
		"evil.org.v1." + account + ".account.created":          "foreign_subject",
		"orgplane.org.v1." + account + ".organization.created": "unknown_subject",
	} {
		_, err := c.Apply(h.ctx, events.Delivery{EventID: ev.EventId, AccountID: account, Subject: subject,
			Type: "orgplane.org.v1.AccountCreated", Data: data})
		var rej *events.Rejection
		if !errors.As(err, &rej) || rej.Reason != reason {
			t.Errorf("%s: %v; want a rejection for %s", subject, err, reason)
		}
	}
	if n := h.times(ev.EventId); n != 0 {
		t.Fatalf("a refused delivery was applied %d times", n)
	}
	// The subject the producer uses is accepted.
	subject, _ := events.SubjectOf(ev)
	if applied, err := c.Apply(h.ctx, events.Delivery{EventID: ev.EventId, AccountID: account, Subject: subject,
		Type: "orgplane.org.v1.AccountCreated", Data: data}); err != nil || !applied {
		t.Fatalf("the producer's own subject: applied %v, %v", applied, err)
	}
}

// An outbox row written before subjects carried the account (an upgrade with events waiting)
// goes out on the account-bearing subject, so consumers filtering on it still receive it.
func TestRelayPutsTheAccountIntoLegacyOutboxRows(t *testing.T) {
	h := newHarness(t)
	h.ensureStreams()
	account := uuid.NewString()
	ev := &orgv1.AccountCreated{EventId: uuid.NewString(), AccountId: account}
	data, _ := proto.Marshal(ev)
	_, err := h.db.Pool.Exec(h.ctx, `INSERT INTO outbox (event_id, subject, account_id, payload, headers)
		VALUES ($1, 'orgplane.org.v1.account.created', $2, $3, '{"Orgplane-Event-Type": "orgplane.org.v1.AccountCreated"}')`,
		ev.EventId, account, data)
	if err != nil {
		t.Fatal(err)
	}
	h.startRelay()
	h.startConsumer()
	h.waitApplied(ev.EventId, 10*time.Second)
}
