package replicas_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const (
	// loadFor is how long the write load runs; killAt and restartAt are when, after its start,
	// one replica of every service is killed and started again.
	loadFor   = 26 * time.Second
	killAt    = 8 * time.Second
	restartAt = 14 * time.Second
	// quota is the ConnectWise simulator's limit (requests per budgetWindow; beyond it, 429) and
	// budget the integration's rate budget, one below it as an operator sets it: the budget
	// counts a spend until its call has started (a 250 ms grace), and a machine loaded by the
	// whole test suite can delay the call's arrival past that. Two replicas each spending their
	// own budget would send twice the budget, far above the quota.
	quota        = 8
	budget       = quota - 1
	budgetWindow = 2 * time.Second
	// itGlueCompanies are the IT Glue organizations the load maps its organizations to.
	itGlueCompanies = 40
)

// Two processes of every service and a gateway over them; one of each service is killed with
// SIGKILL in the middle of a write load and started again. Nothing acknowledged is lost, no
// event is published or applied twice, both replicas share the consumers' and the gateway's
// work, scheduled work runs once per period, and the rate budget holds across the replicas.
func TestTwoReplicasOfEveryService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every service and runs two processes of each")
	}
	c := startCluster(t)
	a := newAPI(c.gatewayURL)
	w := setUp(t, c, a)
	db, err := pgxpool.New(context.Background(), c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	l := startLoad(a, w, db)
	began := time.Now()
	time.Sleep(killAt)
	// What the doomed replicas did until now: their counters go with them.
	c.scrapes.once()
	for _, n := range c.names {
		c.kill(c.services[n][0])
	}
	t.Logf("%v into the load: killed %s with SIGKILL", time.Since(began).Round(100*time.Millisecond), strings.Join(replicaNames(c, 0), ", "))
	time.Sleep(restartAt - time.Since(began))
	for _, n := range c.names {
		c.start(c.services[n][0])
	}
	for _, n := range c.names {
		c.waitReady(c.services[n][0], 60*time.Second)
	}
	t.Logf("%v into the load: the killed replicas are back and ready", time.Since(began).Round(100*time.Millisecond))
	time.Sleep(loadFor - time.Since(began))
	l.stopLoad()
	loadEnded := time.Now()
	t.Logf("load ran %v", loadEnded.Sub(began).Round(100*time.Millisecond))
	for _, p := range c.all() {
		if p.exitedUnasked() {
			t.Errorf("%s exited on its own:\n%s", p.name, p.logTail(30))
		}
	}

	b := openBus(t, c)
	conn := connect(t, c.dbURL)
	defer conn.Close(context.Background())
	settled := settle(t, c, b, conn)
	c.scrapes.once()

	t.Log("answers through the gateway (status×count):")
	for _, line := range a.summary() {
		t.Log("  " + line)
	}
	a.mu.Lock()
	for _, u := range a.unexpected {
		t.Errorf("an answer no client retry could accept: %s", u)
	}
	a.mu.Unlock()
	l.mu.Lock()
	t.Logf("acknowledged: %d organizations, %d sub-organizations, %d updates, %d renames, %d reviews, %d reassignments, %d mappings, %d connection tests",
		len(l.orgs), len(l.subs), l.updates, len(l.renamed), len(l.reviews), len(l.reassigned), len(l.linked), l.tests)
	l.mu.Unlock()

	ownerChanges := checkEvents(t, c, b, conn, settled)
	checkConsumers(t, c, b, conn, settled)
	checkOrganizationCopies(t, l, conn)
	checkReassignments(t, c, l, conn, ownerChanges)
	checkMappings(t, l, conn)
	checkUsage(t, a, w, conn)
	checkSplit(t, c)
	checkScheduledRefreshes(t, conn, w, began, loadEnded)
	checkBudget(t, c)
	checkReminders(t, c, l, conn)
}

func replicaNames(c *cluster, i int) []string {
	var out []string
	for _, n := range c.names {
		out = append(out, c.services[n][i].name)
	}
	return out
}

