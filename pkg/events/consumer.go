package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/pkg/postgres"
)

// Delivery is one event handed to a Handler.
type Delivery struct {
	EventID   string
	AccountID string
	Subject   string
	// Type is the proto full name of the payload.
	Type string
	Data []byte
	// Attempt counts deliveries of this message, from 1.
	Attempt uint64
}

// Decode unmarshals the payload into m.
func (d Delivery) Decode(m proto.Message) error {
	if err := proto.Unmarshal(d.Data, m); err != nil {
		return fmt.Errorf("decode %s %s: %w", d.Subject, d.EventID, err)
	}
	return nil
}

// Handler applies one event inside tx, the consumer's own transaction. When the event carries an
// account, tx is already scoped to it. Returning an error rolls back the effect and the
// "handled" mark together; the event is redelivered later.
type Handler func(ctx context.Context, tx pgx.Tx, d Delivery) error

// ConsumerSpec describes a durable consumer. Name it "<consumer>-<purpose>" (ARCHITECTURE.md).
type ConsumerSpec struct {
	Stream   string
	Durable  string
	Subjects []string
	Handler  Handler
	// MaxDeliver bounds redeliveries of an event that keeps failing; 0 means 20.
	MaxDeliver int
	// AckWait is how long an unacknowledged delivery waits before redelivery; 0 means 30 s.
	AckWait time.Duration
}

// Consumer runs a durable JetStream consumer whose handler applies each event at most once: the
// event id is recorded in processed_events in the same transaction as the handler's effect, so a
// redelivery (lost ack, crash, replay) finds the mark and is only acknowledged.
type Consumer struct {
	js   jetstream.JetStream
	pool *pgxpool.Pool
	log  *slog.Logger
	spec ConsumerSpec
}

// NewConsumer returns a consumer; Run provisions and runs it.
func NewConsumer(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger, spec ConsumerSpec) *Consumer {
	if spec.MaxDeliver == 0 {
		spec.MaxDeliver = 20
	}
	if spec.AckWait == 0 {
		spec.AckWait = 30 * time.Second
	}
	return &Consumer{js: js, pool: pool, log: log.With("consumer", spec.Durable), spec: spec}
}

// Run provisions the durable consumer and handles events one at a time, in stream order, until
// ctx ends. Provisioning is retried while NATS is unreachable.
func (c *Consumer) Run(ctx context.Context) error {
	var cons jetstream.Consumer
	for backoff := 100 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		var err error
		cons, err = c.js.CreateOrUpdateConsumer(ctx, c.spec.Stream, jetstream.ConsumerConfig{
			Durable:        c.spec.Durable,
			FilterSubjects: c.spec.Subjects,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        c.spec.AckWait,
			MaxDeliver:     c.spec.MaxDeliver,
			DeliverPolicy:  jetstream.DeliverAllPolicy,
			MaxAckPending:  1, // one at a time keeps per-aggregate order
		})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("cannot provision consumer; retrying", "error", err, "retry_in", backoff)
		sleep(ctx, backoff)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.spec.Durable, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			c.log.Warn("receive failed", "error", err)
			continue
		}
		c.handle(ctx, msg)
	}
}

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	d := Delivery{
		EventID:   msg.Headers().Get(jetstream.MsgIDHeader),
		AccountID: msg.Headers().Get(HeaderAccountID),
		Subject:   msg.Subject(),
		Type:      msg.Headers().Get(HeaderEventType),
		Data:      msg.Data(),
	}
	if md, err := msg.Metadata(); err == nil {
		d.Attempt = md.NumDelivered
	}
	if d.EventID == "" {
		// Not produced by an outbox: nothing to deduplicate on, so it cannot be applied safely.
		c.log.Error("event without Nats-Msg-Id dropped", "subject", d.Subject)
		_ = msg.Term()
		return
	}
	carrier := propagation.MapCarrier{}
	for k, v := range msg.Headers() {
		if len(v) > 0 {
			carrier[k] = v[0]
		}
	}
	ctx = otel.GetTextMapPropagator().Extract(ctx, carrier)
	ctx, span := otel.Tracer("orgplane/events").Start(ctx, "consume "+d.Subject,
		trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()

	applied, err := c.Apply(ctx, d)
	if err != nil {
		span.RecordError(err)
		delay := min(time.Duration(d.Attempt)*time.Second, 30*time.Second)
		c.log.Warn("event handling failed; will retry", "subject", d.Subject, "event_id", d.EventID, "attempt", d.Attempt, "error", err)
		_ = msg.NakWithDelay(delay)
		return
	}
	if !applied {
		c.log.Debug("duplicate event acknowledged", "subject", d.Subject, "event_id", d.EventID)
	}
	if err := msg.Ack(); err != nil {
		// The effect is committed; a redelivery will find the mark.
		c.log.Warn("ack failed", "event_id", d.EventID, "error", err)
	}
}

// Apply runs the handler for d unless this consumer has already applied d, and reports whether
// it ran.
func (c *Consumer) Apply(ctx context.Context, d Delivery) (bool, error) {
	applied := false
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if d.AccountID != "" {
			if err := postgres.ScopeTx(ctx, tx, d.AccountID); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx,
			`INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			c.spec.Durable, d.EventID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		applied = true
		return c.spec.Handler(ctx, tx, d)
	})
	if err != nil {
		return false, err
	}
	return applied, nil
}
