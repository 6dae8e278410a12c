package stack_test

import (
	"context"
	"fmt"
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

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/pkg/events"
	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/platform"
)

// subjectMatches reports whether subject is one of pattern's, where a * token stands for any one
// token (the account).
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	if len(p) != len(s) {
		return false
	}
	for i := range p {
		if p[i] != "*" && p[i] != s[i] {
			return false
		}
	}
	return true
}

// natsClient is a connection to the suite's NATS as one user, recording what the server
// refuses it (permission violations arrive asynchronously).
type natsClient struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []string
}

func dialNATS(t *testing.T, url string, opts ...nats.Option) (*natsClient, error) {
	t.Helper()
	c := &natsClient{}
	opts = append(opts, nats.Timeout(2*time.Second), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err.Error())
		c.mu.Unlock()
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	return c, nil
}

// refused waits for the server to refuse subject to c.
func (c *natsClient) refused(t *testing.T, what, subject string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c.mu.Lock()
		errs := slices.Clone(c.errs)
		c.mu.Unlock()
		for _, e := range errs {
			if strings.Contains(strings.ToLower(e), "permissions violation") && strings.Contains(e, subject) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s was not refused (server said %v)", what, subject, errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// forgedOrganizationCreated is what an attacker who reaches NATS publishes to be counted as a
// license by billing: the right subject, headers and payload shape, under a fresh event id.
func forgedOrganizationCreated(account string) *nats.Msg {
	id := uuid.NewString()
	ev := &orgv1.OrganizationCreated{EventId: id, AccountId: account, Organization: &orgv1.Organization{Name: "forged"}}
	subject, _ := events.SubjectOf(ev)
	m := nats.NewMsg(subject)
	m.Data, _ = proto.Marshal(ev)
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Header.Set(events.HeaderEventType, "orgplane.org.v1.OrganizationCreated")
	m.Header.Set(events.HeaderAccountID, account)
	return m
}

// The suite's NATS as `make run` runs it, attacked the ways the issue saw: without a credential,
// with each service's credential against every other producer's subjects and stream, with a
// tenant's read-only credential (minted the way `devstack nats-credential` mints it), and by
// forging the organization.created that billing counts.
func TestNATSIsAuthenticatedAndScopedPerServiceAndTenant(t *testing.T) {
	w := startWorld(t)
	st := w.st

	t.Run("no credential is refused", func(t *testing.T) {
		if _, err := dialNATS(t, st.NATSURL); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Fatalf("connected without a credential (%v)", err)
		}
	})

	t.Run("each service publishes only its own subjects", func(t *testing.T) {
		specs := stack.Specs(nil)
		producers := 0
		for _, attacker := range specs {
			c, err := dialNATS(t, st.NATSURL, nats.UserCredentials(st.NATSCreds[attacker.Name]),
				nats.CustomInboxPrefix(events.InboxPrefix(attacker.Name)))
			if err != nil {
				t.Fatalf("%s's own credential: %v", attacker.Name, err)
			}
			for _, victim := range specs {
				if victim.Name == attacker.Name || len(victim.Produces) == 0 {
					continue
				}
				producers++
				streams, err := victim.Streams()
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range victim.Produces {
					k, _ := events.KindOf(ev)
					subject, _ := k.SubjectFor(uuid.NewString())
					if err := c.nc.Publish(subject, []byte("forged")); err != nil {
						t.Fatal(err)
					}
					c.refused(t, attacker.Name+" publishing "+string(k.Type), subject)
				}
				for _, s := range streams {
					for _, api := range []string{"STREAM.UPDATE.", "STREAM.DELETE.", "STREAM.PURGE.", "STREAM.MSG.GET.", "CONSUMER.LIST."} {
						if err := c.nc.Publish("$JS.API."+api+s.Name, []byte(`{}`)); err != nil {
							t.Fatal(err)
						}
						c.refused(t, attacker.Name+" on "+victim.Name+"'s stream", "$JS.API."+api+s.Name)
					}
				}
			}
			if _, err := c.nc.SubscribeSync("orgplane.>"); err != nil {
				t.Fatal(err)
			}
			c.refused(t, attacker.Name+" subscribing to every event", "orgplane.>")
		}
		if producers == 0 {
			t.Fatal("no producing service found; the test means nothing")
		}
	})

	mine, theirs := w.newMSP("Tenant A"), w.newMSP("Tenant B")
	w.subscribed(mine)
	w.subscribed(theirs)
	creds, err := stack.TenantCredential(st.NATSDir, mine.id, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tenantCreds := filepath.Join(t.TempDir(), "tenant.creds")
	if err := os.WriteFile(tenantCreds, creds, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("a tenant receives its own account's events and nothing of another's", func(t *testing.T) {
		tenant, err := dialNATS(t, st.NATSURL, nats.UserCredentials(tenantCreds))
		if err != nil {
			t.Fatal(err)
		}
		own, err := tenant.nc.SubscribeSync(events.TenantSubject(mine.id))
		if err != nil {
			t.Fatal(err)
		}
		for _, wider := range []string{events.TenantSubject(theirs.id), "orgplane.>", "orgplane.org.v1.*.organization.created"} {
			if _, err := tenant.nc.SubscribeSync(wider); err != nil {
				t.Fatal(err)
			}
			tenant.refused(t, "tenant subscribing", wider)
		}
		if err := tenant.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		// Both accounts change, in org and in billing; the other account's changes are in the
		// bus (the world's tap sees them) before the tenant's last one.
		for _, a := range []msp{theirs, mine} {
			w.createOrg(a, a.adminKey, `{"name":"Tenant event probe"}`)
			w.must(200, "PATCH", "/v1/accounts/"+a.id+"/subscription?updateMask=unlimited", operatorToken, `{"unlimited":true}`)
		}
		event(w, "orgplane.billing.v1."+theirs.id+".subscription.changed",
			func() *billingv1.SubscriptionChanged { return &billingv1.SubscriptionChanged{} },
			func(e *billingv1.SubscriptionChanged) bool { return e.GetSubscription().GetUnlimited() })
		event(w, "orgplane.org.v1."+theirs.id+".organization.created",
			func() *orgv1.OrganizationCreated { return &orgv1.OrganizationCreated{} },
			func(*orgv1.OrganizationCreated) bool { return true })
		fence := w.createOrg(mine, mine.adminKey, `{"name":"Tenant fence"}`)["id"].(string)

		seen := map[string]bool{}
		deadline := time.Now().Add(15 * time.Second)
		for !seen["fence"] || !seen["billing"] {
			m, err := own.NextMsg(time.Until(deadline))
			if err != nil {
				t.Fatalf("tenant stopped receiving its own events (%v); seen %v", err, seen)
			}
			if a := m.Header.Get(events.HeaderAccountID); a != mine.id || !strings.Contains(m.Subject, "."+mine.id+".") {
				t.Fatalf("tenant of %s received %s of account %q", mine.id, m.Subject, a)
			}
			switch {
			case strings.HasPrefix(m.Subject, "orgplane.billing."):
				seen["billing"] = true
			case strings.HasSuffix(m.Subject, ".organization.created"):
				var ev orgv1.OrganizationCreated
				if proto.Unmarshal(m.Data, &ev) == nil && ev.GetOrganization().GetId() == fence {
					seen["fence"] = true
				}
			}
		}
		// Whatever the other account published before the fence has been routed by now.
		for {
			m, err := own.NextMsg(200 * time.Millisecond)
			if err != nil {
				break
			}
			if m.Header.Get(events.HeaderAccountID) != mine.id {
				t.Fatalf("tenant of %s received %s of account %q", mine.id, m.Subject, m.Header.Get(events.HeaderAccountID))
			}
		}
	})

	t.Run("a forged event never reaches a consumer", func(t *testing.T) {
		tenant, err := dialNATS(t, st.NATSURL, nats.UserCredentials(tenantCreds))
		if err != nil {
			t.Fatal(err)
		}
		mapping, err := dialNATS(t, st.NATSURL, nats.UserCredentials(st.NATSCreds["mapping"]),
			nats.CustomInboxPrefix(events.InboxPrefix("mapping")))
		if err != nil {
			t.Fatal(err)
		}
		var forgedIDs []string
		for name, c := range map[string]*natsClient{"the tenant": tenant, "the mapping service": mapping} {
			m := forgedOrganizationCreated(mine.id)
			forgedIDs = append(forgedIDs, m.Header.Get(jetstream.MsgIDHeader))
			if err := c.nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			c.refused(t, name+" forging organization.created", m.Subject)
		}
		// A genuine change after the forgeries: once billing has acknowledged everything in org's
		// stream, it has seen all there is to see.
		w.createOrg(mine, mine.adminKey, `{"name":"Genuine after forgeries"}`)
		admin, err := dialNATS(t, st.NATSURL, nats.UserCredentials(st.NATSAdminCreds))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(admin.nc)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stream, err := js.Stream(ctx, "ORGPLANE_ORG")
		if err != nil {
			t.Fatal(err)
		}
		for {
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c, err := js.Consumer(ctx, "ORGPLANE_ORG", "billing-usage")
			if err != nil {
				t.Fatal(err)
			}
			ci, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ci.Delivered.Stream >= info.State.LastSeq && ci.NumAckPending == 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("billing-usage stuck at %d of %d", ci.Delivered.Stream, info.State.LastSeq)
			}
			time.Sleep(50 * time.Millisecond)
		}
		conn, err := pgx.Connect(ctx, w.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var applied int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM billing.processed_events WHERE event_id = ANY($1::uuid[])`, forgedIDs).Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied != 0 {
			t.Fatalf("billing applied %d forged events", applied)
		}
		// Nor are they in the stream for a later consumer to find.
		cons, err := js.OrderedConsumer(ctx, "ORGPLANE_ORG", jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		info, _ := stream.Info(ctx)
		for range info.State.Msgs {
			m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(forgedIDs, m.Headers().Get(jetstream.MsgIDHeader)) {
				t.Fatalf("forged event %s is in org's stream", m.Headers().Get(jetstream.MsgIDHeader))
			}
		}
	})
}

// docs/events.md lists each service's NATS permissions as the dev stack mints them, for the
// platform team minting production credentials with nsc: the table is checked against the code.
func TestDocsListEachServicesNATSPermissions(t *testing.T) {
	var table strings.Builder
	table.WriteString("| service | publish | subscribe |\n|---|---|---|\n")
	for _, s := range stack.Specs(nil) {
		p, err := platform.NATSPermissions(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		quote := func(subjects []string) string {
			if len(subjects) == 0 {
				return "nothing (deny `>`)"
			}
			q := make([]string, len(subjects))
			for i, s := range subjects {
				q[i] = "`" + s + "`"
			}
			return strings.Join(q, "<br>")
		}
		fmt.Fprintf(&table, "| %s | %s | %s |\n", s.Name, quote(p.Publish), quote(p.Subscribe))
	}
	doc, err := os.ReadFile("../../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), table.String()) {
		t.Fatalf("docs/events.md does not list the services' NATS permissions as they are; the table should read:\n\n%s", table.String())
	}
}