// setUp makes the account the load writes to: its trial (with the licenses the load needs),
// three engineers, an IT Glue integration whose organizations the load maps to, and a
// ConnectWise integration with a small rate budget.
func setUp(t *testing.T, c *cluster, a *api) *world {
	t.Helper()
	acc := a.must(t, 200, "POST", "/v1/accounts", c.operator, map[string]any{
		"account":       map[string]any{"displayName": "Contoso MSP"},
		"administrator": map[string]any{"firstName": "Ada", "lastName": "Admin", "email": "ada@contoso.example"}})
	w := &world{account: acc["account"].(map[string]any)["id"].(string), key: acc["administratorApiKey"].(string)}
	acct := "/v1/accounts/" + w.account
	// Billing starts the trial from account.created and tells org its limit.
	eventually(t, 30*time.Second, "the trial's licenses", func() error {
		code, out := a.call("setup", "GET", acct+"/subscription/usage", w.key, nil)
		var u struct {
			Limit json.Number `json:"organizationLimit"`
		}
		_ = json.Unmarshal(out, &u)
		if code != 200 || u.Limit.String() != "100000" {
			return fmt.Errorf("%d %s", code, out)
		}
		return nil
	})
	// The load sends more email than an account's default hourly cap (500) lets through.
	eventually(t, 30*time.Second, "the email cap raised", func() error {
		code, out := a.call("setup", "PATCH", acct+"/notificationSettings?updateMask=hourlyEmailCap", w.key,
			map[string]any{"hourlyEmailCap": 100000})
		if code != http.StatusOK {
			return fmt.Errorf("%d %s", code, out)
		}
		return nil
	})
	var engineerRole string
	for _, r := range a.must(t, 200, "GET", acct+"/roles", w.key, nil)["roles"].([]any) {
		if r.(map[string]any)["name"] == "Engineer" {
			engineerRole = r.(map[string]any)["id"].(string)
		}
	}
	if engineerRole == "" {
		t.Fatal("no Engineer role")
	}
	for i := range 3 {
		email := fmt.Sprintf("engineer%d@contoso.example", i+1)
		u := a.must(t, 200, "POST", acct+"/users", w.key, map[string]any{"firstName": "Engineer", "lastName": fmt.Sprint(i + 1),
			"email": email, "roleId": engineerRole, "allOrganizations": true})
		w.engineers = append(w.engineers, u["id"].(string))
	}

	for i := range itGlueCompanies {
		c.sims.ITGlue.Sim.Store.Add(simkit.Company{Name: fmt.Sprintf("Glue Company %02d", i+1), Active: true})
	}
	w.itglue = a.must(t, 200, "POST", acct+"/integrations", w.key, map[string]any{"kind": "itglue", "displayName": "IT Glue (simulated)",
		"endpoint": c.sims.ITGlue.URL, "credentials": map[string]string{"apiKey": simulators.ITGlueAPIKey}})["id"].(string)
	// The scheduler's first (full) refresh fills the cache; mapping learns the companies from its
	// events.
	eventually(t, 60*time.Second, "IT Glue's organizations in mapping", func() error {
		code, out := a.call("setup", "GET", acct+"/integrations/"+w.itglue+"/importCandidates?pageSize=1000", w.key, nil)
		var page struct {
			Candidates []struct {
				ExternalOrganizationID string `json:"externalOrganizationId"`
			} `json:"candidates"`
		}
		_ = json.Unmarshal(out, &page)
		if code != 200 || len(page.Candidates) != itGlueCompanies {
			return fmt.Errorf("%d, %d candidates", code, len(page.Candidates))
		}
		w.externals = w.externals[:0]
		for _, cand := range page.Candidates {
			w.externals = append(w.externals, cand.ExternalOrganizationID)
		}
		return nil
	})

	for i := range 300 {
		c.sims.ConnectWise.Sim.Store.Add(simkit.Company{Name: fmt.Sprintf("Wise Company %03d", i+1), Identifier: fmt.Sprintf("WISE%03d", i+1), Active: true})
	}
	c.sims.ConnectWise.Sim.SetQuota(quota, budgetWindow)
	w.connectwise = a.must(t, 200, "POST", acct+"/integrations", w.key, map[string]any{"kind": "connectwise",
		"displayName": "ConnectWise (simulated)", "endpoint": c.sims.ConnectWise.URL,
		"credentials": map[string]string{"site": "api-na.myconnectwise.net", "companyId": simulators.ConnectWiseCompanyID,
			"publicKey": simulators.ConnectWisePublicKey, "privateKey": simulators.ConnectWisePrivateKey,
			"clientId": simulators.ConnectWiseClientID, "webhookSecret": simulators.WebhookSecret},
		"budgetPolicy": map[string]any{"requests": budget, "window": budgetWindow.String()}})["id"].(string)
	return w
}

