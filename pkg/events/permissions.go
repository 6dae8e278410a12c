package events

import (
	"fmt"
	"log/slog"
	"slices"
)

// Permissions are the subjects one NATS user may publish and subscribe to, as allow lists. An
// empty list means nothing: whoever turns Permissions into a credential must deny ">" for it
// rather than leave it empty, which NATS reads as everything.
type Permissions struct {
	Publish   []string
	Subscribe []string
}

// ServicePermissions are what service needs of NATS and nothing more:
//   - publish its events (the subjects of the streams it produces) and create, update and read
//     those streams;
//   - create, read and pull from its own durable consumers, and acknowledge their messages;
//   - set its consumers' poison events aside in the dead-letter stream (orgplane.dlq.<durable>.>);
//   - subscribe to its own inbox (InboxPrefix), where replies and pulled events arrive.
//
// It may not publish another service's subjects, touch another service's streams or durables,
// list streams, or subscribe to events directly: what it consumes reaches it only through its
// durables.
func ServicePermissions(service string, produces []Stream, consumers []ConsumerSpec) (Permissions, error) {
	var p Permissions
	for _, s := range produces {
		p.Publish = append(p.Publish, s.Subjects...)
		p.Publish = append(p.Publish,
			"$JS.API.STREAM.CREATE."+s.Name,
			"$JS.API.STREAM.UPDATE."+s.Name,
			"$JS.API.STREAM.INFO."+s.Name)
	}
	quiet := slog.New(slog.DiscardHandler)
	for _, spec := range consumers {
		c, err := NewConsumer(nil, nil, quiet, spec)
		if err != nil {
			return Permissions{}, err
		}
		stream, durable := c.stream, spec.Durable
		p.Publish = append(p.Publish,
			"$JS.API.CONSUMER.CREATE."+stream+"."+durable,
			"$JS.API.CONSUMER.INFO."+stream+"."+durable,
			"$JS.API.CONSUMER.MSG.NEXT."+stream+"."+durable,
			// Ack, nak, in-progress and term all publish to the reply subject of the delivery.
			"$JS.ACK."+stream+"."+durable+".>",
			// Its own dead letters, and nobody else's.
			deadLetterPrefix+"."+durable+".>")
	}
	if len(consumers) > 0 {
		// Every consumer makes sure the dead-letter stream exists before it starts.
		p.Publish = append(p.Publish,
			"$JS.API.STREAM.CREATE."+DeadLetterStream,
			"$JS.API.STREAM.UPDATE."+DeadLetterStream,
			"$JS.API.STREAM.INFO."+DeadLetterStream)
	}
	p.Subscribe = []string{InboxPrefix(service) + ".>"}
	p.Publish = slices.Compact(p.Publish)
	return p, nil
}

// TenantPermissions are an external subscriber's: every producer's events of one account,
// live, and nothing else (no publishing, no JetStream API, no other account).
func TenantPermissions(account string) (Permissions, error) {
	if account == NoAccount || !validAccountToken(account) {
		return Permissions{}, fmt.Errorf("account %q is not an account id", account)
	}
	return Permissions{Subscribe: []string{TenantSubject(account)}}, nil
}

// TenantSubject is the subscription that receives every event of account.
func TenantSubject(account string) string { return "orgplane.*.v1." + account + ".>" }
