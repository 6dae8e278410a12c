package pgfailover_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

const operatorToken = "op_test_0123456789abcdefghijklmnopqrstuvwxyz"

// testLog discards the suite's logs unless ORGPLANE_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("ORGPLANE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

// client calls the gateway; a call that gets no answer comes back as code -1.
type client struct {
	base string
	http *http.Client
}

func (c client) do(method, path, token, body string) response {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return response{code: -1, body: []byte(err.Error())}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return response{code: -1, body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func (c client) must(t *testing.T, want int, method, path, token, body string) map[string]any {
	t.Helper()
	r := c.do(method, path, token, body)
	if r.code != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.code, r.body, want)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
	}
	return m
}

// ledger is what the writers saw: every create the API acknowledged, every create that failed
// and how, and the names whose fate a failure left in doubt.
type ledger struct {
	mu sync.Mutex
	// acked maps an acknowledged organization's id to its name.
	acked map[string]string
	// ackedAfterPromotion counts acknowledgements since the standby was promoted, the first of
	// them at firstAfterPromotion.
	ackedAfterPromotion int
	firstAfterPromotion time.Time
	promoted            bool
	// unavailable counts 503 answers (all with Retry-After); unexpected lists anything else.
	unavailable int
	noRetryHint int
	unexpected  []string
	// inDoubt are names whose create failed with 503 and, retried, was refused as existing: the
	// first attempt had committed though its answer was lost. They are not acknowledged writes.
	inDoubt []string
}

func (l *ledger) count() (acked, afterPromotion int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), l.ackedAfterPromotion
}

