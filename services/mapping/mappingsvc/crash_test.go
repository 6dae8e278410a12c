package mappingsvc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/events"
	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	mappingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/mapping/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/mapping/mappingsvc"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

// mappingChildEnv marks the test binary re-executed as the mapping service process.
const mappingChildEnv = "MAPPING_TEST_SERVICE_PROCESS"

// TestMappingServiceProcess is the mapping service, configured by its environment only, when
// TestImportResumesAfterSIGKILL re-executes the test binary; in a normal run it does nothing.
func TestMappingServiceProcess(t *testing.T) {
	if os.Getenv(mappingChildEnv) != "1" {
		t.Skip("only the service process of TestImportResumesAfterSIGKILL")
	}
	// platform.Main reads --flags too, and the -test.* flags of this binary are not its own.
	os.Args = os.Args[:1]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := platform.Main(ctx, mappingsvc.Spec(), os.Stdout)
	stop()
	os.Exit(code)
}

// The shape of the import: of the 10,000 IT Glue organizations, every fourth has a namesake
// already in org (2,500), and every fifth of those is already linked to another IT Glue
// organization (500). Interleaving puts every rule in every chunk of 1,000.
const (
	itglueOrgs    = 10000
	wantCreated   = 7500
	wantLinked    = 2000
	wantRelinked  = 500
	existingCount = wantLinked + wantRelinked
)

func itglueName(i int) string { return fmt.Sprintf("ITG Client %05d", i+1) }
func itglueID(i int) string   { return fmt.Sprint(1_000_001 + i) }
func oldID(j int) string      { return fmt.Sprint(2_000_001 + j) }

// planned is what the import must do with the i-th IT Glue organization.
func planned(i int) mappingv1.ImportOutcome {
	switch {
	case i%4 != 1:
		return mappingv1.ImportOutcome_IMPORT_OUTCOME_CREATED
	case (i/4)%5 == 0:
		return mappingv1.ImportOutcome_IMPORT_OUTCOME_RELINKED
	default:
		return mappingv1.ImportOutcome_IMPORT_OUTCOME_LINKED
	}
}

