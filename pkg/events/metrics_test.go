package events_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orgplane/orgplane/pkg/events"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/observability"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// point reads the value of the data point of metric name whose attributes include labels, and
// whether there is one (a series that is missing must fail a test as surely as a wrong value).
func point(t *testing.T, name string, labels ...attribute.KeyValue) (float64, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := meterReader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	has := func(set attribute.Set) bool {
		for _, l := range labels {
			if v, ok := set.Value(l.Key); !ok || v != l.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					if has(dp.Attributes) {
						return float64(dp.Value), true
					}
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					if has(dp.Attributes) {
						return dp.Value, true
					}
				}
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if has(dp.Attributes) {
						return float64(dp.Value), true
					}
				}
			}
		}
	}
	return 0, false
}

func mustPoint(t *testing.T, name string, labels ...attribute.KeyValue) float64 {
	t.Helper()
	v, ok := point(t, name, labels...)
	if !ok {
		t.Fatalf("no %s%v series", name, labels)
	}
	return v
}

// eventually polls cond until it holds or 10 s have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The outbox gauges read the table: rows left unpublished are the backlog, the oldest one's age
// grows while it waits, and both fall to 0 once the relay has published them. Publishes that
// fail while NATS is away are counted, and so are the events published after it is back.
func TestOutboxMetricsFollowTheBacklog(t *testing.T) {
	events.RefreshProbesEveryCollection(t)
	installMeter()
	h := newHarness(t)
	h.ensureStreams()
	service := "svc-" + uuid.NewString()[:8]
	svc := attribute.String("service", service)

	r := events.NewRelay(h.db.Pool, h.js, h.log, schema)
	r.Service = service
	r.AckTimeout = 300 * time.Millisecond
	stop, err := r.Observe()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, name := range []string{"orgplane.outbox.backlog_events", "orgplane.outbox.oldest_age",
		"orgplane.outbox.published_events", "orgplane.outbox.publish_errors"} {
		if v := mustPoint(t, name, svc); v != 0 {
			t.Errorf("%s = %v before anything happened", name, v)
		}
	}

	for range 3 {
		h.commitChange(uuid.NewString())
	}
	if v := mustPoint(t, "orgplane.outbox.backlog_events", svc); v != 3 {
		t.Fatalf("backlog = %v, want the 3 unpublished rows", v)
	}
	first := mustPoint(t, "orgplane.outbox.oldest_age", svc)
	time.Sleep(1100 * time.Millisecond)
	if later := mustPoint(t, "orgplane.outbox.oldest_age", svc); first <= 0 || later < first+1 || later > 30 {
		t.Fatalf("oldest age went from %v to %v over a second; want it positive and growing with the wait", first, later)
	}

	h.nats.Stop()
	if _, err := r.Drain(h.ctx); err == nil {
		t.Fatal("a pass with NATS down succeeded")
	}
	if v := mustPoint(t, "orgplane.outbox.publish_errors", svc); v < 1 {
		t.Errorf("publish errors = %v after a failed pass", v)
	}
	if v := mustPoint(t, "orgplane.outbox.backlog_events", svc); v != 3 {
		t.Errorf("backlog = %v after a failed pass, want still 3", v)
	}

	h.nats.Restart(t)
	eventually(t, "relay publishes after NATS is back", func() bool {
		_, _ = r.Drain(h.ctx)
		return h.outboxLen() == 0
	})
	if v := mustPoint(t, "orgplane.outbox.published_events", svc); v != 3 {
		t.Errorf("published = %v, want 3", v)
	}
	if b, a := mustPoint(t, "orgplane.outbox.backlog_events", svc), mustPoint(t, "orgplane.outbox.oldest_age", svc); b != 0 || a != 0 {
		t.Errorf("backlog %v, oldest age %v once published; want 0 and 0", b, a)
	}
	stop()
	if _, ok := point(t, "orgplane.outbox.backlog_events", svc); ok {
		t.Error("the backlog of a stopped relay is still reported")
	}
}

