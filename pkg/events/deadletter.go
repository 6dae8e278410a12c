package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The dead-letter stream holds the events a consumer can never apply, one subject per consumer
// and reason (orgplane.dlq.<durable>.<reason>), so an operator can see what was set aside, why,
// and replay it once the cause is fixed (ReplayDeadLetters; docs/events.md).
const (
	DeadLetterStream = "ORGPLANE_DLQ"
	deadLetterPrefix = "orgplane.dlq"
	// DeadLetterRetention is how long a dead letter waits for an operator. It is longer than the
	// producers' week so an event set aside on a Friday is still there after a holiday.
	DeadLetterRetention = 90 * 24 * time.Hour
)

// Headers a dead letter carries besides the original event's own.
const (
	HeaderDeadReason   = "Orgplane-Dead-Letter-Reason"
	HeaderDeadDetail   = "Orgplane-Dead-Letter-Detail"
	HeaderDeadConsumer = "Orgplane-Dead-Letter-Consumer"
	HeaderDeadSubject  = "Orgplane-Dead-Letter-Subject"
	HeaderDeadStream   = "Orgplane-Dead-Letter-Stream"
	HeaderDeadSequence = "Orgplane-Dead-Letter-Sequence"
	// HeaderEventID carries the event id of a replayed event, whose Nats-Msg-Id must differ from
	// the original's or the producer's stream would drop it as a duplicate.
	HeaderEventID = "Orgplane-Event-Id"
)

// DeadLetterSubject is where durable's events set aside for reason go.
func DeadLetterSubject(durable, reason string) string {
	return deadLetterPrefix + "." + durable + "." + reason
}

// EnsureDeadLetterStream creates or updates the dead-letter stream, kept by one server.
func EnsureDeadLetterStream(ctx context.Context, js jetstream.JetStream) error {
	return EnsureReplicatedDeadLetterStream(ctx, js, 1)
}

// EnsureReplicatedDeadLetterStream creates or updates the dead-letter stream, kept by replicas
// servers of the cluster (0 means 1), like EnsureReplicatedStreams.
func EnsureReplicatedDeadLetterStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	replicas, err := checkReplicas(replicas)
	if err != nil {
		return err
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       DeadLetterStream,
		Subjects:   []string{deadLetterPrefix + ".>"},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     DeadLetterRetention,
		Duplicates: DuplicateWindow,
		Replicas:   replicas,
	})
	if err != nil {
		// Every consumer of every service ensures this stream, so at a cold start several
		// create it at once and the losers may be told the store could not be created: the
		// stream being there now, as asked, is what was wanted. There with another replica
		// count, the refusal stands (the cluster could not place the copies).
		if s, serr := js.Stream(ctx, DeadLetterStream); serr == nil && s.CachedInfo().Config.Replicas == replicas {
			return nil
		}
		return streamError(DeadLetterStream, replicas, err)
	}
	return nil
}

// Permanent marks a handler's error as one no retry can cure (the event names something that
// can never exist, a rule it breaks for good): the consumer sets the event aside in the
// dead-letter stream instead of retrying it. Any other error is taken for transient and retried
// for as long as it takes.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// DeadLetter is one event set aside by a consumer.
type DeadLetter struct {
	Sequence uint64 // in the dead-letter stream
	Consumer string
	Reason   string
	Detail   string
	Subject  string // the event's own subject
	EventID  string
	At       time.Time
}

