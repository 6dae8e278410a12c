package replicas_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orgplane/orgplane/pkg/events"
	"github.com/orgplane/orgplane/services/gateway/suite"
)

// schemaOf is a service's Postgres schema.
func schemaOf(service string) string { return strings.ReplaceAll(service, "-", "_") }

// installAudit records every outbox row that commits, in every service's schema, in a table of
// its own: the relay deletes outbox rows once published, and this is what it had to publish. A
// row of a transaction that rolls back (a replica killed mid-request) is not recorded, since the
// trigger's insert rolls back with it.
func installAudit(t *testing.T, dbURL string, services []string) {
	t.Helper()
	stmts := []string{
		`CREATE SCHEMA replicas_audit`,
		`CREATE TABLE replicas_audit.outbox (schema_name text NOT NULL, event_id uuid NOT NULL, subject text NOT NULL,
			committed_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
		`CREATE FUNCTION replicas_audit.record() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
			SET search_path = pg_catalog AS $$
		BEGIN
			INSERT INTO replicas_audit.outbox (schema_name, event_id, subject) VALUES (TG_TABLE_SCHEMA, NEW.event_id, NEW.subject);
			RETURN NULL;
		END $$`,
	}
	for _, s := range services {
		stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER replicas_audit AFTER INSERT ON %s.outbox
			FOR EACH ROW EXECUTE FUNCTION replicas_audit.record()`, pgx.Identifier{schemaOf(s)}.Sanitize()))
	}
	conn := connect(t, dbURL)
	defer conn.Close(context.Background())
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("audit: %v\n%s", err, s)
		}
	}
}

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// committedEvents are the event ids the audit has recorded so far, with their schema.
func committedEvents(t *testing.T, conn *pgx.Conn) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT event_id::text, schema_name FROM replicas_audit.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var id, schema string
	if _, err := pgx.ForEachRow(rows, []any{&id, &schema}, func() error { out[id] = schema; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// count runs a count(*) query.
func count(t *testing.T, conn *pgx.Conn, q string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	return n
}

// streamMsg is one message a stream holds.
type streamMsg struct {
	id, subject string
	data        []byte
}

// bus is the test's own view of NATS, as an administrator.
type bus struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func openBus(t *testing.T, c *cluster) *bus {
	t.Helper()
	nc, err := nats.Connect(c.natsURL, nats.UserCredentials(c.adminCreds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &bus{nc: nc, js: js}
}

// messages reads every message stream holds, in order.
func (b *bus) messages(t *testing.T, stream string) []streamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := int(info.State.Msgs)
	if want == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]streamMsg, 0, want)
	for len(out) < want {
		batch, err := cons.Fetch(min(want-len(out), 500), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			out = append(out, streamMsg{id: m.Headers().Get(jetstream.MsgIDHeader), subject: m.Subject(), data: m.Data()})
		}
		if batch.Error() != nil && got == 0 {
			t.Fatalf("read %s: %v after %d of %d messages", stream, batch.Error(), len(out), want)
		}
	}
	return out
}

// consumerState is a durable consumer as JetStream sees it.
type consumerState struct {
	durable, stream string
	filters         []string
	pending, acking uint64
	redelivered     int
}

// consumers lists the durable consumers of every stream.
func (b *bus) consumers(t *testing.T, streams []string) []consumerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []consumerState
	for _, name := range streams {
		s, err := b.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		infos := s.ListConsumers(ctx)
		for info := range infos.Info() {
			if info.Config.Durable == "" {
				continue
			}
			filters := info.Config.FilterSubjects
			if info.Config.FilterSubject != "" {
				filters = append(filters, info.Config.FilterSubject)
			}
			out = append(out, consumerState{durable: info.Config.Durable, stream: name, filters: filters,
				pending: info.NumPending, acking: uint64(info.NumAckPending), redelivered: info.NumRedelivered})
		}
		if err := infos.Err(); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(out, func(a, b consumerState) int { return strings.Compare(a.durable, b.durable) })
	return out
}

// deadLetters counts the messages of the dead-letter stream (none exists: none).
func (b *bus) deadLetters(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Msgs)
}

// subjectMatches reports whether subject matches a NATS filter (* one token, > the rest).
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || tok != "*" && tok != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}

// serviceOfDurable names the service a durable consumer belongs to ("<service>-<purpose>").
func serviceOfDurable(durable string, services []string) string {
	best := ""
	for _, s := range services {
		if strings.HasPrefix(durable, s+"-") && len(s) > len(best) {
			best = s
		}
	}
	return best
}

// suiteStreams are the streams the services produce into, by service.
func suiteStreams(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, s := range suite.Specs(suite.Options{}) {
		streams, err := s.Streams()
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range streams {
			out[s.Name] = append(out[s.Name], st.Name)
		}
	}
	return out
}