// A consumer's gauges come from JetStream's view of it: while its handler is held up the events
// wait (pending, unacknowledged) and the lag grows; once they are applied all three are 0, and
// every delivery is counted by its outcome, the retried attempts included.
func TestConsumerMetricsFollowItsBacklog(t *testing.T) {
	events.RefreshProbesEveryCollection(t)
	installMeter()
	h := newHarness(t)
	h.ensureStreams()
	durable := "test-metrics-" + uuid.NewString()[:8]
	labels := []attribute.KeyValue{attribute.String("consumer", durable), attribute.String("stream", "ORGPLANE_ORG")}
	outcome := func(o string) float64 {
		return mustPoint(t, "orgplane.events.consumed", attribute.String("consumer", durable), attribute.String("outcome", o))
	}

	release := make(chan struct{})
	var failures atomic.Int32
	spec := h.recordingSpec(durable, func(*orgv1.AccountCreated) error {
		<-release
		if failures.Add(1) <= 2 {
			return errors.New("a transient fault")
		}
		return nil
	})
	c, err := events.NewConsumer(h.js, h.db.Pool, h.log, spec)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.commitChange(uuid.NewString())
	}
	r := events.NewRelay(h.db.Pool, h.js, h.log, schema)
	if n, err := r.Drain(h.ctx); err != nil || n != 3 {
		t.Fatalf("published %d: %v", n, err)
	}
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	h.background(c.Run)
	t.Cleanup(free) // before the consumer is stopped, or its held-up handler would never return

	eventually(t, "the consumer's backlog shows", func() bool {
		p, ok1 := point(t, "orgplane.consumer.pending_events", labels...)
		a, ok2 := point(t, "orgplane.consumer.ack_pending_events", labels...)
		return ok1 && ok2 && p+a == 3 && a >= 1
	})
	if v := mustPoint(t, "orgplane.consumer.redelivered_events", labels...); v != 0 {
		t.Errorf("redelivered = %v, want 0", v)
	}
	for _, o := range []string{events.OutcomeOK, events.OutcomeRetried, events.OutcomeRejected, events.OutcomeDeadLettered} {
		if v := outcome(o); v != 0 {
			t.Errorf("consumed{outcome=%s} = %v before anything was handled", o, v)
		}
	}
	eventually(t, "the lag grows while events wait", func() bool {
		return mustPoint(t, "orgplane.consumer.lag", labels...) >= 1
	})

	free()
	eventually(t, "the consumer catches up", func() bool {
		return mustPoint(t, "orgplane.consumer.pending_events", labels...) == 0 &&
			mustPoint(t, "orgplane.consumer.ack_pending_events", labels...) == 0 &&
			mustPoint(t, "orgplane.consumer.lag", labels...) == 0
	})
	if ok, retried := outcome(events.OutcomeOK), outcome(events.OutcomeRetried); ok != 3 || retried != 2 {
		t.Errorf("consumed ok = %v, retried = %v; want 3 and 2", ok, retried)
	}
}

// The relay publishes each event in a span that is the child of the request that wrote it, and
// the message carries that span's context: the consumer's span is the publish span's child, all
// in the request's trace.
func TestPublishSpanLinksTheRequestToItsConsumer(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(observability.Propagator())
	h := newHarness(t)
	h.ensureStreams()

	ctx, request := otel.Tracer("test").Start(h.ctx, "request")
	account := uuid.NewString()
	id := h.commitChangeCtx(ctx, account)
	request.End()
	r := events.NewRelay(h.db.Pool, h.js, h.log, schema)
	if n, err := r.Drain(h.ctx); err != nil || n != 1 {
		t.Fatalf("published %d: %v", n, err)
	}
	h.startConsumer()
	h.waitApplied(id, 10*time.Second)

	var publish, consume sdktrace.ReadOnlySpan
	eventually(t, "the consumer span ends", func() bool {
		for _, s := range spans.Ended() {
			switch {
			case s.Name() == "publish orgplane.org.v1."+account+".account.created":
				publish = s
			case s.Name() == "consume orgplane.org.v1."+account+".account.created":
				consume = s
			}
		}
		return publish != nil && consume != nil
	})
	want := request.SpanContext()
	if publish.SpanKind() != trace.SpanKindProducer || publish.Parent().SpanID() != want.SpanID() || publish.SpanContext().TraceID() != want.TraceID() {
		t.Errorf("publish span %s (kind %s) has parent %s; want a producer span below the request %s",
			publish.SpanContext().SpanID(), publish.SpanKind(), publish.Parent().SpanID(), want.SpanID())
	}
	if consume.Parent().SpanID() != publish.SpanContext().SpanID() || consume.SpanContext().TraceID() != want.TraceID() {
		t.Errorf("consumer span has parent %s in trace %s; want the publish span %s in trace %s",
			consume.Parent().SpanID(), consume.SpanContext().TraceID(), publish.SpanContext().SpanID(), want.TraceID())
	}
}

// commitChangeCtx is commitChange within ctx, the request's trace.
func (h *harness) commitChangeCtx(ctx context.Context, account string) string {
	h.t.Helper()
	var id string
	err := postgres.InTenantTx(ctx, h.db.Pool, account, func(tx pgx.Tx) error {
		var err error
		id, err = events.Enqueue(ctx, tx, &orgv1.AccountCreated{AccountId: account, DisplayName: "Contoso"})
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}
