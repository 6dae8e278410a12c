package events

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/orgplane/orgplane/pkg/postgres"
)

// Delivery is one event as it arrived.
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

// Handler applies one kind of event; build it with On.
type Handler struct {
	kind  Kind
	err   error
	apply func(ctx context.Context, tx pgx.Tx, d Delivery) error
}

// On returns the handler of events of type T, a generated event message such as
// *orgv1.OrganizationCreated: the consumer subscribes to T's subject and hands fn each event
// decoded. fn runs inside tx, the consumer's own transaction, scoped to the event's account;
// returning an error rolls its effect back together with the "handled" mark, and the event is
// tried again.
func On[T proto.Message](fn func(ctx context.Context, tx pgx.Tx, ev T) error) Handler {
	var zero T
	mt := zero.ProtoReflect().Type()
	k, err := kindOf(mt.Descriptor())
	return Handler{kind: k, err: err, apply: func(ctx context.Context, tx pgx.Tx, d Delivery) error {
		ev, ok := mt.New().Interface().(T)
		if !ok {
			return fmt.Errorf("decode %s: unexpected type", d.Subject)
		}
		if err := proto.Unmarshal(d.Data, ev); err != nil {
			return fmt.Errorf("decode %s %s: %w", d.Subject, d.EventID, err)
		}
		return fn(ctx, tx, ev)
	}}
}

// Type is the proto full name of the events h handles.
func (h Handler) Type() protoreflect.FullName { return h.kind.Type }

// ConsumerSpec describes a durable consumer: its name, "<consumer>-<purpose>"
// (ARCHITECTURE.md), and its handlers, whose events must all come from one producer's stream.
type ConsumerSpec struct {
	Durable  string
	Handlers []Handler
	// Concurrency is how many events are applied at once; 0 means 1. Events of one account are
	// always applied one at a time and in stream order, so per-aggregate order holds whatever
	// the concurrency.
	Concurrency int
	// MaxDeliver bounds the attempts at an event that keeps failing; 0 means 20.
	MaxDeliver int
	// AckWait is how long an unacknowledged delivery waits before redelivery; 0 means 30 s.
	AckWait time.Duration
}

// Consumer runs a durable JetStream consumer whose handlers apply each event at most once: the
// event id is recorded in processed_events in the same transaction as the handler's effect, so a
// redelivery (lost ack, crash, replay) finds the mark and is only acknowledged.
type Consumer struct {
	js       jetstream.JetStream
	pool     *pgxpool.Pool
	log      *slog.Logger
	spec     ConsumerSpec
	stream   string
	subjects []string
	bySubj   map[string]Handler
}

// NewConsumer checks spec and returns its consumer; Run provisions and runs it.
func NewConsumer(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger, spec ConsumerSpec) (*Consumer, error) {
	if spec.Durable == "" || len(spec.Handlers) == 0 {
		return nil, errors.New("consumer: a durable name and at least one handler are required")
	}
	if spec.MaxDeliver == 0 {
		spec.MaxDeliver = 20
	}
	if spec.AckWait == 0 {
		spec.AckWait = 30 * time.Second
	}
	spec.Concurrency = max(spec.Concurrency, 1)
	c := &Consumer{js: js, pool: pool, log: log.With("consumer", spec.Durable), spec: spec, bySubj: map[string]Handler{}}
	for _, h := range spec.Handlers {
		if h.err != nil {
			return nil, fmt.Errorf("consumer %s: %w", spec.Durable, h.err)
		}
		if c.stream == "" {
			c.stream = h.kind.Stream.Name
		}
		if h.kind.Stream.Name != c.stream {
			return nil, fmt.Errorf("consumer %s: handles events of streams %s and %s; one consumer reads one stream",
				spec.Durable, c.stream, h.kind.Stream.Name)
		}
		if _, dup := c.bySubj[h.kind.Subject]; dup {
			return nil, fmt.Errorf("consumer %s: two handlers of %s", spec.Durable, h.kind.Type)
		}
		c.bySubj[h.kind.Subject] = h
		c.subjects = append(c.subjects, h.kind.Subject)
	}
	return c, nil
}

