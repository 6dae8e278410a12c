package events

import (
	"cmp"
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
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/orgplane/orgplane/pkg/postgres"
)

// Delivery is one event as it arrived.
type Delivery struct {
	// EventID is the Nats-Msg-Id header, AccountID the Orgplane-Account-Id header.
	EventID   string
	AccountID string
	Subject   string
	// Type is the proto full name of the payload (the Orgplane-Event-Type header).
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
// tried again, for as long as it takes; an error wrapped in Permanent sets the event aside in
// the dead-letter stream instead.
func On[T proto.Message](fn func(ctx context.Context, tx pgx.Tx, ev T) error) Handler {
	var zero T
	mt := zero.ProtoReflect().Type()
	k, err := kindOf(mt.Descriptor())
	return Handler{kind: k, err: err, apply: func(ctx context.Context, tx pgx.Tx, d Delivery) error {
		ev, ok := mt.New().Interface().(T)
		if !ok {
			return reject("undecodable", "decode %s: unexpected type", d.Subject)
		}
		if err := proto.Unmarshal(d.Data, ev); err != nil {
			return reject("undecodable", "decode %s %s: %v", d.Subject, d.EventID, err)
		}
		// The headers decided the transaction's tenant and the deduplication key; a payload
		// that says otherwise was not written by the producer's outbox.
		env, err := envelopeOf(ev)
		if err != nil {
			return reject("undecodable", "%v", err)
		}
		if env.accountID() != d.AccountID || env.eventID() != d.EventID {
			return reject("envelope_mismatch", "payload of %s names account %q and event %q, headers %q and %q",
				d.Subject, env.accountID(), env.eventID(), d.AccountID, d.EventID)
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
	// RetryBackoff is the first wait before an event that failed is tried again; each further
	// attempt waits one RetryBackoff longer, up to MaxRetryBackoff. 0 means 1 s and 30 s. There
	// is no last attempt: a transient fault (Postgres restarting, a lock) is waited out however
	// long it lasts, since giving up would lose the event for good.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
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
	prefix   string // orgplane.<svc>.<version> of the stream's producer
	subjects []string
	byAction map[string]Handler // "<entity>.<action>"
	rejected metric.Int64Counter
	dead     metric.Int64Counter
	consumed metric.Int64Counter

	// DeadLetterReplicas is how many servers keep the dead-letter stream Run ensures
	// (NATSConfig.StreamReplicas); 0 means 1.
	DeadLetterReplicas int
}

// NewConsumer checks spec and returns its consumer; Run provisions and runs it.
func NewConsumer(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger, spec ConsumerSpec) (*Consumer, error) {
	if spec.Durable == "" || len(spec.Handlers) == 0 {
		return nil, errors.New("consumer: a durable name and at least one handler are required")
	}
	spec.RetryBackoff = cmp.Or(spec.RetryBackoff, time.Second)
	spec.MaxRetryBackoff = max(cmp.Or(spec.MaxRetryBackoff, 30*time.Second), spec.RetryBackoff)
	if spec.AckWait == 0 {
		spec.AckWait = 30 * time.Second
	}
	spec.Concurrency = max(spec.Concurrency, 1)
	c := &Consumer{js: js, pool: pool, log: log.With("consumer", spec.Durable), spec: spec, byAction: map[string]Handler{}}
	for _, h := range spec.Handlers {
		if h.err != nil {
			return nil, fmt.Errorf("consumer %s: %w", spec.Durable, h.err)
		}
		if c.stream == "" {
			c.stream, c.prefix = h.kind.Stream.Name, h.kind.Stream.Prefix
		}
		if h.kind.Stream.Name != c.stream {
			return nil, fmt.Errorf("consumer %s: handles events of streams %s and %s; one consumer reads one stream",
				spec.Durable, c.stream, h.kind.Stream.Name)
		}
		key := h.kind.Entity + "." + h.kind.Action
		if _, dup := c.byAction[key]; dup {
			return nil, fmt.Errorf("consumer %s: two handlers of %s", spec.Durable, h.kind.Type)
		}
		c.byAction[key] = h
		c.subjects = append(c.subjects, h.kind.Subject)
	}
	var err error
	c.rejected, err = otel.Meter("orgplane/events").Int64Counter("orgplane.events.rejected",
		metric.WithDescription("events a consumer terminated without applying: a subject, type, account or payload that its producer's outbox would not have published"))
	if err != nil {
		return nil, err
	}
	// orgplane_events_dead_lettered_total once exported to Prometheus; alert on any increase.
	c.dead, err = otel.Meter("orgplane/events").Int64Counter("orgplane.events.dead_lettered",
		metric.WithDescription("events a consumer set aside in the dead-letter stream because it can never apply them"))
	if err != nil {
		return nil, err
	}
	c.consumed, err = otel.Meter("orgplane/events").Int64Counter("orgplane.events.consumed", metric.WithUnit("{event}"),
		metric.WithDescription("Deliveries a consumer settled, by outcome: ok, retried (a failed attempt tried again), rejected, dead_lettered."))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// streamGrace is how long a consumer waits quietly for its producer's stream. Services start in
// any order and each creates the streams it produces, so on a clean start a consumer may well
// come up first; only a stream still missing after this long points at a fault (the producer
// down, or a consumer of a stream nobody produces).
const streamGrace = 30 * time.Second

// provisionLevel is the level of a "stream not found" retry after waiting so long: said once at
// info, then at debug until streamGrace, then warned.
func provisionLevel(waiting time.Duration, saidOnce bool) slog.Level {
	switch {
	case waiting >= streamGrace:
		return slog.LevelWarn
	case saidOnce:
		return slog.LevelDebug
	default:
		return slog.LevelInfo
	}
}

// Run provisions the durable consumer and applies events until ctx ends. Provisioning is retried
// while NATS is unreachable.
func (c *Consumer) Run(ctx context.Context) error {
	stopMetrics, err := c.observe()
	if err != nil {
		return err
	}
	defer stopMetrics()
	var cons jetstream.Consumer
	started, waited := time.Now(), false
	for backoff := 100 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		err := EnsureReplicatedDeadLetterStream(ctx, c.js, c.DeadLetterReplicas)
		if err == nil {
			cons, err = c.js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
				Durable:        c.spec.Durable,
				FilterSubjects: c.subjects,
				AckPolicy:      jetstream.AckExplicitPolicy,
				AckWait:        c.spec.AckWait,
				// No limit: an event leaves only applied or set aside as a dead letter.
				MaxDeliver:    -1,
				DeliverPolicy: jetstream.DeliverAllPolicy,
				// One in flight per worker keeps an account's events in order even when a worker is
				// retrying one of them.
				MaxAckPending: c.spec.Concurrency,
			})
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			level := provisionLevel(time.Since(started), waited)
			waited = true
			c.log.Log(ctx, level, "waiting for the producer to create its stream; retrying",
				"stream", c.stream, "waiting_for", time.Since(started).Round(time.Second), "retry_in", backoff)
		} else {
			// A stream created by several services at the same moment can fail for all but one
			// of them while the winner's store is made; that settles within a retry or two.
			level := slog.LevelWarn
			if isConcurrentCreate(err) && time.Since(started) < 10*time.Second {
				level = slog.LevelDebug
			}
			c.log.Log(ctx, level, "cannot provision consumer; retrying", "error", err, "retry_in", backoff)
		}
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
		// A replayed dead letter carries its event id apart from its Nats-Msg-Id (ReplayDeadLetters).
		EventID:   cmp.Or(msg.Headers().Get(HeaderEventID), msg.Headers().Get(jetstream.MsgIDHeader)),
		AccountID: msg.Headers().Get(HeaderAccountID),
		Subject:   msg.Subject(),
		Type:      msg.Headers().Get(HeaderEventType),
		Data:      msg.Data(),
	}
	if md, err := msg.Metadata(); err == nil {
		d.Attempt = md.NumDelivered
	}
	carrier := propagation.MapCarrier{}
	for k, v := range msg.Headers() {
		if len(v) > 0 {
			carrier[k] = v[0]
		}
	}
	ctx = otel.GetTextMapPropagator().Extract(ctx, carrier)
	ctx, span := otel.Tracer("orgplane/events").Start(ctx, "consume "+d.Subject,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", d.Subject),
			attribute.String("messaging.consumer.group.name", c.spec.Durable),
			attribute.String("messaging.message.id", d.EventID),
			attribute.Int64("orgplane.event.attempt", int64(d.Attempt))))
	defer span.End()

	// A failed event is retried here, not handed back to JetStream: the account's next events
	// wait behind it, so they are never applied out of order.
	for attempt := int(max(d.Attempt, 1)); ; attempt++ {
		applied, err := c.Apply(ctx, d)
		var rej *Rejection
		if errors.As(err, &rej) {
			// Retrying cannot make it right, and applying it would trust whoever published it.
			span.RecordError(err)
			c.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("consumer", c.spec.Durable), attribute.String("reason", rej.Reason)))
			c.log.Error("event rejected", "subject", d.Subject, "event_id", d.EventID, "type", d.Type,
				"account_id", d.AccountID, "reason", rej.Reason, "error", rej.Detail)
			c.deadLetter(ctx, msg, d, rej.Reason, rej.Detail)
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			span.RecordError(err)
			c.log.Error("event cannot be applied", "subject", d.Subject, "event_id", d.EventID, "account_id", d.AccountID, "error", err)
			c.deadLetter(ctx, msg, d, "permanent", perm.err.Error())
			return
		}
		if err == nil {
			if !applied {
				c.log.Debug("duplicate event acknowledged", "subject", d.Subject, "event_id", d.EventID)
			}
			if err := msg.Ack(); err != nil {
				// The effect is committed; a redelivery will find the mark.
				c.log.Warn("ack failed", "event_id", d.EventID, "error", err)
			}
			c.consumed.Add(ctx, 1, c.outcome(OutcomeOK))
			return
		}
		span.RecordError(err)
		if ctx.Err() != nil {
			return // shutting down: unacknowledged, so it is delivered again after the restart
		}
		c.consumed.Add(ctx, 1, c.outcome(OutcomeRetried))
		delay := min(time.Duration(attempt)*c.spec.RetryBackoff, c.spec.MaxRetryBackoff)
		c.log.Warn("event handling failed; will retry", "subject", d.Subject, "event_id", d.EventID, "attempt", attempt, "retry_in", delay, "error", err)
		c.wait(ctx, msg, delay)
	}
}

