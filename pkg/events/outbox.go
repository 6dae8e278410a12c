package events

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the migration set that creates the outbox and the consumer ledger in a
// service's schema. Services apply it before their own.
func Migrations() postgres.MigrationSet { return postgres.EmbeddedMigrations("events", migrations) }

// Header names set on every published event besides Nats-Msg-Id.
const (
	HeaderEventType = "Orgplane-Event-Type"
	HeaderAccountID = "Orgplane-Account-Id"
)

// Enqueue writes msg to the outbox inside tx, so the event exists exactly when the change does.
// It fills the envelope (a new event_id unless set, occurred_at = now unless set) and returns the
// event id. The trace context of ctx travels with the event.
func Enqueue(ctx context.Context, tx pgx.Tx, msg proto.Message) (string, error) {
	kind, err := KindOf(msg)
	if err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	env, err := envelopeOf(msg)
	if err != nil {
		return "", err
	}
	subject, err := kind.SubjectFor(env.accountID())
	if err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	if env.eventID() == "" {
		env.setEventID(uuid.NewString())
	}
	if !env.hasOccurredAt() {
		env.setOccurredAt(time.Now())
	}
	payload, err := proto.Marshal(msg)
	if err != nil {
		return "", fmt.Errorf("marshal %s: %w", subject, err)
	}
	headers := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, headers)
	headers[HeaderEventType] = string(msg.ProtoReflect().Descriptor().FullName())
	hj, err := json.Marshal(headers)
	if err != nil {
		return "", err
	}
	var account *string
	if a := env.accountID(); a != "" {
		account = &a
	}
	_, err = tx.Exec(ctx,
		`INSERT INTO outbox (event_id, subject, account_id, payload, headers) VALUES ($1, $2, $3, $4, $5)`,
		env.eventID(), subject, account, payload, hj)
	if err != nil {
		return "", fmt.Errorf("enqueue %s: %w", subject, err)
	}
	return env.eventID(), nil
}

// envelope reads and writes the fields every event message carries, by name, so that events
// stay plain generated messages with no hand-written methods.
type envelope struct {
	m                             protoreflect.Message
	eventIDF, occurredF, accountF protoreflect.FieldDescriptor
}

func envelopeOf(msg proto.Message) (envelope, error) {
	m := msg.ProtoReflect()
	fields := m.Descriptor().Fields()
	e := envelope{
		m:         m,
		eventIDF:  fields.ByName("event_id"),
		occurredF: fields.ByName("occurred_at"),
		accountF:  fields.ByName("account_id"),
	}
	if e.eventIDF == nil || e.occurredF == nil || e.accountF == nil ||
		e.eventIDF.Kind() != protoreflect.StringKind || e.accountF.Kind() != protoreflect.StringKind ||
		e.occurredF.Message() == nil || e.occurredF.Message().FullName() != "google.protobuf.Timestamp" {
		return e, fmt.Errorf("%s lacks the event envelope (string event_id, Timestamp occurred_at, string account_id)", m.Descriptor().FullName())
	}
	return e, nil
}

func (e envelope) eventID() string      { return e.m.Get(e.eventIDF).String() }
func (e envelope) setEventID(id string) { e.m.Set(e.eventIDF, protoreflect.ValueOfString(id)) }
func (e envelope) accountID() string    { return e.m.Get(e.accountF).String() }
func (e envelope) hasOccurredAt() bool  { return e.m.Has(e.occurredF) }
func (e envelope) setOccurredAt(t time.Time) {
	e.m.Set(e.occurredF, protoreflect.ValueOfMessage(timestamppb.New(t).ProtoReflect()))
}

// EnqueueAt is Enqueue with the event's occurred_at set to at: services with an injectable
// clock stamp their events with it, so consumers that bucket by time (daily usage) agree with
// the service.
func EnqueueAt(ctx context.Context, tx pgx.Tx, msg proto.Message, at time.Time) (string, error) {
	env, err := envelopeOf(msg)
	if err != nil {
		return "", err
	}
	env.setOccurredAt(at)
	return Enqueue(ctx, tx, msg)
}

// EnqueueBatch writes many events with one COPY, for bulk changes (an import of thousands of
// organizations). Each message is stamped like EnqueueAt.
func EnqueueBatch(ctx context.Context, tx pgx.Tx, msgs []proto.Message, at time.Time) error {
	headers := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, headers)
	rows := make([][]any, 0, len(msgs))
	for _, msg := range msgs {
		kind, err := KindOf(msg)
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		env, err := envelopeOf(msg)
		if err != nil {
			return err
		}
		subject, err := kind.SubjectFor(env.accountID())
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		if env.eventID() == "" {
			env.setEventID(uuid.NewString())
		}
		env.setOccurredAt(at)
		payload, err := proto.Marshal(msg)
		if err != nil {
			return err
		}
		h := propagation.MapCarrier{HeaderEventType: string(msg.ProtoReflect().Descriptor().FullName())}
		for k, v := range headers {
			h[k] = v
		}
		hj, err := json.Marshal(h)
		if err != nil {
			return err
		}
		var account any
		if a := env.accountID(); a != "" {
			account = a
		}
		rows = append(rows, []any{env.eventID(), subject, account, payload, string(hj)})
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"outbox"}, []string{"event_id", "subject", "account_id", "payload", "headers"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("enqueue %d events: %w", len(msgs), err)
	}
	return nil
}

// Outbox writes events into one transaction's outbox. A service's store transaction type embeds
// it, so use cases write tx.Enqueue(ctx, event, now) beside the change.
type Outbox struct{ tx pgx.Tx }

// NewOutbox returns the outbox of tx.
func NewOutbox(tx pgx.Tx) Outbox { return Outbox{tx: tx} }

// Enqueue writes msg stamped at (the service's clock; see EnqueueAt).
func (o Outbox) Enqueue(ctx context.Context, msg proto.Message, at time.Time) error {
	_, err := EnqueueAt(ctx, o.tx, msg, at)
	return err
}

// EnqueueBatch writes many events with one COPY (bulk changes; see EnqueueBatch).
func (o Outbox) EnqueueBatch(ctx context.Context, msgs []proto.Message, at time.Time) error {
	return EnqueueBatch(ctx, o.tx, msgs, at)
}