// settle waits until every outbox is empty, every consumer has applied everything, every email
// is sent and no event was committed since the last look; it returns the events committed by
// then, by id, with their service's schema. Each of them is published and applied, so counts
// over them are final. (The schedulers go on refreshing the integrations, so events keep
// coming: the checks leave out the ones committed later.)
func settle(t *testing.T, c *cluster, b *bus, conn *pgx.Conn) map[string]string {
	t.Helper()
	streams := allStreams(t)
	var last, now map[string]string
	eventually(t, 90*time.Second, "the suite to settle", func() error {
		var busy []string
		for _, n := range c.names {
			if k := count(t, conn, `SELECT count(*) FROM `+pgx.Identifier{schemaOf(n), "outbox"}.Sanitize()); k > 0 {
				busy = append(busy, fmt.Sprintf("%s outbox %d", n, k))
			}
		}
		for _, cs := range b.consumers(t, streams) {
			if cs.pending > 0 || cs.acking > 0 {
				busy = append(busy, fmt.Sprintf("%s %d pending %d unacknowledged", cs.durable, cs.pending, cs.acking))
			}
		}
		if k := count(t, conn, `SELECT count(*) FROM notification.send_queue`); k > 0 {
			busy = append(busy, fmt.Sprintf("%d emails queued", k))
		}
		// What the outbox and consumer checks above saw is everything committed up to the
		// previous look only if nothing was committed since.
		last, now = now, committedEvents(t, conn)
		if len(now) != len(last) {
			busy = append(busy, "events still being committed")
		}
		if len(busy) > 0 {
			return fmt.Errorf("%s", strings.Join(busy, "; "))
		}
		return nil
	})
	return now
}

func allStreams(t *testing.T) []string {
	var out []string
	for _, s := range suiteStreams(t) {
		out = append(out, s...)
	}
	slices.Sort(out)
	return out
}