// write creates one organization named name as a client would: a 503 is retried with the same
// name after the Retry-After the answer gives, until it is acknowledged or refused.
func (l *ledger) write(c client, account, key, name string, stop <-chan struct{}) {
	hadUnavailable := false
	for attempt := 0; ; attempt++ {
		r := c.do("POST", "/v1/accounts/"+account+"/organizations", key, fmt.Sprintf(`{"name":%q}`, name))
		l.mu.Lock()
		switch {
		case r.code == http.StatusOK:
			var o struct{ ID string }
			if err := json.Unmarshal(r.body, &o); err != nil || o.ID == "" {
				l.unexpected = append(l.unexpected, fmt.Sprintf("%s: 200 without an id: %s", name, r.body))
			} else {
				l.acked[o.ID] = name
				if l.promoted {
					if l.ackedAfterPromotion == 0 {
						l.firstAfterPromotion = time.Now()
					}
					l.ackedAfterPromotion++
				}
			}
			l.mu.Unlock()
			return
		case r.code == http.StatusConflict && hadUnavailable:
			l.inDoubt = append(l.inDoubt, name)
			l.mu.Unlock()
			return
		case r.code == http.StatusServiceUnavailable:
			l.unavailable++
			if r.header.Get("Retry-After") == "" {
				l.noRetryHint++
			}
			hadUnavailable = true
		default:
			l.unexpected = append(l.unexpected, fmt.Sprintf("%s: %d %s", name, r.code, r.body))
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		if attempt > 120 {
			l.mu.Lock()
			l.unexpected = append(l.unexpected, name+": still 503 after 120 retries")
			l.mu.Unlock()
			return
		}
		// Retry-After is whole seconds; a second is also what the services ask for (RetryInfo).
		select {
		case <-time.After(time.Second):
		case <-stop:
			// Finishing: the name must still be settled, just without waiting long.
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// Issue 20 part 6: the suite on a synchronously replicated pair through a multi-host URL. The
// primary is SIGKILLed while organizations are being created from several clients, the standby
// is promoted, and the same processes (no service restarted) carry on: every create the API
// acknowledged is on the promoted standby (lost: 0), the creates in the window failed only with
// 503 and Retry-After (no 500), the outbox relay publishes from the new primary, and the
// consumers (mapping's copy of each organization, billing's usage count) apply every event
// exactly once (duplicates: 0).
func TestSuiteSurvivesAFailoverWithoutLosingAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replicated PostgreSQL pair and the whole suite, then kills the primary")
	}
	ctx := context.Background()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	pair, err := pgcluster.StartReplicated(sctx, pgcluster.ReplicatedOptions{Dir: t.TempDir(), Logf: t.Logf})
	cancel()
	if err != nil && strings.Contains(err.Error(), "install PostgreSQL server binaries") {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pair.Stop(); err != nil {
			t.Errorf("stop the pair: %v", err)
		}
	})

	stackCtx, stopStack := context.WithCancel(ctx)
	st, err := stack.Start(stackCtx, stack.Options{
		Log: testLog(), DatabaseURL: pair.URL(), NATSDir: t.TempDir(), Host: "127.0.0.1",
		AdminPort: -1, OIDCPort: -1, Keys: testkit.Keyring(t), OperatorToken: operatorToken,
		// The writers are a handful of clients on loopback; the per-credential limit is not
		// what this test is about.
		RateLimit: gatewaysvc.RateLimit{PerSecond: 10000, Burst: 10000},
	})
	if err != nil {
		stopStack()
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- st.Wait() }()
	t.Cleanup(func() {
		stopStack()
		if err := <-stopped; err != nil {
			t.Errorf("stack stopped with %v", err)
		}
	})

	c := client{base: st.GatewayURL, http: &http.Client{Timeout: 30 * time.Second}}
	created := c.must(t, 200, "POST", "/v1/accounts", operatorToken,
		`{"account":{"displayName":"Failover MSP"},"administrator":{"firstName":"Ada","lastName":"Admin","email":"ada@example.com"}}`)
	account := created["account"].(map[string]any)["id"].(string)
	key := created["administratorApiKey"].(string)
	// Billing sets up the trial on account.created; then there is room for every create here.
	sub := "/v1/accounts/" + account + "/subscription"
	for deadline := time.Now().Add(30 * time.Second); c.do("GET", sub, key, "").code != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("billing never set up the account's subscription")
		}
	}
	c.must(t, 200, "POST", sub+":addLicenses", key, `{"count":5000}`)

	// Writers: a few clients creating organizations until told to stop.
	l := &ledger{acked: map[string]string{}}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	// Writers stop before the stack does, also when the test fails half-way.
	stopWriters := sync.OnceFunc(func() {
		close(stop)
		writers.Wait()
	})
	t.Cleanup(stopWriters)
	const workers = 4
	for w := range workers {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				l.write(c, account, key, fmt.Sprintf("Failover %d-%03d", w, i), stop)
			}
		}()
	}
	waitFor := func(what string, within time.Duration, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(within); !done(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, within)
			}
		}
	}
	waitFor("20 creates acknowledged before the crash", 60*time.Second, func() bool { n, _ := l.count(); return n >= 20 })

	killedAt := time.Now()
	if err := pair.KillPrimary(ctx); err != nil {
		t.Fatal(err)
	}
	// The window: the writers meet a dead primary and a standby that is still read-only.
	time.Sleep(2 * time.Second)
	// Synchronous replication's promise, checked on the standby while it is still one: every
	// create the old primary acknowledged is there.
	l.mu.Lock()
	ackedByPrimary := keys(l.acked)
	l.mu.Unlock()
	onStandby := countOnStandby(t, pair.Standby.URL, ackedByPrimary)
	if onStandby != len(ackedByPrimary) {
		t.Errorf("the standby has %d of the %d creates the primary acknowledged before it crashed", onStandby, len(ackedByPrimary))
	}
	if err := pair.PromoteStandby(ctx); err != nil {
		t.Fatal(err)
	}
	promotedAt := time.Now()
	l.mu.Lock()
	l.promoted = true
	l.mu.Unlock()
	waitFor("10 creates acknowledged after the promotion", 60*time.Second, func() bool { _, n := l.count(); return n >= 10 })
	stopWriters()

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, u := range l.unexpected {
		t.Errorf("a create failed with something other than 503: %s", u)
	}
	if l.unavailable == 0 {
		t.Error("no create failed while no server accepted writes; the crash came too late to prove anything")
	}
	if l.noRetryHint > 0 {
		t.Errorf("%d of the %d 503 answers came without Retry-After", l.noRetryHint, l.unavailable)
	}

	// Read everything back from the promoted standby, through the same multi-host URL the
	// services use: it is the only server left.
	conn, err := pgx.Connect(ctx, pair.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var port int
	if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil || port != pair.Standby.Port {
		t.Fatalf("the multi-host URL reaches port %d (%v), want the promoted standby's %d", port, err, pair.Standby.Port)
	}
	byName := map[string][]string{}
	rows, err := conn.Query(ctx, "SELECT id::text, name FROM org.organizations WHERE account_id = $1", account)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		byName[name] = append(byName[name], id)
		total++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	found, lost := 0, 0
	for id, name := range l.acked {
		if ids := byName[name]; len(ids) == 1 && ids[0] == id {
			found++
		} else {
			lost++
			t.Errorf("acknowledged organization %s (%q) is not on the promoted standby (found %v)", id, name, ids)
		}
	}
	for _, name := range l.inDoubt {
		if len(byName[name]) != 1 {
			t.Errorf("%q was refused as existing after a 503, yet the promoted standby has %d of it", name, len(byName[name]))
		}
	}
	if unknown := total - len(l.acked) - len(l.inDoubt); unknown != 0 {
		t.Errorf("the promoted standby has %d organizations that no client was told about", unknown)
	}

	// Events: the relay published from whichever server was primary when each row's turn came,
	// and the consumers applied each once. mapping keeps a copy of every organization; billing
	// counts them.
	duplicates := 0
	eventsPerOrg := organizationCreatedEvents(t, st, account, total)
	for id, n := range eventsPerOrg {
		if n > 1 {
			duplicates += n - 1
			t.Errorf("organization %s has %d organization.created events in the stream", id, n)
		}
	}
	for id, name := range l.acked {
		if eventsPerOrg[id] == 0 {
			t.Errorf("acknowledged organization %s (%q) has no organization.created event", id, name)
		}
	}
	var copies, copyDuplicates int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		err := conn.QueryRow(ctx, `SELECT count(DISTINCT id), count(*) - count(DISTINCT id) FROM mapping.organizations
			WHERE account_id = $1 AND id = ANY($2::uuid[])`, account, keys(l.acked)).Scan(&copies, &copyDuplicates)
		if err != nil {
			t.Fatal(err)
		}
		if copies == len(l.acked) || time.Now().After(deadline) {
			break
		}
	}
	duplicates += copyDuplicates
	if copies != len(l.acked) {
		t.Errorf("mapping has a copy of %d of the %d acknowledged organizations", copies, len(l.acked))
	}
	var used float64
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := c.do("GET", sub+"/usage", key, "")
		var u struct{ Used float64 }
		if r.code == http.StatusOK && json.Unmarshal(r.body, &u) == nil {
			used = u.Used
		}
		if int(used) == total || time.Now().After(deadline) {
			break
		}
	}
	if int(used) != total {
		t.Errorf("billing counts %v organizations in use, org has %d: an event was lost or applied twice", used, total)
	}
	// Each service re-checks what it depends on every few seconds; all must find the new primary.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := c.do("GET", "/readyz", "", "")
		if r.code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after the failover the suite is not ready: %d %s", r.code, r.body)
			break
		}
	}

	t.Logf("writes acknowledged: %d (%d by the old primary, %d of them on the standby before its promotion), found after failover: %d, lost: %d",
		len(l.acked), len(ackedByPrimary), onStandby, found, lost)
	t.Logf("failed during the window: %d, all 503 Unavailable with Retry-After (other failures: %d); in doubt, committed: %d",
		l.unavailable, len(l.unexpected), len(l.inDoubt))
	t.Logf("window: crash to promotion %s, promotion to the first acknowledged write %s (clients wait a second after a 503)",
		promotedAt.Sub(killedAt).Round(10*time.Millisecond), l.firstAfterPromotion.Sub(promotedAt).Round(10*time.Millisecond))
	t.Logf("events: %d organization.created in the stream for %d organizations; mapping copies %d of %d acknowledged; billing used %v of %d",
		sum(eventsPerOrg), total, copies, len(l.acked), used, total)
	t.Logf("acknowledged: %d, lost: %d, duplicates: %d", len(l.acked), lost, duplicates)
}