// deadLetter publishes d to the dead-letter stream with its reason, then terminates it. Until
// the dead-letter stream has acknowledged it the event stays unacknowledged here (NATS down is
// waited out like any transient fault), so it is never both gone and not set aside.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, d Delivery, reason, detail string) {
	dl := deadLetterMsg(c.spec.Durable, c.stream, msg, d, reason, detail)
	for backoff := c.spec.RetryBackoff; ; backoff = min(backoff*2, c.spec.MaxRetryBackoff) {
		_, err := c.js.PublishMsg(ctx, dl)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return // delivered again after the restart, and set aside then
		}
		c.log.Warn("cannot publish dead letter; retrying", "event_id", d.EventID, "error", err, "retry_in", backoff)
		c.wait(ctx, msg, backoff)
	}
	c.dead.Add(ctx, 1, metric.WithAttributes(attribute.String("consumer", c.spec.Durable), attribute.String("reason", reason)))
	outcome := OutcomeRejected
	if reason == "permanent" {
		outcome = OutcomeDeadLettered
	}
	c.consumed.Add(ctx, 1, c.outcome(outcome))
	c.log.Error("event set aside in the dead-letter stream", "subject", d.Subject, "event_id", d.EventID,
		"dead_letter_subject", dl.Subject, "reason", reason)
	_ = msg.Term()
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