// checkEvents compares, per service, the events its transactions committed to the outbox with
// the messages in its streams: every committed event is there once (lost: 0, duplicates: 0),
// and nothing is there that no transaction committed. It counts the events committed by the
// time the suite settled; later ones (the schedulers') are left out. It returns the
// review.owner_changed events.
func checkEvents(t *testing.T, c *cluster, b *bus, conn *pgx.Conn, settled map[string]string) []*orgv1.ReviewOwnerChanged {
	t.Helper()
	var owner []*orgv1.ReviewOwnerChanged
	byService := suiteStreams(t)
	msgs := map[string][]streamMsg{}
	for _, n := range c.names {
		for _, s := range byService[n] {
			msgs[n] = append(msgs[n], b.messages(t, s)...)
		}
	}
	// Read after the streams: every message published by then was committed by then.
	all := committedEvents(t, conn)
	t.Log("events per service: committed to the outbox (audited) vs messages in its stream:")
	for _, n := range c.names {
		seen := map[string]int{}
		dups, unknown, kept := 0, 0, 0
		for _, m := range msgs[n] {
			schema, ok := all[m.id]
			switch {
			case !ok || schema != schemaOf(n):
				unknown++
				continue
			case settled[m.id] == "":
				continue // committed after the suite settled
			}
			kept++
			seen[m.id]++
			if seen[m.id] == 2 {
				dups++
			}
			if strings.HasSuffix(m.subject, ".review.owner_changed") && seen[m.id] == 1 {
				ev := &orgv1.ReviewOwnerChanged{}
				if err := proto.Unmarshal(m.data, ev); err != nil {
					t.Fatal(err)
				}
				owner = append(owner, ev)
			}
		}
		committed, lost := 0, 0
		for id, schema := range settled {
			if schema != schemaOf(n) {
				continue
			}
			committed++
			if seen[id] == 0 {
				lost++
			}
		}
		t.Logf("  %-17s committed %5d  in stream %5d (%v)  duplicates: %d  lost: %d  not committed: %d",
			n, committed, kept, byService[n], dups, lost, unknown)
		if dups != 0 || lost != 0 || unknown != 0 || kept != committed {
			t.Errorf("%s: %d committed events, %d messages: %d duplicated, %d lost, %d never committed", n, committed, kept, dups, lost, unknown)
		}
		if len(byService[n]) > 0 && committed == 0 {
			t.Errorf("%s published nothing: the load did not reach it", n)
		}
	}
	if dl := b.deadLetters(t); dl != 0 {
		t.Errorf("%d events in the dead-letter stream", dl)
	}
	return owner
}

