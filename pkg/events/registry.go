// Package events moves domain events from a service's Postgres transaction to NATS JetStream and
// into consumers, without losing or doubling any: a transactional outbox, a relay that publishes
// it with Nats-Msg-Id = event id, and an idempotent consumer that records handled ids in its own
// transaction.
package events

import (
	"maps"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Stream is one producing service's JetStream stream. Subjects follow
// orgplane.<svc>.v1.<entity>.<past_verb>; an MSP can subscribe to them with the stock nats CLI.
type Stream struct {
	Service  string
	Name     string
	Subjects []string
}

// Subjects of every event in the suite: the one registry producers, consumers and docs use.
const (
	SubjectAccountCreated          = "orgplane.org.v1.account.created"
	SubjectAccountSettingsUpdated  = "orgplane.org.v1.account_settings.updated"
	SubjectUserCreated             = "orgplane.org.v1.user.created"
	SubjectUserUpdated             = "orgplane.org.v1.user.updated"
	SubjectOrganizationCreated     = "orgplane.org.v1.organization.created"
	SubjectOrganizationUpdated     = "orgplane.org.v1.organization.updated"
	SubjectOrganizationDeactivated = "orgplane.org.v1.organization.deactivated"
	SubjectOrganizationReactivated = "orgplane.org.v1.organization.reactivated"
	SubjectOrganizationDeleted     = "orgplane.org.v1.organization.deleted"
	SubjectReviewCreated           = "orgplane.org.v1.review.created"
	SubjectReviewOwnerChanged      = "orgplane.org.v1.review.owner_changed"

	SubjectSubscriptionChanged = "orgplane.billing.v1.subscription.changed"
)

// Streams lists every producer's stream.
func Streams() []Stream {
	return []Stream{
		{Service: "org", Name: "ORGPLANE_ORG", Subjects: []string{"orgplane.org.v1.>"}},
		{Service: "billing", Name: "ORGPLANE_BILLING", Subjects: []string{"orgplane.billing.v1.>"}},
	}
}

// StreamsOf returns the streams service publishes into.
func StreamsOf(service string) []Stream {
	var out []Stream
	for _, s := range Streams() {
		if s.Service == service {
			out = append(out, s)
		}
	}
	return out
}

// Registered maps each event message to its subject. Every registered message carries the
// event envelope fields (event_id, occurred_at, account_id); a test holds them to it.
func Registered() map[protoreflect.FullName]string {
	return maps.Clone(registered())
}

// registered is built once: Enqueue looks a subject up on every write.
var registered = sync.OnceValue(func() map[protoreflect.FullName]string {
	return map[protoreflect.FullName]string{
		name(&orgv1.AccountCreated{}):          SubjectAccountCreated,
		name(&orgv1.AccountSettingsUpdated{}):  SubjectAccountSettingsUpdated,
		name(&orgv1.UserCreated{}):             SubjectUserCreated,
		name(&orgv1.UserUpdated{}):             SubjectUserUpdated,
		name(&orgv1.OrganizationCreated{}):     SubjectOrganizationCreated,
		name(&orgv1.OrganizationUpdated{}):     SubjectOrganizationUpdated,
		name(&orgv1.OrganizationDeactivated{}): SubjectOrganizationDeactivated,
		name(&orgv1.OrganizationReactivated{}): SubjectOrganizationReactivated,
		name(&orgv1.OrganizationDeleted{}):     SubjectOrganizationDeleted,
		name(&orgv1.ReviewCreated{}):           SubjectReviewCreated,
		name(&orgv1.ReviewOwnerChanged{}):      SubjectReviewOwnerChanged,
		name(&billingv1.SubscriptionChanged{}): SubjectSubscriptionChanged,
	}
})

// SubjectOf returns msg's subject, if msg is a registered event.
func SubjectOf(msg proto.Message) (string, bool) {
	s, ok := registered()[msg.ProtoReflect().Descriptor().FullName()]
	return s, ok
}

func name(m proto.Message) protoreflect.FullName { return m.ProtoReflect().Descriptor().FullName() }
