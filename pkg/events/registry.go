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
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/events/v1"
)

// Stream is one producing service's JetStream stream. Subjects follow
// orgplane.<svc>.<version>.<account>.<entity>.<action>: the account is in the subject so that NATS
// permissions can give an MSP's subscriber its own account's events and nothing else
// (docs/events.md).
type Stream struct {
	Service  string
	Name     string
	Subjects []string
	// Prefix is orgplane.<svc>.<version>, the part of every subject that names the producer.
	Prefix string
}

// Kind is what the bus knows of one event message type.
type Kind struct {
	// Type is the message's proto full name (also the Orgplane-Event-Type header).
	Type protoreflect.FullName
	// Subject is the pattern its events are published on, orgplane.<svc>.<version>.*.<entity>.<action>,
	// with a wildcard where the account goes (SubjectFor fills it in); consumers filter on it.
	Subject string
	// Entity and Action are the event option's, the last two tokens of the subject.
	Entity, Action string
	// Stream is its producer's stream.
	Stream Stream
}

// NoAccount is the account token of an event that belongs to no account.
const NoAccount = "_"

// SubjectFor is the subject of this kind's event for account ("" gives NoAccount).
func (k Kind) SubjectFor(account string) (string, error) {
	if account == "" {
		account = NoAccount
	}
	if !validAccountToken(account) {
		return "", fmt.Errorf("%s: account %q cannot be a subject token", k.Type, account)
	}
	return k.Stream.Prefix + "." + account + "." + k.Entity + "." + k.Action, nil
}

// validAccountToken keeps the account one plain subject token: a dot would shift the entity, and
// a wildcard would let one account's subject match another's subscription. Lowercase only, as
// Postgres writes a uuid (the relay's Orgplane-Account-Id header), so subject and header agree.
func validAccountToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Subject is a parsed event subject.
type Subject struct {
	// Prefix is orgplane.<svc>.<version>: the producer.
	Prefix                  string
	Account, Entity, Action string
}

// ParseSubject splits orgplane.<svc>.<version>.<account>.<entity>.<action>.
func ParseSubject(s string) (Subject, bool) {
	t := strings.Split(s, ".")
	if len(t) != 6 || t[0] != "orgplane" || slices.Contains(t, "") || !validAccountToken(t[3]) {
		return Subject{}, false
	}
	return Subject{Prefix: strings.Join(t[:3], "."), Account: t[3], Entity: t[4], Action: t[5]}, true
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
		Subject: prefix + ".*." + opt.GetEntity() + "." + opt.GetAction(),
		Entity:  opt.GetEntity(),
		Action:  opt.GetAction(),
		Stream: Stream{
			Service:  pkg[1],
			Name:     "ORGPLANE_" + strings.ToUpper(pkg[1]),
			Subjects: []string{prefix + ".>"},
			Prefix:   prefix,
		},
	}, nil
}

// SubjectOf returns the subject msg is published on (its account_id filled in), if msg is an
// event.
func SubjectOf(msg proto.Message) (string, bool) {
	k, err := KindOf(msg)
	if err != nil {
		return "", false
	}
	env, err := envelopeOf(msg)
	if err != nil {
		return "", false
	}
	s, err := k.SubjectFor(env.accountID())
	return s, err == nil
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