// checkConsumers compares, per durable consumer, the events on its subjects with the events its
// service recorded as applied (processed_events, written in the same transaction as the
// effect): each once, none missing, none it never received; and it prints how the two
// replicas shared the deliveries.
func checkConsumers(t *testing.T, c *cluster, b *bus, conn *pgx.Conn, settled map[string]string) {
	t.Helper()
	streams := allStreams(t)
	onStream := map[string][]streamMsg{}
	for _, s := range streams {
		onStream[s] = b.messages(t, s)
	}
	t.Log("consumers: events on their subjects vs applied (processed_events), deliveries acknowledged per replica:")
	for _, cs := range b.consumers(t, streams) {
		svc := serviceOfDurable(cs.durable, c.names)
		rows, err := conn.Query(context.Background(), `SELECT event_id::text FROM `+pgx.Identifier{schemaOf(svc), "processed_events"}.Sanitize()+
			` WHERE consumer = $1`, cs.durable)
		if err != nil {
			t.Fatal(err)
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		// Only events committed by the time the suite settled: each was applied by then.
		want := map[string]bool{}
		for _, m := range onStream[cs.stream] {
			if settled[m.id] != "" && slices.ContainsFunc(cs.filters, func(f string) bool { return subjectMatches(f, m.subject) }) {
				want[m.id] = true
			}
		}
		// The committed events are read after what was applied: the schedulers go on committing,
		// and an event committed and applied between the two reads would otherwise look unknown.
		all := committedEvents(t, conn)
		applied = slices.DeleteFunc(applied, func(id string) bool { return all[id] != "" && settled[id] == "" })
		missing, extra := len(want), 0
		for _, id := range applied {
			if want[id] {
				missing--
			} else {
				extra++
			}
		}
		var split []string
		for _, p := range c.services[svc] {
			split = append(split, fmt.Sprintf("%s %.0f", p.name, c.scrapes.total(p, "orgplane_events_consumed_total", "consumer="+cs.durable, "outcome=ok")))
		}
		t.Logf("  %-32s events %5d  applied %5d  lost: %d  unknown: %d  pending %d  acknowledged by %s",
			cs.durable, len(want), len(applied), missing, extra, cs.pending+cs.acking, strings.Join(split, ", "))
		if missing != 0 || extra != 0 || len(applied) != len(want) {
			t.Errorf("%s: %d events on its subjects, %d applied: %d missing, %d unknown", cs.durable, len(want), len(applied), missing, extra)
		}
		// Both replicas pull from the one durable consumer; with a few dozen events each gets some.
		if len(want) >= 50 {
			for _, p := range c.services[svc] {
				if c.scrapes.total(p, "orgplane_events_consumed_total", "consumer="+cs.durable, "outcome=ok") == 0 {
					t.Errorf("%s: replica %s acknowledged none of %d events: the replicas do not share the consumer", cs.durable, p.name, len(want))
				}
			}
		}
	}
}

// checkOrganizationCopies: mapping's copy of every organization (from org's events) is there
// once and as org has it now, after every create, update and rename.
func checkOrganizationCopies(t *testing.T, l *load, conn *pgx.Conn) {
	t.Helper()
	type row struct {
		name, parent string
		active       bool
	}
	read := func(q string) map[string]row {
		rows, err := conn.Query(context.Background(), q, l.w.account)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]row{}
		for rows.Next() {
			var id string
			var r row
			if err := rows.Scan(&id, &r.name, &r.parent, &r.active); err != nil {
				t.Fatal(err)
			}
			if _, dup := out[id]; dup {
				t.Errorf("organization %s twice in %s", id, q)
			}
			out[id] = r
		}
		return out
	}
	org := read(`SELECT id::text, name, coalesce(parent_id::text, ''), active FROM org.organizations WHERE account_id = $1`)
	copies := read(`SELECT id::text, name, coalesce(parent_id::text, ''), active FROM mapping.organizations WHERE account_id = $1`)
	differ := 0
	for id, o := range org {
		if cp, ok := copies[id]; !ok || cp != o {
			differ++
			if differ <= 5 {
				t.Errorf("organization %s is %+v in org, %+v (present: %v) in mapping's copy", id, o, cp, ok)
			}
		}
	}
	l.mu.Lock()
	acked := slices.Concat(l.orgs, l.subs)
	renamed := len(l.renamed)
	l.mu.Unlock()
	missing := 0
	for _, o := range acked {
		if _, ok := org[o.id]; !ok {
			missing++
			t.Errorf("acknowledged organization %s (%s) is not in org", o.name, o.id)
		}
	}
	t.Logf("organizations: %d acknowledged (%d renamed), %d in org, %d in mapping's copy, %d differ, %d acknowledged but missing",
		len(acked), renamed, len(org), len(copies), differ, missing)
	if len(copies) != len(org) {
		t.Errorf("mapping copies %d organizations, org has %d", len(copies), len(org))
	}
}