// TestImportResumesAfterSIGKILL is issue 14's acceptance of durable imports: an "Add from IT
// Glue" import of 10,000 organizations against a real org service is cut by a SIGKILL of the
// mapping service after at least two chunks, with the next chunk's organizations possibly
// created in org but not yet linked; the restarted service resumes it, and it ends with exactly
// 7,500 created, 2,000 linked and 500 relinked, every IT Glue organization linked once to the
// organization of its exact name, and no organization created twice.
func TestImportResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the mapping service as a process twice and kills it")
	}
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// About 40 s on an idle machine, 15 s of it the dead process's import lease; the deadline only
	// keeps a loaded CI machine from failing a test that is merely slow.
	deadline := time.Now().Add(150 * time.Second)

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keySpec := "test:" + base64.StdEncoding.EncodeToString(secret)
	keys, err := identity.ParseKeyring(keySpec)
	if err != nil {
		t.Fatal(err)
	}
	bus := testkit.StartNATS(t)

	// The org service, in this process, on its own database.
	orgSpec := orgsvc.Spec()
	orgDB := testkit.NewDB(t, orgSpec.Schema(), orgSpec.Role(), orgSpec.MigrationSets()...)
	orgPerms, err := platform.NATSPermissions(ctx, orgSpec)
	if err != nil {
		t.Fatal(err)
	}
	orgLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	orgAddr := orgLis.Addr().String()
	orgCtx, stopOrg := context.WithCancel(ctx)
	orgReady, orgDone := make(chan struct{}), make(chan error, 1)
	go func() {
		orgDone <- platform.Serve(orgCtx, orgSpec, platform.Options{Log: slog.New(slog.DiscardHandler), Keys: keys, DB: orgDB.Config,
			NATS: events.NATSConfig{URL: bus.URL, CredsFile: bus.Creds(t, "org", orgPerms)}, GRPC: orgLis, Ready: orgReady})
	}()
	t.Cleanup(func() {
		stopOrg()
		if err := <-orgDone; err != nil {
			t.Errorf("org service: %v", err)
		}
	})
	select {
	case <-orgReady:
	case err := <-orgDone:
		t.Fatalf("org service did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("org service not ready after 30 s")
	}
	orgConn, err := rpc.Dial(orgAddr, keys, rpc.Audience("org"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = orgConn.Close() })

	// An account with no license limit, and its organizations before the import.
	operator := identity.With(ctx, identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"})
	acct, err := orgv1.NewAccountServiceClient(orgConn).CreateAccount(operator, &orgv1.CreateAccountRequest{
		Account:       &orgv1.Account{DisplayName: "Contoso MSP"},
		Administrator: &orgv1.User{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	account := acct.GetAccount().GetId()
	if _, err := orgv1.NewLicenseServiceClient(orgConn).SetLicenseLimit(identity.With(ctx, identity.Service("billing")),
		&orgv1.SetLicenseLimitRequest{AccountId: account, Unlimited: true, Writable: true}); err != nil {
		t.Fatal(err)
	}
	apiKey := identity.With(ctx, identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "key-" + account[:8], AccountID: account,
		Permissions: []string{"organizations:read", "organizations:write", "mappings:read", "mappings:write"}})
	var existing []*orgv1.Organization
	for i := range itglueOrgs {
		if planned(i) != mappingv1.ImportOutcome_IMPORT_OUTCOME_CREATED {
			existing = append(existing, &orgv1.Organization{Name: itglueName(i)})
		}
	}
	made, err := orgv1.NewOrganizationServiceClient(orgConn).BulkCreateOrganizations(apiKey,
		&orgv1.BulkCreateOrganizationsRequest{AccountId: account, Organizations: existing, RequestId: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	orgIDByName := map[string]string{}
	for _, o := range made.GetOrganizations() {
		orgIDByName[o.GetName()] = o.GetId()
	}
	if len(orgIDByName) != existingCount {
		t.Fatalf("org created %d organizations before the import, want %d", len(orgIDByName), existingCount)
	}

	// Mapping's database: the IT Glue integration, its cached organizations (the 10,000 and the
	// 500 the relinked organizations are linked to now) and those 500 links, as integration-sync's
	// events and earlier saves would have left them.
	spec := mappingsvc.Spec()
	db := testkit.NewDB(t, spec.Schema(), spec.Role(), spec.MigrationSets()...)
	integration := uuid.NewString()
	var oldLinks []string
	err = postgres.InTenantTx(ctx, db.Pool, account, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO integrations (account_id, id, kind) VALUES ($1, $2, 'itglue')`, account, integration); err != nil {
			return err
		}
		var ids, names, linkOrgs, linkExts, linkNames []string
		for i := range itglueOrgs {
			ids, names = append(ids, itglueID(i)), append(names, itglueName(i))
			if planned(i) == mappingv1.ImportOutcome_IMPORT_OUTCOME_RELINKED {
				j := len(oldLinks)
				oldLinks = append(oldLinks, oldID(j))
				ids, names = append(ids, oldID(j)), append(names, fmt.Sprintf("Old client %05d", j+1))
				linkOrgs, linkExts = append(linkOrgs, orgIDByName[itglueName(i)]), append(linkExts, oldID(j))
				linkNames = append(linkNames, fmt.Sprintf("Old client %05d", j+1))
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO external_organizations (account_id, integration_id, external_id, name, state)
			SELECT $1, $2, u.id, u.name, 1 FROM unnest($3::text[], $4::text[]) AS u(id, name)`, account, integration, ids, names); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO links (account_id, organization_id, integration_id, external_organization_id, external_name,
				method, created_by, created_at)
			SELECT $1, u.org, $2, u.ext, u.name, 1, 'test', now() FROM unnest($3::uuid[], $4::text[], $5::text[]) AS u(org, ext, name)`,
			account, integration, linkOrgs, linkExts, linkNames)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(oldLinks) != wantRelinked {
		t.Fatalf("seeded %d old links, want %d", len(oldLinks), wantRelinked)
	}
	inspect, err := pgx.Connect(ctx, db.URL) // superuser: reads across row-level security
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inspect.Close(context.Background()) })

	// integration-sync does not run here: its stream is made so mapping's consumer of it starts.
	isStreams, err := events.StreamsOf(&integrationsyncv1.ExternalOrganizationCreated{})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := events.Connect(bus.Admin(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := events.EnsureStreams(ctx, js, isStreams...); err != nil {
		t.Fatal(err)
	}

	// The mapping service as a child process, on a port chosen now so both runs share it.
	perms, err := platform.NATSPermissions(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	env := append(os.Environ(), mappingChildEnv+"=1",
		"ORGPLANE_DATABASE_URL="+db.URL,
		"ORGPLANE_NATS_URL="+bus.URL,
		"ORGPLANE_NATS_CREDS="+bus.Creds(t, "mapping", perms),
		"ORGPLANE_IDENTITY_KEYS="+keySpec,
		"ORGPLANE_PEERS=org="+orgAddr+";integration-sync=127.0.0.1:1",
		"ORGPLANE_GRPC_ADDR="+addr,
		"ORGPLANE_ADMIN_ADDR=off",
		"ORGPLANE_LOG_LEVEL=warn",
	)
	logs := &childLogs{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mapping service output:\n%s", logs.tail(8000))
		}
	})
	start := func(n int) *exec.Cmd {
		t.Helper()
		// The timeout ends a child its parent never killed (the parent itself killed first).
		cmd := exec.Command(os.Args[0], "-test.run=^TestMappingServiceProcess$", "-test.timeout=3m")
		cmd.Env = env
		w := logs.prefixed(fmt.Sprintf("[process %d] ", n))
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	conn, err := rpc.Dial(addr, keys, rpc.Audience("mapping"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	mapping := mappingv1.NewMappingServiceClient(conn)
	// call retries while the service is down or starting: every call here is a read or idempotent.
	call := func(what string, f func() error) {
		t.Helper()
		for {
			err := f()
			if err == nil {
				return
			}
			if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	first := start(1)

	// The import plans by mapping's copy of org's organizations: wait until it has them all.
	for {
		var n int
		if err := inspect.QueryRow(ctx, `SELECT count(*) FROM mapping.organizations WHERE account_id = $1`, account).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == existingCount {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mapping has %d of org's %d organizations", n, existingCount)
		}
		time.Sleep(50 * time.Millisecond)
	}

	selection := make([]string, itglueOrgs)
	for i := range selection {
		selection[i] = itglueID(i)
	}
	request := uuid.NewString()
	var op *mappingv1.ImportOperation
	call("start the import", func() error {
		var err error
		op, err = mapping.ImportOrganizations(apiKey, &mappingv1.ImportOrganizationsRequest{AccountId: account,
			IntegrationId: integration, RequestId: request, ExternalOrganizationIds: selection}, grpc.MaxCallSendMsgSize(1<<22))
		return err
	})
	getImport := func() *mappingv1.ImportOperation {
		t.Helper()
		var got *mappingv1.ImportOperation
		call("get the import", func() error {
			var err error
			got, err = mapping.GetImport(apiKey, &mappingv1.GetImportRequest{AccountId: account, ImportId: op.GetId()})
			return err
		})
		return got
	}

	for im := getImport(); im.GetItemsDone() < 2*1000; im = getImport() {
		if im.GetState() != mappingv1.ImportState_IMPORT_STATE_RUNNING {
			t.Fatalf("import ended %v before the kill: %+v", im.GetState(), im)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first process applied %d items in time", im.GetItemsDone())
		}
		time.Sleep(5 * time.Millisecond)
	}
	orgInspect, err := pgx.Connect(ctx, orgDB.URL) // superuser, like inspect
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = orgInspect.Close(context.Background()) })
	countOrgs := func() int {
		t.Helper()
		var n int
		if err := orgInspect.QueryRow(ctx, `SELECT count(*) FROM org.organizations WHERE account_id = $1`, account).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The kill lands in the hardest place: a chunk planned and its organizations created in org,
	// but not yet linked. Holding the import's row lock stops the worker at its next locking step
	// (planning and applying a chunk both lock the row), so once a plan is seen committed the
	// worker can only run the chunk's bulk create and then wait for the row. The restart must
	// find those organizations again through the chunk's request id, not create them twice (org
	// would refuse the names, and the items would fail).
	var doneAtKill, createdAtKill, inFlight, inFlightCreates int
	for attempt := 0; ; attempt++ {
		hold, err := inspect.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := hold.QueryRow(ctx, `SELECT items_done, created_count FROM mapping.imports WHERE id = $1 FOR UPDATE`,
			op.GetId()).Scan(&doneAtKill, &createdAtKill); err != nil {
			t.Fatal(err)
		}
		if err := hold.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE planned = $2) FROM mapping.import_items
			WHERE import_id = $1 AND outcome = 0 AND planned <> 0`, op.GetId(), int16(mappingv1.ImportOutcome_IMPORT_OUTCOME_CREATED),
		).Scan(&inFlight, &inFlightCreates); err != nil {
			t.Fatal(err)
		}
		if doneAtKill >= itglueOrgs {
			t.Fatalf("the import had finished (%d items) before the kill", doneAtKill)
		}
		if inFlight == 0 && attempt < 20 {
			// Caught between chunks: let the worker plan the next one, then hold the row again.
			_ = hold.Rollback(ctx)
			continue
		}
		for inFlightCreates > 0 && countOrgs() < existingCount+createdAtKill+inFlightCreates {
			if time.Now().After(deadline) {
				t.Fatalf("org did not create the planned chunk's %d organizations", inFlightCreates)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := first.Process.Kill(); err != nil { // SIGKILL: no shutdown, no lease release
			t.Fatal(err)
		}
		_ = first.Wait()
		if err := hold.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		break
	}
	orgsAtKill := countOrgs()
	t.Logf("killed with %d of %d items applied, %d planned but not applied; org had %d organizations (%d created by the import, %d not linked yet)",
		doneAtKill, itglueOrgs, inFlight, orgsAtKill, orgsAtKill-existingCount, orgsAtKill-existingCount-createdAtKill)
	if inFlightCreates == 0 || orgsAtKill != existingCount+createdAtKill+inFlightCreates {
		t.Errorf("the kill did not land after a chunk's bulk create and before its links (%d planned creations, org at %d)",
			inFlightCreates, orgsAtKill)
	}

	// The restarted service claims the import once the dead one's lease (15 s) has run out.
	start(2)
	var done *mappingv1.ImportOperation
	for done = getImport(); done.GetState() == mappingv1.ImportState_IMPORT_STATE_RUNNING; done = getImport() {
		if time.Now().After(deadline) {
			t.Fatalf("import not finished after the restart: %+v", done)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if done.GetState() != mappingv1.ImportState_IMPORT_STATE_SUCCEEDED {
		t.Fatalf("import ended %v: %s", done.GetState(), done.GetError())
	}
	counts := done.GetCounts()
	if done.GetItemsDone() != itglueOrgs || done.GetItemsTotal() != itglueOrgs || counts.GetCreated() != wantCreated ||
		counts.GetLinked() != wantLinked || counts.GetRelinked() != wantRelinked || counts.GetFailed() != 0 {
		t.Errorf("import %d of %d items, counts %v; want %d created, %d linked, %d relinked, none failed",
			done.GetItemsDone(), done.GetItemsTotal(), counts, wantCreated, wantLinked, wantRelinked)
	}

	// Each item's outcome is the one its rule gives.
	rows, err := inspect.Query(ctx, `SELECT external_id, outcome, reason FROM mapping.import_items WHERE import_id = $1`, op.GetId())
	if err != nil {
		t.Fatal(err)
	}
	outcome, reasons := map[string]mappingv1.ImportOutcome{}, map[string]string{}
	for rows.Next() {
		var ext, reason string
		var o int16
		if err := rows.Scan(&ext, &o, &reason); err != nil {
			t.Fatal(err)
		}
		outcome[ext], reasons[ext] = mappingv1.ImportOutcome(o), reason
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for i := range itglueOrgs {
		if got := outcome[itglueID(i)]; got != planned(i) {
			if wrong++; wrong <= 5 {
				t.Errorf("IT Glue organization %s (%q): outcome %v (%q), want %v", itglueID(i), itglueName(i), got,
					reasons[itglueID(i)], planned(i))
			}
		}
	}
	if wrong > 5 {
		t.Errorf("... %d items with the wrong outcome in all", wrong)
	}

	// org holds each name once: the 2,500 from before and the 7,500 the import created.
	orgNames := map[string]string{} // id → name
	rows, err = orgInspect.Query(ctx, `SELECT id::text, name FROM org.organizations WHERE account_id = $1`, account)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		orgNames[id] = name
		if byName[name]++; byName[name] == 2 {
			t.Errorf("organization %q exists twice in org", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(orgNames) != existingCount+wantCreated {
		t.Errorf("org has %d organizations, want %d before the import and %d created by it", len(orgNames), existingCount, wantCreated)
	}

	// Every IT Glue organization is linked exactly once, to the organization of its exact name
	// (the namesakes from before keep their ids); the 500 links they replaced are gone.
	rows, err = inspect.Query(ctx, `SELECT external_organization_id, organization_id::text FROM mapping.links
		WHERE account_id = $1 AND integration_id = $2`, account, integration)
	if err != nil {
		t.Fatal(err)
	}
	linkedTo := map[string]string{}
	for rows.Next() {
		var ext, org string
		if err := rows.Scan(&ext, &org); err != nil {
			t.Fatal(err)
		}
		if _, dup := linkedTo[ext]; dup {
			t.Errorf("IT Glue organization %s linked twice", ext)
		}
		linkedTo[ext] = org
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(linkedTo) != itglueOrgs {
		t.Errorf("%d links in the IT Glue integration, want %d", len(linkedTo), itglueOrgs)
	}
	for _, old := range oldLinks {
		if org, ok := linkedTo[old]; ok {
			t.Errorf("the replaced link of IT Glue organization %s (to %s) is still there", old, org)
		}
	}
	mislinked := 0
	for i := range itglueOrgs {
		org, ok := linkedTo[itglueID(i)]
		name := orgNames[org]
		before, existed := orgIDByName[itglueName(i)]
		if !ok || name != itglueName(i) || (existed && org != before) {
			if mislinked++; mislinked <= 5 {
				t.Errorf("IT Glue organization %q linked to %q (%s, linked %v), want the organization of its name", itglueName(i), name, org, ok)
			}
		}
	}
	if mislinked > 5 {
		t.Errorf("... %d IT Glue organizations mislinked in all", mislinked)
	}
}

// childLogs collects both processes' output for a failure report.
type childLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

type childWriter struct {
	logs   *childLogs
	prefix string
}

func (l *childLogs) prefixed(prefix string) *childWriter {
	return &childWriter{logs: l, prefix: prefix}
}

func (w *childWriter) Write(b []byte) (int, error) {
	w.logs.mu.Lock()
	defer w.logs.mu.Unlock()
	for line := range strings.SplitAfterSeq(string(b), "\n") {
		if line != "" {
			w.logs.b.WriteString(w.prefix + line)
		}
	}
	return len(b), nil
}

// tail is the last n bytes written.
func (l *childLogs) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
