package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Relay publishes a service's outbox to JetStream. It deletes a row only after JetStream has
// acknowledged it, and it never reads "after the last id seen": every uncommitted row is
// invisible until it commits and is then picked up by the next pass, however late it commits.
type Relay struct {
	pool   *pgxpool.Pool
	js     jetstream.JetStream
	log    *slog.Logger
	schema string
	lockID int64

	// Service labels the relay's metrics (the service label of the orgplane_outbox_* series);
	// NewRelay derives it from the schema, which is the service's name with - as _.
	Service string
	// published and failed count events JetStream acknowledged and publishes that failed;
	// Observe makes them real, until then they count nothing.
	published, failed metric.Int64Counter
	labels            metric.MeasurementOption

	// BatchSize is how many events one pass publishes (asynchronously) before acknowledging.
	BatchSize int
	// PollInterval bounds the wait when no notification arrives (a lost notification, or rows
	// left behind by a failed pass).
	PollInterval time.Duration
	// AckTimeout bounds the wait for JetStream's acknowledgements of one batch.
	AckTimeout time.Duration
}

// NewRelay returns a relay for the outbox in schema.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger, schema string) *Relay {
	h := fnv.New64a()
	h.Write([]byte("orgplane-relay:" + schema))
	noop := metricnoop.Int64Counter{}
	return &Relay{
		pool: pool, js: js, log: log, schema: schema,
		lockID:       int64(h.Sum64() >> 1),
		Service:      strings.ReplaceAll(schema, "_", "-"),
		published:    noop,
		failed:       noop,
		labels:       metric.WithAttributes(),
		BatchSize:    2000,
		PollInterval: time.Second,
		AckTimeout:   10 * time.Second,
	}
}

// Run relays until ctx ends. Failures (NATS down, Postgres restarting) are logged and retried
// with backoff; nothing is dropped.
func (r *Relay) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	var listen *pgxpool.Conn
	defer func() {
		if listen != nil {
			listen.Release()
		}
	}()
	for ctx.Err() == nil {
		n, err := r.Drain(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			r.log.Warn("outbox relay pass failed; retrying", "schema", r.schema, "error", err, "retry_in", backoff)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if n == r.BatchSize {
			continue // more may be waiting
		}
		if listen == nil {
			listen, err = r.listen(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				r.log.Warn("outbox relay cannot listen; polling", "schema", r.schema, "error", err)
				sleep(ctx, r.PollInterval)
				continue
			}
		}
		wctx, cancel := context.WithTimeout(ctx, r.PollInterval)
		_, err = listen.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			// The listening connection broke; get a new one next time round.
			listen.Release()
			listen = nil
		}
	}
	return nil
}

func (r *Relay) listen(ctx context.Context) (*pgxpool.Conn, error) {
	c, err := r.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{"orgplane_outbox_" + r.schema}.Sanitize()); err != nil {
		c.Release()
		return nil, err
	}
	return c, nil
}

// Drain publishes one batch and returns how many events it removed from the outbox.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // rolled back only when not committed

	// One relay per schema at a time keeps events in commit order across replicas; the others
	// wait for the next pass.
	var leader bool
	if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", r.lockID).Scan(&leader); err != nil {
		return 0, err
	}
	if !leader {
		return 0, nil
	}
	rows, err := tx.Query(ctx,
		`SELECT seq, event_id::text, subject, coalesce(account_id::text, ''), payload, headers
		   FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE`, r.BatchSize)
	if err != nil {
		return 0, err
	}
	type pending struct {
		seq  int64
		ack  jetstream.PubAckFuture
		span trace.Span
	}
	var batch []pending
	var pubErr error
	tracer := otel.Tracer("orgplane/events")
	for rows.Next() {
		var (
			seq                         int64
			eventID, subject, accountID string
			payload, headers            []byte
		)
		if err := rows.Scan(&seq, &eventID, &subject, &accountID, &payload, &headers); err != nil {
			rows.Close()
			return 0, err
		}
		msg := nats.NewMsg(publishSubject(subject, accountID))
		msg.Data = payload
		var stored map[string]string
		if err := json.Unmarshal(headers, &stored); err == nil {
			for k, v := range stored {
				msg.Header.Set(k, v)
			}
		}
		if accountID != "" {
			msg.Header.Set(HeaderAccountID, accountID)
		}
		// The publish is a child of the request that wrote the row (its trace context is in the
		// stored headers), and the message carries the publish span's own context, so each
		// consumer's span hangs below it: request, commit, publish, consume in one trace.
		_, span := tracer.Start(otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(stored)), "publish "+msg.Subject,
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
				attribute.String("messaging.system", "nats"),
				attribute.String("messaging.operation.type", "send"),
				attribute.String("messaging.destination.name", msg.Subject),
				attribute.String("messaging.message.id", eventID)))
		carrier := propagation.MapCarrier{}
		otel.GetTextMapPropagator().Inject(trace.ContextWithSpan(ctx, span), carrier)
		for k, v := range carrier {
			msg.Header.Set(k, v)
		}
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(eventID))
		if err != nil {
			pubErr = fmt.Errorf("publish %s: %w", subject, err)
			endSpan(span, pubErr)
			r.failed.Add(ctx, 1, r.labels)
			break
		}
		batch = append(batch, pending{seq: seq, ack: f, span: span})
	}
	rows.Close()
	// Whatever is not acknowledged below failed in this pass; its span ends with the reason.
	settled := 0
	defer func() {
		if unsettled := batch[settled:]; len(unsettled) > 0 {
			for _, p := range unsettled {
				endSpan(p.span, cmp.Or(pubErr, errors.New("not acknowledged")))
			}
			if ctx.Err() == nil { // a shutdown interrupting a pass is no failure to alert on
				r.failed.Add(ctx, int64(len(unsettled)), r.labels)
			}
		}
	}()
	if err := rows.Err(); err != nil {
		return 0, err
	}

	// Only the acknowledged prefix is removed: whatever follows a failure is published again
	// next pass (deduplicated by its Nats-Msg-Id), keeping order.
	timeout := time.NewTimer(r.AckTimeout)
	defer timeout.Stop()
	done := make([]int64, 0, len(batch))
wait:
	for _, p := range batch {
		select {
		case <-p.ack.Ok():
			done = append(done, p.seq)
			endSpan(p.span, nil)
			settled++
		case err := <-p.ack.Err():
			pubErr = errors.Join(pubErr, err)
			break wait
		case <-timeout.C:
			pubErr = errors.Join(pubErr, errors.New("timed out waiting for jetstream acknowledgements"))
			break wait
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if len(done) > 0 {
		if _, err := tx.Exec(ctx, "DELETE FROM outbox WHERE seq = ANY($1)", done); err != nil {
			return 0, err
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, err
		}
		// Counted once the rows are gone: a pass that fails to delete republishes them, and
		// JetStream drops the duplicates.
		r.published.Add(ctx, int64(len(done)), r.labels)
	}
	return len(done), pubErr
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// publishSubject is the subject an outbox row goes out on. A row written before subjects carried
// the account (orgplane.<svc>.<version>.<entity>.<action>, left behind by an upgrade) gets its
// account_id put in, so consumers, which filter on the account-bearing form, still receive it.
func publishSubject(subject, account string) string {
	t := strings.Split(subject, ".")
	if len(t) != 5 {
		return subject
	}
	if account == "" {
		account = NoAccount
	}
	return strings.Join([]string{t[0], t[1], t[2], account, t[3], t[4]}, ".")
}