// Rejection is why a consumer refuses an event for good: it could not have come from the
// producer's outbox as it is (a subject outside the producer's, a type that is not the subject's,
// an account or event id that differs between subject, headers and payload, an undecodable
// payload). Apply returns it; Run logs it, counts it in orgplane.events.rejected and sets it
// aside in the dead-letter stream.
type Rejection struct {
	// Reason is a short label: foreign_subject, unknown_subject, type_mismatch,
	// account_mismatch, envelope_mismatch, no_event_id, undecodable.
	Reason string
	Detail string
}

func (r *Rejection) Error() string { return "event rejected (" + r.Reason + "): " + r.Detail }

func reject(reason, format string, args ...any) error {
	return &Rejection{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// check finds d's handler if d is an event this consumer's producer could have published: the
// stream filter alone does not prove it (a stream's subjects can be widened, and a header is
// whatever the publisher wrote).
func (c *Consumer) check(d Delivery) (Handler, error) {
	sub, ok := ParseSubject(d.Subject)
	if !ok || sub.Prefix != c.prefix {
		return Handler{}, reject("foreign_subject", "%s is not a subject of %s (%s.<account>.<entity>.<action>)", d.Subject, c.stream, c.prefix)
	}
	h, ok := c.byAction[sub.Entity+"."+sub.Action]
	if !ok {
		return Handler{}, reject("unknown_subject", "consumer %s has no handler for %s", c.spec.Durable, d.Subject)
	}
	if d.Type != string(h.kind.Type) {
		return Handler{}, reject("type_mismatch", "%s carries %s %q, want %s", d.Subject, HeaderEventType, d.Type, h.kind.Type)
	}
	if want := cmp.Or(d.AccountID, NoAccount); sub.Account != want {
		return Handler{}, reject("account_mismatch", "%s is on account %s but %s is %q", d.Subject, sub.Account, HeaderAccountID, d.AccountID)
	}
	if d.EventID == "" {
		// Nothing to deduplicate on, so it cannot be applied at most once.
		return Handler{}, reject("no_event_id", "%s has no Nats-Msg-Id", d.Subject)
	}
	return h, nil
}

// Apply runs the handler for d unless this consumer has already applied d, and reports whether
// it ran. An event this consumer must never apply gives a *Rejection.
func (c *Consumer) Apply(ctx context.Context, d Delivery) (bool, error) {
	h, err := c.check(d)
	if err != nil {
		return false, err
	}
	applied := false
	var hooks []func()
	ctx = context.WithValue(ctx, afterCommitKey{}, &hooks)
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		applied, hooks = false, nil
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
	for _, f := range hooks {
		f()
	}
	return applied, nil
}

type afterCommitKey struct{}

// AfterCommit runs f once the transaction applying the current event has committed: a handler
// that records work for a worker wakes it then, when the work is there to be seen. Outside a
// consumer's handler f runs at once.
func AfterCommit(ctx context.Context, f func()) {
	if hooks, ok := ctx.Value(afterCommitKey{}).(*[]func()); ok {
		*hooks = append(*hooks, f)
		return
	}
	f()
}

// isConcurrentCreate reports whether err is JetStream's answer to a stream created by two
// clients at once: the server's JSStreamStoreFailedF, which nats.go names no constant for.
func isConcurrentCreate(err error) bool {
	const streamStoreFailed jetstream.ErrorCode = 10049
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == streamStoreFailed
}