// deadLetterMsg is d as the dead-letter stream keeps it: the event's data and headers, and why.
func deadLetterMsg(durable, stream string, src jetstream.Msg, d Delivery, reason, detail string) *nats.Msg {
	m := nats.NewMsg(DeadLetterSubject(durable, reason))
	m.Data = d.Data
	for k, v := range src.Headers() {
		if k == jetstream.MsgIDHeader {
			continue // the dead letter's own id is set below
		}
		m.Header[k] = v
	}
	m.Header.Set(HeaderEventID, d.EventID)
	m.Header.Set(HeaderDeadReason, reason)
	m.Header.Set(HeaderDeadDetail, truncate(detail, 1024))
	m.Header.Set(HeaderDeadConsumer, durable)
	m.Header.Set(HeaderDeadSubject, d.Subject)
	m.Header.Set(HeaderDeadStream, stream)
	if md, err := src.Metadata(); err == nil {
		m.Header.Set(HeaderDeadSequence, strconv.FormatUint(md.Sequence.Stream, 10))
		// One dead letter per consumer and stream message, however often it is set aside (a
		// crash between publishing it and terminating the original).
		m.Header.Set(jetstream.MsgIDHeader, durable+":"+stream+":"+strconv.FormatUint(md.Sequence.Stream, 10))
	}
	return m
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// ListDeadLetters returns the dead letters of durable ("" for every consumer's), oldest first.
func ListDeadLetters(ctx context.Context, js jetstream.JetStream, durable string) ([]DeadLetter, error) {
	var out []DeadLetter
	err := eachDeadLetter(ctx, js, durable, func(m jetstream.Msg, dl DeadLetter) error {
		out = append(out, dl)
		return nil
	})
	return out, err
}

// ReplayDeadLetters publishes durable's dead letters ("" for every consumer's) again on their
// original subjects and removes them from the dead-letter stream, returning how many it
// replayed. Every consumer of the original stream receives a replayed event; those that applied
// it already find it in processed_events and only acknowledge it. One that still cannot apply
// it sets it aside again. A replayed event is applied after the events that followed it.
func ReplayDeadLetters(ctx context.Context, js jetstream.JetStream, durable string) (int, error) {
	n := 0
	err := eachDeadLetter(ctx, js, durable, func(m jetstream.Msg, dl DeadLetter) error {
		if dl.Subject == "" {
			return fmt.Errorf("dead letter %d names no subject", dl.Sequence)
		}
		msg := nats.NewMsg(dl.Subject)
		msg.Data = m.Data()
		for k, v := range m.Headers() {
			if strings.HasPrefix(k, "Orgplane-Dead-Letter-") || k == jetstream.MsgIDHeader {
				continue
			}
			msg.Header[k] = v
		}
		// A fresh message id, stable per dead letter: the original's would be dropped as a
		// duplicate, and running the replay twice does not publish twice.
		id := "dlq-replay:" + strconv.FormatUint(dl.Sequence, 10)
		if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
			return fmt.Errorf("replay dead letter %d on %s: %w", dl.Sequence, dl.Subject, err)
		}
		s, err := js.Stream(ctx, DeadLetterStream)
		if err != nil {
			return err
		}
		if err := s.DeleteMsg(ctx, dl.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("remove replayed dead letter %d: %w", dl.Sequence, err)
		}
		n++
		return nil
	})
	return n, err
}

// eachDeadLetter walks the dead letters present when it starts.
func eachDeadLetter(ctx context.Context, js jetstream.JetStream, durable string, fn func(jetstream.Msg, DeadLetter) error) error {
	s, err := js.Stream(ctx, DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	filter := deadLetterPrefix + ".>"
	if durable != "" {
		filter = deadLetterPrefix + "." + durable + ".>"
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return err
	}
	pending := uint64(0)
	for _, c := range info.State.Subjects {
		pending += c
	}
	if pending == 0 {
		return nil
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return err
	}
	last := info.State.LastSeq
	for seen := uint64(0); seen < pending; seen++ {
		m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if md.Sequence.Stream > last {
			return nil
		}
		h := m.Headers()
		dl := DeadLetter{
			Sequence: md.Sequence.Stream,
			Consumer: h.Get(HeaderDeadConsumer),
			Reason:   h.Get(HeaderDeadReason),
			Detail:   h.Get(HeaderDeadDetail),
			Subject:  h.Get(HeaderDeadSubject),
			EventID:  h.Get(HeaderEventID),
			At:       md.Timestamp,
		}
		if err := fn(m, dl); err != nil {
			return err
		}
	}
	return nil
}