// Run provisions the durable consumer and applies events until ctx ends. Provisioning is retried
// while NATS is unreachable.
func (c *Consumer) Run(ctx context.Context) error {
	var cons jetstream.Consumer
	for backoff := 100 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		var err error
		cons, err = c.js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
			Durable:        c.spec.Durable,
			FilterSubjects: c.subjects,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        c.spec.AckWait,
			MaxDeliver:     c.spec.MaxDeliver,
			DeliverPolicy:  jetstream.DeliverAllPolicy,
			// One in flight per worker keeps an account's events in order even when a worker is
			// retrying one of them.
			MaxAckPending: c.spec.Concurrency,
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
	it, err := cons.Messages(jetstream.PullMaxMessages(c.spec.Concurrency))
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.spec.Durable, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	// Each worker owns the accounts that hash to it, so one account's events never overlap.
	workers := make([]chan jetstream.Msg, c.spec.Concurrency)
	done := make(chan struct{})
	running := len(workers)
	for i := range workers {
		workers[i] = make(chan jetstream.Msg, 1)
		go func(in <-chan jetstream.Msg) {
			defer func() { done <- struct{}{} }()
			for msg := range in {
				c.handle(ctx, msg)
			}
		}(workers[i])
	}
	defer func() {
		for _, w := range workers {
			close(w)
		}
		for ; running > 0; running-- {
			<-done
		}
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			c.log.Warn("receive failed", "error", err)
			continue
		}
		select {
		case workers[partition(msg.Headers().Get(HeaderAccountID), len(workers))] <- msg:
		case <-ctx.Done():
			return nil
		}
	}
}

func partition(key string, n int) int {
	if n == 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
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

	// A failed event is retried here, not handed back to JetStream: the account's next events
	// wait behind it, so they are never applied out of order.
	for attempt := int(max(d.Attempt, 1)); ; attempt++ {
		applied, err := c.Apply(ctx, d)
		if err == nil {
			if !applied {
				c.log.Debug("duplicate event acknowledged", "subject", d.Subject, "event_id", d.EventID)
			}
			if err := msg.Ack(); err != nil {
				// The effect is committed; a redelivery will find the mark.
				c.log.Warn("ack failed", "event_id", d.EventID, "error", err)
			}
			return
		}
		span.RecordError(err)
		if ctx.Err() != nil {
			return // shutting down: unacknowledged, so it is delivered again after the restart
		}
		if attempt >= c.spec.MaxDeliver {
			c.log.Error("event handling failed; giving up", "subject", d.Subject, "event_id", d.EventID, "attempts", attempt, "error", err)
			_ = msg.Term()
			return
		}
		delay := min(time.Duration(attempt)*time.Second, 30*time.Second)
		c.log.Warn("event handling failed; will retry", "subject", d.Subject, "event_id", d.EventID, "attempt", attempt, "retry_in", delay, "error", err)
		c.wait(ctx, msg, delay)
	}
}

// wait sleeps for d while telling JetStream the message is still being worked on, so it is not
// redelivered to another replica meanwhile.
func (c *Consumer) wait(ctx context.Context, msg jetstream.Msg, d time.Duration) {
	step := c.spec.AckWait / 3
	for d > 0 && ctx.Err() == nil {
		_ = msg.InProgress()
		sleep(ctx, min(step, d))
		d -= step
	}
	_ = msg.InProgress()
}

// Apply runs the handler for d unless this consumer has already applied d, and reports whether
// it ran.
func (c *Consumer) Apply(ctx context.Context, d Delivery) (bool, error) {
	h, ok := c.bySubj[d.Subject]
	if !ok {
		return false, fmt.Errorf("consumer %s: no handler for %s", c.spec.Durable, d.Subject)
	}
	applied := false
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		applied = false
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
		return h.apply(ctx, tx, d)
	})
	if err != nil {
		return false, err
	}
	return applied, nil
}