// checkReassignments: every acknowledged change of a review's engineer has its
// review.owner_changed event, and each event gave its new engineer exactly one in-app
// notification and one email (one delivery, one distinct message at the SMTP server).
func checkReassignments(t *testing.T, c *cluster, l *load, conn *pgx.Conn, events []*orgv1.ReviewOwnerChanged) {
	t.Helper()
	byReview := map[string][]*orgv1.ReviewOwnerChanged{}
	for _, ev := range events {
		byReview[ev.GetReviewId()] = append(byReview[ev.GetReviewId()], ev)
	}
	l.mu.Lock()
	acked := slices.Clone(l.reassigned)
	l.mu.Unlock()
	for _, r := range acked {
		if !slices.ContainsFunc(byReview[r.review], func(ev *orgv1.ReviewOwnerChanged) bool { return ev.GetNewAssigneeId() == r.engineer }) {
			t.Errorf("review %s was handed to %s (acknowledged) but no review.owner_changed says so", r.review, r.engineer)
		}
	}
	// Deliveries and the mail that arrived, by delivery id (the Message-ID's local part).
	arrived := map[string]int{}
	for _, m := range c.mail.Messages() {
		for _, id := range m.Header["Message-Id"] {
			local, _, _ := strings.Cut(strings.Trim(id, "<> "), "@")
			arrived[local]++
		}
	}
	inApp, emails, resent := 0, 0, 0
	for _, ev := range events {
		if ev.GetNewAssigneeId() == "" {
			continue
		}
		n := count(t, conn, `SELECT count(*) FROM notification.notifications WHERE event_id = $1 AND user_id = $2 AND kind = 1`,
			ev.GetEventId(), ev.GetNewAssigneeId())
		if n != 1 {
			t.Errorf("review.owner_changed %s: %d in-app notifications for the new engineer, want 1", ev.GetEventId(), n)
		}
		inApp += n
		rows, err := conn.Query(context.Background(), `SELECT id::text, status FROM notification.deliveries
			WHERE event_id = $1 AND user_id = $2 AND kind = 1 AND channel = 1`, ev.GetEventId(), ev.GetNewAssigneeId())
		if err != nil {
			t.Fatal(err)
		}
		type delivery struct {
			ID     string
			Status int16
		}
		ds, err := pgx.CollectRows(rows, pgx.RowToStructByPos[delivery])
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Status != 2 || arrived[ds[0].ID] == 0 {
			t.Errorf("review.owner_changed %s: email deliveries %+v (arrived: %v), want one, sent and received", ev.GetEventId(), ds, len(ds) == 1 && arrived[ds[0].ID] > 0)
			continue
		}
		emails++
		resent += arrived[ds[0].ID] - 1
	}
	t.Logf("review reassignments: %d acknowledged, %d review.owner_changed events, %d in-app notifications and %d emails to the new engineers (each exactly once); %d emails sent again with the same Message-ID after a kill",
		len(acked), len(events), inApp, emails, resent)
}

// checkMappings: every acknowledged mapping is one link in mapping, to the external
// organization asked for.
func checkMappings(t *testing.T, l *load, conn *pgx.Conn) {
	t.Helper()
	l.mu.Lock()
	linked := l.linked
	l.mu.Unlock()
	for org, ext := range linked {
		rows, err := conn.Query(context.Background(), `SELECT external_organization_id FROM mapping.links WHERE organization_id = $1 AND integration_id = $2`,
			org, l.w.itglue)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != ext {
			t.Errorf("organization %s: links %v, want exactly %s", org, got, ext)
		}
	}
	links := count(t, conn, `SELECT count(*) FROM mapping.links WHERE account_id = $1`, l.w.account)
	t.Logf("mappings: %d acknowledged, %d links in mapping", len(linked), links)
	if links != len(linked) {
		t.Errorf("%d links for %d acknowledged mappings", links, len(linked))
	}
	if len(linked) == 0 {
		t.Error("the load mapped nothing")
	}
}

// checkUsage: billing's running count of active organizations, an increment per
// organization.created applied by its consumer, equals org's: each event applied exactly once.
func checkUsage(t *testing.T, a *api, w *world, conn *pgx.Conn) {
	t.Helper()
	active := count(t, conn, `SELECT count(*) FROM org.organizations WHERE account_id = $1 AND active`, w.account)
	counted := count(t, conn, `SELECT coalesce(sum(active), 0) FROM billing.usage_counters WHERE account_id = $1`, w.account)
	code, out := a.call("read usage", "GET", "/v1/accounts/"+w.account+"/subscription/usage", w.key, nil)
	var u struct {
		Used json.Number `json:"used"`
	}
	_ = json.Unmarshal(out, &u)
	t.Logf("licenses: %d active organizations in org, %d counted by billing from org's events, %s used as the API reports",
		active, counted, u.Used)
	if counted != active {
		t.Errorf("billing counted %d active organizations, org has %d", counted, active)
	}
	if code != http.StatusOK || u.Used.String() != fmt.Sprint(active) {
		t.Errorf("usage %d %s, want %d used", code, out, active)
	}
}