// countOnStandby counts the organizations of ids on the standby at url (still in recovery),
// once it has replayed all the WAL it received.
func countOnStandby(t *testing.T, url string, ids []string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var recovering, replayed bool
		if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()").
			Scan(&recovering, &replayed); err != nil {
			t.Fatal(err)
		}
		if !recovering {
			t.Fatal("the standby left recovery before it was promoted")
		}
		if replayed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby did not replay the WAL it had received")
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM org.organizations WHERE id = ANY($1::uuid[])", ids).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// organizationCreatedEvents counts the account's organization.created events in org's stream,
// by organization id, once the relay has published at least want of them (or a minute passed).
func organizationCreatedEvents(t *testing.T, st *stack.Stack, account string, want int) map[string]int {
	t.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(st.NATSURL, nats.UserCredentials(st.NATSAdminCreds))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	subject := "orgplane.org.v1." + account + ".organization.created"
	stream, err := js.StreamNameBySubject(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	var perOrg map[string]int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		perOrg = map[string]int{}
		cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
		if err != nil {
			t.Fatal(err)
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for pending := int(info.NumPending); pending > 0; {
			batch, err := cons.Fetch(min(pending, 500), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for m := range batch.Messages() {
				got++
				var e orgv1.OrganizationCreated
				if err := proto.Unmarshal(m.Data(), &e); err != nil {
					t.Fatal(err)
				}
				perOrg[e.GetOrganization().GetId()]++
			}
			if err := batch.Error(); err != nil {
				t.Fatal(err)
			}
			if got == 0 {
				t.Fatalf("%d events pending on %s, none delivered", pending, stream)
			}
			pending -= got
		}
		if sum(perOrg) >= want || time.Now().After(deadline) {
			return perOrg
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
