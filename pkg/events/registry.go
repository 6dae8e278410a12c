// Package events moves domain events from a service's Postgres transaction to NATS JetStream and
// into consumers, without losing or doubling any: a transactional outbox, a relay that publishes
// it with Nats-Msg-Id = event id, and idempotent typed consumers that record handled ids in their
// own transaction.
//
// The package knows no service. An event is a proto message carrying the
// (orgplane.events.v1.event) option; the message's proto package names the producing service,
// the option the entity and what happened, and together they give its subject and stream.
package events

import (
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/events/v1"
)

// Stream is one producing service's JetStream stream. Subjects follow
// orgplane.<svc>.<version>.<entity>.<action>; an MSP can subscribe to them with the stock nats CLI.
type Stream struct {
	Service  string
	Name     string
	Subjects []string
}

// Kind is what the bus knows of one event message type.
type Kind struct {
	// Type is the message's proto full name (also the Orgplane-Event-Type header).
	Type protoreflect.FullName
	// Subject is where it is published.
	Subject string
	// Stream is its producer's stream.
	Stream Stream
}

// kinds caches KindOf per message type: Enqueue looks one up on every write.
var kinds sync.Map // protoreflect.FullName -> kindResult

type kindResult struct {
	k   Kind
	err error
}

// KindOf describes the event message msg, or says why it is not one (no event option, no
// envelope, a package outside orgplane.<service>.<version>).
func KindOf(msg proto.Message) (Kind, error) {
	return kindOf(msg.ProtoReflect().Descriptor())
}

func kindOf(d protoreflect.MessageDescriptor) (Kind, error) {
	if r, ok := kinds.Load(d.FullName()); ok {
		return r.(kindResult).k, r.(kindResult).err
	}
	k, err := describe(d)
	kinds.Store(d.FullName(), kindResult{k, err})
	return k, err
}

func describe(d protoreflect.MessageDescriptor) (Kind, error) {
	opt, _ := proto.GetExtension(d.Options(), eventsv1.E_Event).(*eventsv1.Event)
	if opt.GetEntity() == "" || opt.GetAction() == "" {
		return Kind{}, fmt.Errorf("%s is not an event: it lacks the (orgplane.events.v1.event) option", d.FullName())
	}
	if err := checkEnvelope(d); err != nil {
		return Kind{}, err
	}
	// orgplane.<service>.<version>
	pkg := strings.Split(string(d.ParentFile().Package()), ".")
	if len(pkg) != 3 || pkg[0] != "orgplane" {
		return Kind{}, fmt.Errorf("%s: events live in a package orgplane.<service>.<version>", d.FullName())
	}
	prefix := strings.Join(pkg, ".")
	return Kind{
		Type:    d.FullName(),
		Subject: prefix + "." + opt.GetEntity() + "." + opt.GetAction(),
		Stream: Stream{
			Service:  pkg[1],
			Name:     "ORGPLANE_" + strings.ToUpper(pkg[1]),
			Subjects: []string{prefix + ".>"},
		},
	}, nil
}

// SubjectOf returns msg's subject, if msg is an event.
func SubjectOf(msg proto.Message) (string, bool) {
	k, err := KindOf(msg)
	return k.Subject, err == nil
}

// StreamsOf returns the streams the given event messages are published into, once each.
func StreamsOf(msgs ...proto.Message) ([]Stream, error) {
	var out []Stream
	seen := map[string]bool{}
	for _, m := range msgs {
		k, err := KindOf(m)
		if err != nil {
			return nil, err
		}
		if !seen[k.Stream.Name] {
			seen[k.Stream.Name] = true
			out = append(out, k.Stream)
		}
	}
	return out, nil
}

func checkEnvelope(d protoreflect.MessageDescriptor) error {
	fields := d.Fields()
	eventID, occurred, account := fields.ByName("event_id"), fields.ByName("occurred_at"), fields.ByName("account_id")
	if eventID == nil || occurred == nil || account == nil ||
		eventID.Kind() != protoreflect.StringKind || account.Kind() != protoreflect.StringKind ||
		occurred.Message() == nil || occurred.Message().FullName() != "google.protobuf.Timestamp" {
		return fmt.Errorf("%s lacks the event envelope (string event_id, Timestamp occurred_at, string account_id)", d.FullName())
	}
	return nil
}