// checkSplit prints, per service, the gRPC calls each replica served and the events each
// replica's relay published, and requires both replicas of the services the load calls to
// have served calls, and no replica to have answered INTERNAL.
func checkSplit(t *testing.T, c *cluster) {
	t.Helper()
	t.Log("work per replica (both incarnations of a killed one): gRPC calls served, INTERNAL answers, events relayed:")
	for _, n := range c.names {
		var parts []string
		for _, p := range c.services[n] {
			calls := c.scrapes.total(p, "rpc_server_call_duration_seconds")
			internal := c.scrapes.total(p, "rpc_server_call_duration_seconds", "rpc_response_status_code=INTERNAL")
			relayed := c.scrapes.total(p, "orgplane_outbox_published_events_total")
			parts = append(parts, fmt.Sprintf("%s: %5.0f calls, %.0f INTERNAL, %5.0f relayed", p.name, calls, internal, relayed))
			if internal != 0 {
				t.Errorf("%s answered %.0f calls INTERNAL", p.name, internal)
			}
			if calls == 0 && (n == "org" || n == "mapping" || n == "integration-sync") {
				t.Errorf("%s served no gRPC call: the callers do not spread over the replicas", p.name)
			}
		}
		t.Logf("  %-17s %s", n, strings.Join(parts, " | "))
	}
}

// checkScheduledRefreshes: the scheduler, running in both integration-sync replicas, started each
// integration's refresh at most once per interval, and kept doing so while a replica was down.
func checkScheduledRefreshes(t *testing.T, conn *pgx.Conn, w *world, from, to time.Time) {
	t.Helper()
	for _, integ := range []struct{ name, id string }{{"IT Glue", w.itglue}, {"ConnectWise", w.connectwise}} {
		rows, err := conn.Query(context.Background(), `SELECT created_at FROM integration_sync.operations
			WHERE integration_id = $1 AND created_by = 'scheduler' AND type = 'refresh' ORDER BY created_at`, integ.id)
		if err != nil {
			t.Fatal(err)
		}
		at, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			t.Fatal(err)
		}
		var gaps []string
		minGap := time.Duration(0)
		during := 0
		for i, x := range at {
			if !x.Before(from) && !x.After(to) {
				during++
			}
			if i == 0 {
				continue
			}
			g := x.Sub(at[i-1])
			gaps = append(gaps, g.Round(100*time.Millisecond).String())
			if minGap == 0 || g < minGap {
				minGap = g
			}
			// The scheduler reschedules an interval after it starts one (give or take the
			// moments between its clock reading and the operation's insert); a second refresh in
			// one period would follow within the scheduler's tick.
			if g < refreshInterval/2 {
				t.Errorf("%s: scheduled refreshes %v apart (at %v and %v), interval %v: two in one period",
					integ.name, g, at[i-1].Format(time.StampMilli), x.Format(time.StampMilli), refreshInterval)
			}
		}
		periods := int(math.Ceil(float64(to.Sub(from)) / float64(refreshInterval)))
		t.Logf("scheduled refreshes of %s: %d during the %v load (%d periods of %v: at most one each), %d in all, gaps %v",
			integ.name, during, to.Sub(from).Round(time.Second), periods, refreshInterval, len(at), gaps)
		// A period is skipped while a refresh is still running (held by a killed replica until its
		// lease ends, or waiting on the budget), so not every period has one; most do.
		if during < periods/3 {
			t.Errorf("%s: %d scheduled refreshes in %d periods: the scheduler stalled", integ.name, during, periods)
		}
	}
}

