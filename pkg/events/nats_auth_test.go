package events_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/pkg/events"
	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// client is a raw NATS connection as some user, recording the errors the server sends it
// (permission violations arrive asynchronously).
type client struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []error
}

func (c *client) violations() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// waitViolation waits for the server to report a permissions violation naming subject.
func (c *client) waitViolation(t *testing.T, what, subject string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, err := range c.violations() {
			if strings.Contains(strings.ToLower(err.Error()), "permissions violation") && strings.Contains(err.Error(), subject) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no permissions violation for %s (errors: %v)", what, subject, c.violations())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dial(t *testing.T, cfg events.NATSConfig, inbox string) (*client, error) {
	t.Helper()
	c := &client{}
	opts := []nats.Option{
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			c.mu.Lock()
			c.errs = append(c.errs, err)
			c.mu.Unlock()
		}),
		nats.Timeout(2 * time.Second),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	return c, nil
}

func mustDial(t *testing.T, cfg events.NATSConfig, inbox string) *client {
	t.Helper()
	c, err := dial(t, cfg, inbox)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// producers are the streams of every declared event, with one event kind each can publish.
func producers(t *testing.T) map[string][]events.Kind {
	t.Helper()
	out := map[string][]events.Kind{}
	for _, name := range declaredEvents() {
		msg, err := protoregistryFind(name)
		if err != nil {
			t.Fatal(err)
		}
		k, err := events.KindOf(msg)
		if err != nil {
			t.Fatal(err)
		}
		out[k.Stream.Name] = append(out[k.Stream.Name], k)
	}
	if len(out) < 2 {
		t.Fatalf("found %d producing streams; org and billing alone are 2", len(out))
	}
	return out
}

func (h *harness) ensureAllStreams(kinds map[string][]events.Kind) {
	h.t.Helper()
	for _, ks := range kinds {
		if err := events.EnsureStreams(h.ctx, h.js, ks[0].Stream); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) streamCount(name string) uint64 {
	h.t.Helper()
	s, err := h.js.Stream(h.ctx, name)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

// forged is an event as an attacker writes it: the right subject, headers and payload shape.
func forged(t *testing.T, k events.Kind, account string) *nats.Msg {
	t.Helper()
	msg, err := protoregistryFind(k.Type)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := k.SubjectFor(account)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Data, _ = proto.Marshal(msg)
	m.Header.Set(events.HeaderEventType, string(k.Type))
	m.Header.Set(events.HeaderAccountID, account)
	m.Header.Set(jetstream.MsgIDHeader, uuid.NewString())
	return m
}

func TestUnauthenticatedConnectionIsRefused(t *testing.T) {
	h := newHarness(t)
	other, err := natsserver.NewAuth() // another operator's: a credential this server never trusted
	if err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(t.TempDir(), "foreign.creds")
	if err := other.WriteCreds(foreign, "intruder", natsserver.Everything(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	expired := filepath.Join(t.TempDir(), "expired.creds")
	if err := h.nats.Auth.WriteCreds(expired, "old", natsserver.Everything(), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	withPassword := strings.Replace(h.nats.URL, "nats://", "nats://orgplane:orgplane@", 1)
	for name, cfg := range map[string]events.NATSConfig{
		"no credential":            {URL: h.nats.URL},
		"another operator's creds": {URL: h.nats.URL, CredsFile: foreign},
		"expired creds":            {URL: h.nats.URL, CredsFile: expired},
		"a guessed password":       {URL: withPassword},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := dial(t, cfg, "")
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
				t.Fatalf("connected (%v); want an authorization violation", err)
			}
		})
	}
}

// Each producer's credential, as ServicePermissions makes it, is tried against every other
// producer's subjects and stream: nothing it publishes there lands, and no JetStream API call
// on another's stream, nor a wide subscription, is allowed.
func TestServiceCredentialCannotTouchAnotherServicesSubjects(t *testing.T) {
	h := newHarness(t)
	kinds := producers(t)
	h.ensureAllStreams(kinds)
	account := uuid.NewString()
	for own, ownKinds := range kinds {
		service := ownKinds[0].Stream.Service
		perms, err := events.ServicePermissions(service, []events.Stream{ownKinds[0].Stream}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := mustDial(t, h.nats.As(t, service, perms), events.InboxPrefix(service))
		js, err := jetstream.New(c.nc)
		if err != nil {
			t.Fatal(err)
		}
		// Its own events go through: the credential is not simply dead.
		before := h.streamCount(own)
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		if _, err := js.PublishMsg(ctx, forged(t, ownKinds[0], account)); err != nil {
			t.Fatalf("%s cannot publish its own %s: %v", service, ownKinds[0].Type, err)
		}
		cancel()
		if h.streamCount(own) != before+1 {
			t.Fatalf("%s's own event did not land in %s", service, own)
		}
		for other, otherKinds := range kinds {
			if other == own {
				continue
			}
			before := h.streamCount(other)
			for _, k := range otherKinds {
				m := forged(t, k, account)
				if err := c.nc.PublishMsg(m); err != nil {
					t.Fatal(err)
				}
				c.waitViolation(t, service+" publishing "+string(k.Type), m.Subject)
			}
			if n := h.streamCount(other); n != before {
				t.Errorf("%s published into %s: %d messages, had %d", service, other, n, before)
			}
			otherStream := otherKinds[0].Stream
			for _, subject := range []string{
				"$JS.API.STREAM.UPDATE." + other,
				"$JS.API.STREAM.DELETE." + other,
				"$JS.API.STREAM.PURGE." + other,
				"$JS.API.STREAM.MSG.GET." + other,
				"$JS.API.STREAM.MSG.DELETE." + other,
				"$JS.API.CONSUMER.CREATE." + other + "." + service + "-spy",
				"$JS.API.CONSUMER.CREATE." + other + "." + service + "-spy." + otherStream.Prefix + ".>",
				"$JS.API.CONSUMER.DURABLE.CREATE." + other + "." + service + "-spy",
				"$JS.API.CONSUMER.LIST." + other,
			} {
				if err := c.nc.Publish(subject, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				c.waitViolation(t, service+" calling the JetStream API", subject)
			}
		}
		for _, subject := range []string{"$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.CREATE.EVIL", "$JS.API.INFO"} {
			if err := c.nc.Publish(subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			c.waitViolation(t, service+" calling the JetStream API", subject)
		}
		// Events reach a service only through its own durables, never a subscription; and it
		// reads no one else's replies.
		for _, subject := range []string{"orgplane.>", ">", "_INBOX.>", events.InboxPrefix("someone-else") + ".>", "$JS.ACK.>"} {
			if _, err := c.nc.SubscribeSync(subject); err != nil {
				t.Fatal(err)
			}
			c.waitViolation(t, service+" subscribing", subject)
		}
	}
}

// A tenant's read-only credential receives its own account's events from every producer, live,
// and nothing of another account's; it can neither widen its subscription nor publish nor call
// the JetStream API.
func TestTenantCredentialReceivesOnlyItsOwnAccount(t *testing.T) {
	h := newHarness(t)
	h.ensureAllStreams(producers(t))
	mine, theirs := uuid.NewString(), uuid.NewString()
	creds, err := h.nats.Auth.TenantCreds(mine, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tenant.creds")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	tenant := mustDial(t, events.NATSConfig{URL: h.nats.URL, CredsFile: path}, "")
	own, err := tenant.nc.SubscribeSync(events.TenantSubject(mine))
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"orgplane.>", events.TenantSubject(theirs), "orgplane.org.v1.*.organization.created", ">"} {
		if _, err := tenant.nc.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		tenant.waitViolation(t, "tenant subscribing", subject)
	}
	for _, subject := range []string{"orgplane.org.v1." + mine + ".organization.created", "$JS.API.STREAM.NAMES", "$JS.API.CONSUMER.CREATE.ORGPLANE_ORG.peek"} {
		if err := tenant.nc.Publish(subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		tenant.waitViolation(t, "tenant publishing", subject)
	}
	if err := tenant.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	want := map[string]bool{}
	for _, account := range []string{theirs, mine, theirs} {
		err := postgres.InTenantTx(h.ctx, h.db.Pool, account, func(tx pgx.Tx) error {
			id, err := events.Enqueue(h.ctx, tx, &orgv1.OrganizationCreated{AccountId: account})
			if err != nil {
				return err
			}
			if account == mine {
				want[id] = true
			}
			id, err = events.Enqueue(h.ctx, tx, &billingv1.SubscriptionChanged{AccountId: account})
			if account == mine {
				want[id] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	h.startRelay()
	// Everything the relay published is in the streams once the outbox is empty; the tenant has
	// been sent whatever it will be sent by the time a flush returns.
	deadline := time.Now().Add(10 * time.Second)
	for h.outboxLen() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("relay did not publish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tenant.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for {
		m, err := own.NextMsg(500 * time.Millisecond)
		if errors.Is(err, nats.ErrTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if a := m.Header.Get(events.HeaderAccountID); a != mine || !strings.Contains(m.Subject, "."+mine+".") {
			t.Fatalf("tenant of %s received %s of account %s", mine, m.Subject, a)
		}
		got[m.Header.Get(jetstream.MsgIDHeader)] = true
	}
	for id := range want {
		if !got[id] {
			t.Errorf("tenant missed its own event %s (received %v)", id, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("tenant received %d events, want its own %d", len(got), len(want))
	}
}

// The consumer and the relay run with least-privilege credentials; events forged by clients
// without the producer's rights (another service, the consuming service itself, a tenant) never
// reach the stream, so never the consumer, while the producer's own events do.
func TestForgedEventNeverReachesAConsumer(t *testing.T) {
	h := newHarness(t)
	kinds := producers(t)
	h.ensureAllStreams(kinds)
	orgStream := kinds["ORGPLANE_ORG"][0].Stream
	billingStream := kinds["ORGPLANE_BILLING"][0].Stream

	spec := h.consumerSpec()
	consumerPerms, err := events.ServicePermissions("billing", []events.Stream{billingStream}, []events.ConsumerSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	_, consumerJS, err := events.Connect(h.nats.As(t, "billing", consumerPerms), "billing", h.log)
	if err != nil {
		t.Fatal(err)
	}
	c, err := events.NewConsumer(consumerJS, h.db.Pool, h.log, spec)
	if err != nil {
		t.Fatal(err)
	}
	h.background(c.Run)
	orgPerms, err := events.ServicePermissions("org", []events.Stream{orgStream}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, relayJS, err := events.Connect(h.nats.As(t, "org", orgPerms), "org", h.log)
	if err != nil {
		t.Fatal(err)
	}
	r := events.NewRelay(h.db.Pool, relayJS, h.log, schema)
	r.PollInterval = 100 * time.Millisecond
	h.background(r.Run)

	account := uuid.NewString()
	tenantCreds, err := h.nats.Auth.TenantCreds(account, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	tenantPath := filepath.Join(t.TempDir(), "tenant.creds")
	if err := os.WriteFile(tenantPath, tenantCreds, 0o600); err != nil {
		t.Fatal(err)
	}
	attackers := map[string]*client{
		"the consuming service":    mustDial(t, h.nats.As(t, "billing-attacker", consumerPerms), events.InboxPrefix("billing")),
		"the tenant of that event": mustDial(t, events.NATSConfig{URL: h.nats.URL, CredsFile: tenantPath}, ""),
	}
	var forgedIDs []string
	accountCreated, _ := events.KindOf(&orgv1.AccountCreated{})
	for name, a := range attackers {
		m := forged(t, accountCreated, account)
		ev := &orgv1.AccountCreated{EventId: m.Header.Get(jetstream.MsgIDHeader), AccountId: account, DisplayName: "forged"}
		m.Data, _ = proto.Marshal(ev)
		forgedIDs = append(forgedIDs, ev.EventId)
		if err := a.nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		a.waitViolation(t, name, m.Subject)
		// The JetStream way too: a publish the stream would acknowledge.
		ctx, cancel := context.WithTimeout(h.ctx, time.Second)
		js, _ := jetstream.New(a.nc)
		if _, err := js.PublishMsg(ctx, m); err == nil {
			t.Errorf("%s had a forged event acknowledged by the stream", name)
		}
		cancel()
	}
	// The producer's own event, committed after the forgeries, is applied: the consumer ran past
	// the point where they would have been.
	genuine := h.commitChange(account)
	h.waitApplied(genuine, 15*time.Second)
	for _, id := range forgedIDs {
		if n := h.times(id); n != 0 {
			t.Errorf("forged event %s applied %d times", id, n)
		}
	}
	if n := h.streamCount("ORGPLANE_ORG"); n != 1 {
		t.Errorf("org's stream holds %d messages; want only the genuine one", n)
	}
	// The consumer's credential suffices to acknowledge, or the event would come back.
	h.waitAcked("test-received", 1)
}

// waitAcked waits until durable has acknowledged the stream up to seq, with nothing pending.
func (h *harness) waitAcked(durable string, seq uint64) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := h.js.Consumer(h.ctx, "ORGPLANE_ORG", durable)
		if err != nil {
			h.t.Fatal(err)
		}
		info, err := c.Info(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		if info.AckFloor.Stream >= seq && info.NumAckPending == 0 && info.NumRedelivered == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: ack floor %d, %d pending, %d redelivered; want %d acknowledged once",
				durable, info.AckFloor.Stream, info.NumAckPending, info.NumRedelivered, seq)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consumerSpec is the harness's consumer: it records what it applied in received.
func (h *harness) consumerSpec() events.ConsumerSpec {
	return events.ConsumerSpec{
		Durable: "test-received",
		AckWait: 2 * time.Second,
		Handlers: []events.Handler{events.On(func(ctx context.Context, tx pgx.Tx, ev *orgv1.AccountCreated) error {
			_, err := tx.Exec(ctx, `INSERT INTO received (event_id, account_id, times) VALUES ($1, $2, 1)
				ON CONFLICT (event_id) DO UPDATE SET times = received.times + 1`, ev.GetEventId(), ev.GetAccountId())
			return err
		})},
	}
}
