package integrationsyncsvc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/pagetoken"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/integration-sync/integrationsyncsvc"
	"github.com/orgplane/orgplane/services/integration-sync/internal/app"
	"github.com/orgplane/orgplane/services/integration-sync/internal/budget"
	"github.com/orgplane/orgplane/services/integration-sync/internal/domain"
	"github.com/orgplane/orgplane/services/integration-sync/internal/store"
)

// childEnv marks the test binary re-executed as the integration-sync process.
const childEnv = "INTEGRATIONSYNC_TEST_SERVICE_PROCESS"

// TestHelperProcess is the integration-sync service, configured by its environment only, when
// TestRefreshResumesAfterSIGKILL re-executes the test binary; in a normal run it does nothing.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("only the service process of TestRefreshResumesAfterSIGKILL")
	}
	// platform.Main reads --flags too, and the -test.* flags of this binary are not its own; a
	// command ("rotate") comes through the environment.
	os.Args = os.Args[:1]
	if cmd := os.Getenv(childEnv + "_COMMAND"); cmd != "" {
		os.Args = append(os.Args, cmd)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := platform.Main(ctx, integrationsyncsvc.Spec(), os.Stdout)
	stop()
	os.Exit(code)
}

// TestRefreshResumesAfterSIGKILL is issue 13's acceptance of durable refreshes: integration-sync
// is killed with SIGKILL in the middle of a full refresh of 5,000 Autotask companies and started
// again; the operation resumes from its checkpoint and succeeds, every company is cached once,
// the counters add up across the restart, and the bus carries exactly one created event per
// company.
func TestRefreshResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs integration-sync as a process twice and kills it")
	}
	t.Parallel()
	const (
		companies = 5000
		pageSize  = 500 // Autotask's page
		pages     = companies / pageSize
		// Each listing request waits this long, so the refresh lasts seconds and the kill lands
		// mid-way.
		latency = 300 * time.Millisecond
		lease   = 2 * time.Second
	)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	spec := integrationsyncsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	bus := testkit.StartNATS(t)
	credentialKeys := secrets.GenerateSpec("k1")

	sims, err := simulators.Start(ctx, simulators.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tool := sims.Autotask.Sim
	for i := range companies {
		tool.Store.Add(simkit.Company{Name: fmt.Sprintf("Client %05d", i+1), Identifier: fmt.Sprintf("ID%05d", i+1), Active: true})
	}

	// The test's own view of the database: the app layer without its workers, so every refresh
	// step is the child process's.
	svc := appWithoutWorkers(t, db, credentialKeys)
	account := uuid.NewString()
	actx := identity.With(ctx, identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-" + account[:8],
		AccountID: account, Permissions: []string{domain.PermRead, domain.PermWrite}})
	integ, err := svc.CreateIntegration(actx, account, app.IntegrationInput{Kind: "autotask", Endpoint: sims.Autotask.URL,
		Credentials: map[string]string{"apiUser": simulators.AutotaskAPIUser, "secret": simulators.AutotaskSecret,
			"integrationCode": simulators.AutotaskIntegrationCode, "webhookSecret": simulators.WebhookSecret}})
	if err != nil {
		t.Fatal(err)
	}
	tool.Faults.SetLatency(latency)
	tool.Acct.Reset()
	op, err := svc.RefreshIntegration(actx, account, integ.ID, domain.ModeFull)
	if err != nil {
		t.Fatal(err)
	}
	getOp := func() domain.Operation {
		t.Helper()
		o, err := svc.GetOperation(actx, account, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}

	procs := startProcesses(t, db, bus, credentialKeys, lease)
	start := procs.start
	deadline := time.Now().Add(50 * time.Second)

	first := start(1)
	for o := getOp(); o.Progress.PagesDone < 3; o = getOp() {
		if o.State != domain.OpRunning {
			t.Fatalf("refresh ended %v before the kill: %+v", o.State, o)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first process committed %d pages in time", o.Progress.PagesDone)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL: no shutdown, no lease release
		t.Fatal(err)
	}
	_ = first.Wait()
	atKill := getOp()
	if atKill.State != domain.OpRunning || atKill.Progress.PagesDone >= pages || atKill.Progress.ItemsDone >= companies || atKill.Cursor == "" {
		t.Fatalf("after the kill the operation should be running part-way with a checkpoint: %+v", atKill)
	}
	t.Logf("killed after %d of %d pages (%d companies)", atKill.Progress.PagesDone, pages, atKill.Progress.ItemsDone)
	requestsAtKill := listingRequests(tool.Acct.Snapshot())

	start(2)
	var done domain.Operation
	for done = getOp(); done.State == domain.OpRunning; done = getOp() {
		if time.Now().After(deadline) {
			t.Fatalf("refresh not finished after the restart: %+v", done)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if done.State != domain.OpSucceeded {
		t.Fatalf("refresh ended %v: %s %s", done.State, done.ErrorReason, done.ErrorMessage)
	}
	// Resumed, not restarted: the pages committed before the kill are not read again (at most
	// the one in flight when it landed is), and the counters committed with each page add up.
	if done.Progress.PagesDone != pages || done.Progress.ItemsDone != companies {
		t.Errorf("progress %+v, want %d pages of %d companies read once each", done.Progress, pages, companies)
	}
	if want := (domain.Result{Created: companies}); done.Result != want {
		t.Errorf("result %+v, want %+v", done.Result, want)
	}
	requests := listingRequests(tool.Acct.Snapshot())
	if requests < pages || requests > pages+1 {
		t.Errorf("%d listing requests (%d before the kill), want %d pages and at most one read again", requests, requestsAtKill, pages)
	}

	cached := map[string]int{}
	for _, e := range externals(t, svc, actx, account, integ.ID) {
		cached[e.ExternalID]++
		if cached[e.ExternalID] == 2 {
			t.Errorf("external %s cached twice", e.ExternalID)
		}
	}
	if len(cached) != companies {
		t.Errorf("%d external organizations cached, want %d", len(cached), companies)
	}

	waitOutboxDrained(t, db.URL, spec.Schema(), deadline)
	created := readEvents(t, bus, account, &integrationsyncv1.ExternalOrganizationCreated{})
	ids := map[string]bool{}
	for _, ev := range created {
		id := ev.GetExternalOrganization().GetExternalId()
		if ev.GetExternalOrganization().GetIntegrationId() != integ.ID {
			t.Fatalf("created event of integration %q", ev.GetExternalOrganization().GetIntegrationId())
		}
		if ids[id] {
			t.Errorf("created event for external %s published twice", id)
		}
		ids[id] = true
		if cached[id] == 0 {
			t.Errorf("created event for external %s, which is not cached", id)
		}
	}
	if len(created) != companies || len(ids) != companies {
		t.Errorf("%d created events for %d externals, want %d each", len(created), len(ids), companies)
	}
	finished := readEvents(t, bus, account, &integrationsyncv1.RefreshFinished{})
	if len(finished) != 1 || finished[0].GetOperation().GetId() != op.ID {
		t.Errorf("%d refresh finished events, want exactly one for operation %s", len(finished), op.ID)
	}
}

// processes runs integration-sync as child processes of the test binary, over one database
// and NATS, configured by the environment only.
type processes struct {
	t    *testing.T
	env  []string
	logs *lockedBuffer
}

// startProcesses prepares the children's environment; lease is how soon a killed child's work
// is taken over. Nothing is scheduled: the tests give the children their work.
func startProcesses(t *testing.T, db *testkit.DB, bus *testkit.NATS, credentialKeys string, lease time.Duration) *processes {
	t.Helper()
	perms, err := platform.NATSPermissions(context.Background(), integrationsyncsvc.Spec())
	if err != nil {
		t.Fatal(err)
	}
	identityKey := make([]byte, 32)
	_, _ = rand.Read(identityKey)
	p := &processes{t: t, logs: &lockedBuffer{}, env: append(os.Environ(), childEnv+"=1",
		"ORGPLANE_DATABASE_URL="+db.URL,
		"ORGPLANE_NATS_URL="+bus.URL,
		"ORGPLANE_NATS_CREDS="+bus.Creds(t, "integration-sync", perms),
		"ORGPLANE_IDENTITY_KEYS=test:"+base64.StdEncoding.EncodeToString(identityKey),
		"ORGPLANE_CREDENTIAL_KEYS="+credentialKeys,
		"ORGPLANE_GRPC_ADDR=127.0.0.1:0",
		"ORGPLANE_ADMIN_ADDR=off",
		"ORGPLANE_LOG_LEVEL=warn",
		"ORGPLANE_REFRESH_LEASE="+lease.String(),
		"ORGPLANE_REFRESH_FULL_INTERVAL=1000h",
		"ORGPLANE_REFRESH_INCREMENTAL_INTERVAL=1000h",
	)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("integration-sync output:\n%s", p.logs.tail(8000))
		}
	})
	return p
}

// start runs child n until the test ends (or kills it).
func (p *processes) start(n int) *exec.Cmd {
	p.t.Helper()
	// The timeout ends a child its parent never killed (the parent itself killed first).
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=2m")
	cmd.Env = p.env
	w := p.logs.prefixed(fmt.Sprintf("[process %d] ", n))
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// appWithoutWorkers is the app layer over db as the service's runtime role, with no workers.
func appWithoutWorkers(t *testing.T, db *testkit.DB, credentialKeys string) *app.Service {
	t.Helper()
	keys, err := secrets.ParseKeyring(credentialKeys)
	if err != nil {
		t.Fatal(err)
	}
	b := budget.New(db.Pool)
	t.Cleanup(b.Close)
	pageKey := make([]byte, 32)
	_, _ = rand.Read(pageKey)
	return app.New(store.New(db.Pool), goodStanding{}, nil, keys, integrationsyncsvc.Kinds(), b, pagetoken.New(pageKey), app.DefaultConfig(),
		slog.New(slog.DiscardHandler))
}

// listingRequests counts the Autotask simulator's Companies/query requests.
func listingRequests(s simkit.Stats) int {
	n := 0
	for route, c := range s.Requests {
		if strings.Contains(route, "/companies/query") {
			n += c
		}
	}
	return n
}

// externals reads an integration's cached organizations through the API, page by page.
func externals(t *testing.T, svc *app.Service, ctx context.Context, account, integrationID string) []domain.ExternalOrganization {
	t.Helper()
	var out []domain.ExternalOrganization
	token := ""
	for {
		page, next, _, err := svc.ListExternalOrganizations(ctx, app.ExternalQuery{AccountID: account,
			IntegrationID: integrationID, PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		token = next
	}
}

// waitOutboxDrained waits until the relay has published every committed event: it deletes a row
// only once JetStream has acknowledged it.
func waitOutboxDrained(t *testing.T, dbURL, schema string, deadline time.Time) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "outbox"}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events still in the outbox", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readEvents returns every event of kind M for account in the producer's stream, in order.
func readEvents[M proto.Message](t *testing.T, bus *testkit.NATS, account string, kind M) []M {
	t.Helper()
	k, err := events.KindOf(kind)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := k.SubjectFor(account)
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := events.Connect(bus.Admin(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, k.Stream.Name)
	if err != nil {
		t.Fatalf("stream %s: %v", k.Stream.Name, err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	want := int(info.State.Subjects[subject])
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out []M
	for len(out) < want {
		batch, err := cons.Fetch(min(want-len(out), 1000), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			ev := kind.ProtoReflect().New().Interface().(M)
			if err := proto.Unmarshal(m.Data(), ev); err != nil {
				t.Fatalf("decode %s: %v", m.Subject(), err)
			}
			out = append(out, ev)
		}
		if got == 0 {
			t.Fatalf("read %d of the %d messages on %s: %v", len(out), want, subject, batch.Error())
		}
	}
	return out
}

// lockedBuffer collects both processes' output for a failure report.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

type prefixWriter struct {
	buf    *lockedBuffer
	prefix string
}

func (l *lockedBuffer) prefixed(prefix string) *prefixWriter {
	return &prefixWriter{buf: l, prefix: prefix}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf.mu.Lock()
	defer p.buf.mu.Unlock()
	for line := range strings.SplitAfterSeq(string(b), "\n") {
		if line != "" {
			p.buf.b.WriteString(p.prefix + line)
		}
	}
	return len(b), nil
}

// tail is the last n bytes written.
func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// goodStanding stands in for org's answer about the account's subscription: the parent only
// creates the integration and its refresh.
type goodStanding struct{}

func (goodStanding) Writable(context.Context, string) (bool, error) { return true, nil }
