package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/orgplane/orgplane/pkg/observability"
)

// The metrics an operator alerts on (docs/observability.md names them as Prometheus scrapes
// them). Instrument names are chosen so that the Prometheus translation (dots to underscores,
// the unit s as _seconds, _total on counters) gives exactly those names.
const (
	meterName = "orgplane/events"

	// Outcomes of orgplane_events_consumed_total: each delivery ends as ok (applied, or a
	// duplicate acknowledged), rejected (refused as one its producer could not have published)
	// or dead_lettered (its handler refused it for good); rejected and dead-lettered events are
	// both set aside in the dead-letter stream. retried counts failed attempts that are tried
	// again.
	OutcomeOK           = "ok"
	OutcomeRetried      = "retried"
	OutcomeRejected     = "rejected"
	OutcomeDeadLettered = "dead_lettered"
)

var outcomes = []string{OutcomeOK, OutcomeRetried, OutcomeRejected, OutcomeDeadLettered}

// outboxState is what one look at the outbox finds.
type outboxState struct {
	backlog int64
	// oldest is when the oldest unpublished row was written, by this process's clock (the
	// database's age of the row, taken from the time of the look); zero when empty.
	oldest time.Time
}

// Observe exports the relay's metrics, labelled service=r.Service, until stop is called:
// orgplane_outbox_backlog_events and orgplane_outbox_oldest_age_seconds (read from the outbox
// table when collected, at most once per outboxProbeTTL), and the counters
// orgplane_outbox_published_events_total and orgplane_outbox_publish_errors_total. Call it
// before Run, and independently of it: the backlog is what matters most while the relay
// cannot publish at all.
func (r *Relay) Observe() (stop func(), err error) {
	m := otel.Meter(meterName)
	published, err := m.Int64Counter("orgplane.outbox.published_events", metric.WithUnit("{event}"),
		metric.WithDescription("Events the outbox relay published and JetStream acknowledged."))
	if err != nil {
		return nil, err
	}
	failed, err := m.Int64Counter("orgplane.outbox.publish_errors", metric.WithUnit("{event}"),
		metric.WithDescription("Outbox events whose publish failed (NATS unreachable, no acknowledgement in time); they are published again."))
	if err != nil {
		return nil, err
	}
	backlog, err := m.Int64ObservableGauge("orgplane.outbox.backlog_events", metric.WithUnit("{event}"),
		metric.WithDescription("Outbox rows committed but not yet published."))
	if err != nil {
		return nil, err
	}
	age, err := m.Float64ObservableGauge("orgplane.outbox.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest unpublished outbox row; 0 when the outbox is empty."))
	if err != nil {
		return nil, err
	}
	labels := metric.WithAttributes(attribute.String("service", r.Service))
	r.published, r.failed, r.labels = published, failed, labels
	ctx := context.Background()
	published.Add(ctx, 0, labels)
	failed.Add(ctx, 0, labels)

	p := observability.NewProbe(outboxProbeTTL, func(ctx context.Context) (outboxState, error) {
		// Committed rows only (the relay's locks do not block a count), and the age by the
		// database's clock, which wrote created_at. The oldest row is the lowest seq: an index
		// lookup, where min(created_at) would read the whole table.
		var st outboxState
		var ageSeconds float64
		err := r.pool.QueryRow(ctx, `SELECT count(*),
				coalesce(extract(epoch FROM clock_timestamp() - (SELECT created_at FROM outbox ORDER BY seq LIMIT 1)), 0)::float8
			FROM outbox`).Scan(&st.backlog, &ageSeconds)
		if err != nil {
			r.log.Debug("cannot read the outbox for its metrics", "schema", r.schema, "error", err)
			return st, err
		}
		if st.backlog > 0 {
			st.oldest = time.Now().Add(-time.Duration(ageSeconds * float64(time.Second)))
		}
		return st, nil
	})
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := p.Get()
		o.ObserveInt64(backlog, st.backlog, labels)
		var seconds float64
		if !st.oldest.IsZero() {
			seconds = time.Since(st.oldest).Seconds()
		}
		o.ObserveFloat64(age, seconds, labels)
		return nil
	}, backlog, age)
	if err != nil {
		return nil, fmt.Errorf("outbox metrics: %w", err)
	}
	return func() { _ = reg.Unregister() }, nil
}