// checkBudget: both integration-sync replicas tested the ConnectWise connection (and refreshed
// it) from one rate budget, and the simulator, whose quota is one above that budget, never had
// to refuse a request nor saw more than its quota in any window.
func checkBudget(t *testing.T, c *cluster) {
	t.Helper()
	s := c.sims.ConnectWise.Sim.Acct.Snapshot()
	var per []string
	for _, p := range c.services["integration-sync"] {
		n := c.scrapes.total(p, "rpc_server_call_duration_seconds", "rpc_method=orgplane.integrationsync.v1.IntegrationService/TestIntegration")
		per = append(per, fmt.Sprintf("%s %.0f", p.name, n))
		if n == 0 {
			t.Errorf("%s tested no connection: the budget was not shared by two replicas", p.name)
		}
	}
	t.Logf("ConnectWise budget %d per %v (quota %d): the simulator served %d requests, refused %d for its quota, at most %d in one window; connection tests by %s",
		budget, budgetWindow, quota, s.Total, s.Refused, s.MaxInWindow, strings.Join(per, ", "))
	if s.Refused != 0 || s.MaxInWindow > quota {
		t.Errorf("the budget did not hold across replicas: %d refused, %d in one window (budget %d, quota %d)", s.Refused, s.MaxInWindow, budget, quota)
	}
	// The check above means something only if the load wanted more than the budget: it did if
	// some window was (about) full. A loaded machine spreads a window's burst a little.
	if s.MaxInWindow < budget-1 {
		t.Errorf("at most %d requests in a window: the load never pressed the budget of %d", s.MaxInWindow, budget)
	}
}

// checkReminders makes a few reviews' reminders due at once and waits: both notification
// replicas look for due reminders, and each review's engineer is reminded exactly once, in the
// feed and by one email.
func checkReminders(t *testing.T, c *cluster, l *load, conn *pgx.Conn) {
	t.Helper()
	l.mu.Lock()
	var reviews []string
	for _, r := range l.reassigned {
		if !slices.Contains(reviews, r.review) {
			reviews = append(reviews, r.review)
		}
		if len(reviews) == 5 {
			break
		}
	}
	l.mu.Unlock()
	if len(reviews) == 0 {
		t.Fatal("no review was reassigned")
	}
	ctx := context.Background()
	tag, err := conn.Exec(ctx, `UPDATE notification.reminder_queue SET due_at = now() WHERE review_id = ANY($1::uuid[])`, reviews)
	if err != nil {
		t.Fatal(err)
	}
	if int(tag.RowsAffected()) != len(reviews) {
		t.Fatalf("%d of %d reviews are on the reminder schedule", tag.RowsAffected(), len(reviews))
	}
	eventually(t, 30*time.Second, "the reminders", func() error {
		if n := count(t, conn, `SELECT count(*) FROM notification.reminder_queue WHERE review_id = ANY($1::uuid[])`, reviews); n > 0 {
			return fmt.Errorf("%d still due", n)
		}
		if n := count(t, conn, `SELECT count(*) FROM notification.send_queue`); n > 0 {
			return fmt.Errorf("%d emails queued", n)
		}
		return nil
	})
	// Both replicas poll every few seconds: a second reminder would be written within a poll.
	time.Sleep(6 * time.Second)
	arrived := map[string]int{}
	for _, m := range c.mail.Messages() {
		for _, id := range m.Header["Message-Id"] {
			local, _, _ := strings.Cut(strings.Trim(id, "<> "), "@")
			arrived[local]++
		}
	}
	for _, r := range reviews {
		var engineer string
		if err := conn.QueryRow(ctx, `SELECT engineer_id::text FROM notification.reviews WHERE id = $1`, r).Scan(&engineer); err != nil {
			t.Fatal(err)
		}
		inApp := count(t, conn, `SELECT count(*) FROM notification.notifications WHERE review_id = $1 AND user_id = $2 AND kind = 5`, r, engineer)
		rows, err := conn.Query(ctx, `SELECT id::text FROM notification.deliveries WHERE event_id LIKE 'reminder:' || $1 || ':%' AND user_id = $2 AND channel = 1`, r, engineer)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		mails := 0
		for _, id := range ids {
			mails += arrived[id]
		}
		t.Logf("reminder of review %s: %d in-app, %d email deliveries, %d emails arrived", r, inApp, len(ids), mails)
		if inApp != 1 || len(ids) != 1 || mails != 1 {
			t.Errorf("review %s: %d in-app reminders, %d email deliveries, %d emails; want exactly one of each", r, inApp, len(ids), mails)
		}
	}
}