// consumerState is what one look at a durable consumer finds.
type consumerState struct {
	pending, ackPending, redelivered int64
	// behindSince is when the consumer last acknowledged (or was last seen caught up, or was
	// created, whichever is latest) while events wait for it; zero when it is caught up.
	behindSince time.Time
}

// observe exports the consumer's gauges (orgplane_consumer_*, labelled consumer and stream,
// read from JetStream's consumer info at most every consumerProbeTTL) and starts
// orgplane_events_consumed_total at 0 for each outcome, until stop is called.
func (c *Consumer) observe() (stop func(), err error) {
	m := otel.Meter(meterName)
	pending, err := m.Int64ObservableGauge("orgplane.consumer.pending_events", metric.WithUnit("{event}"),
		metric.WithDescription("Events in the stream that match the consumer and were not yet delivered to it."))
	if err != nil {
		return nil, err
	}
	ackPending, err := m.Int64ObservableGauge("orgplane.consumer.ack_pending_events", metric.WithUnit("{event}"),
		metric.WithDescription("Events delivered to the consumer and not yet acknowledged."))
	if err != nil {
		return nil, err
	}
	redelivered, err := m.Int64ObservableGauge("orgplane.consumer.redelivered_events", metric.WithUnit("{event}"),
		metric.WithDescription("Events being delivered again (not acknowledged in time, or the consumer restarted)."))
	if err != nil {
		return nil, err
	}
	lag, err := m.Float64ObservableGauge("orgplane.consumer.lag", metric.WithUnit("s"),
		metric.WithDescription("Seconds since the consumer last acknowledged an event, while events wait for it; 0 when caught up."))
	if err != nil {
		return nil, err
	}
	labels := metric.WithAttributes(attribute.String("consumer", c.spec.Durable), attribute.String("stream", c.stream))
	for _, o := range outcomes {
		c.consumed.Add(context.Background(), 0, c.outcome(o))
	}

	var caughtUpAt time.Time // only the running fetch touches it
	p := observability.NewProbe(consumerProbeTTL, func(ctx context.Context) (consumerState, error) {
		cons, err := c.js.Consumer(ctx, c.stream, c.spec.Durable)
		if err != nil {
			if !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
				c.log.Debug("cannot read the consumer's info for its metrics", "error", err)
			}
			return consumerState{}, err
		}
		info := cons.CachedInfo()
		st := consumerState{pending: int64(info.NumPending), ackPending: int64(info.NumAckPending),
			redelivered: int64(info.NumRedelivered)}
		now := time.Now()
		if st.pending == 0 && st.ackPending == 0 {
			caughtUpAt = now
			return st, nil
		}
		// Behind since the last acknowledgement, but never before it was last seen caught up:
		// a consumer idle for an hour that has just been handed one event is not an hour late.
		st.behindSince = info.Created
		if last := info.AckFloor.Last; last != nil && last.After(st.behindSince) {
			st.behindSince = *last
		}
		if caughtUpAt.After(st.behindSince) {
			st.behindSince = caughtUpAt
		}
		return st, nil
	})
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := p.Get()
		o.ObserveInt64(pending, st.pending, labels)
		o.ObserveInt64(ackPending, st.ackPending, labels)
		o.ObserveInt64(redelivered, st.redelivered, labels)
		var seconds float64
		if !st.behindSince.IsZero() {
			seconds = max(time.Since(st.behindSince).Seconds(), 0)
		}
		o.ObserveFloat64(lag, seconds, labels)
		return nil
	}, pending, ackPending, redelivered, lag)
	if err != nil {
		return nil, fmt.Errorf("consumer %s metrics: %w", c.spec.Durable, err)
	}
	return func() { _ = reg.Unregister() }, nil
}

// How long a probe's answer is reused: a query per collection would be cheap, but there may be
// several readers, and a dev stack runs every service's relay and consumers in one process.
var (
	outboxProbeTTL   = time.Second
	consumerProbeTTL = 3 * time.Second
)

func (c *Consumer) outcome(o string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("consumer", c.spec.Durable), attribute.String("outcome", o))
}
