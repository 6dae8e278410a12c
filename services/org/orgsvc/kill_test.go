package orgsvc_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/org/orgsvc"
)

// TestLicenseLimitSurvivesAKillDuringABurst runs the org service as its own process, kills it
// with SIGKILL while a burst of creates is under way, restarts it, keeps creating until the
// limit refuses, and recounts: never more active organizations than licenses.
func TestLicenseLimitSurvivesAKillDuringABurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the org service")
	}
	const limit = 30
	dir := t.TempDir()
	bin := filepath.Join(dir, "org")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/org").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dbURL := testkit.EmptyDB(t)
	ctx := context.Background()
	if err := platform.Migrate(ctx, orgsvc.Spec(), dbURL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	nats := testkit.StartNATS(t)
	makeIntegrationSyncStream(t, nats)
	perms, err := platform.NATSPermissions(ctx, orgsvc.Spec())
	if err != nil {
		t.Fatal(err)
	}
	natsCreds := nats.Creds(t, "org", perms)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keySpec := "k1:" + base64.StdEncoding.EncodeToString(secret)
	keys, err := identity.ParseKeyring(keySpec)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()

	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "ORGPLANE_DATABASE_URL="+dbURL, "ORGPLANE_IDENTITY_KEYS="+keySpec,
			"ORGPLANE_NATS_URL="+nats.URL, "ORGPLANE_NATS_CREDS="+natsCreds, "ORGPLANE_GRPC_ADDR="+addr, "ORGPLANE_ADMIN_ADDR=off", "ORGPLANE_LOG_LEVEL=error")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	conn, err := rpc.Dial(addr, keys, rpc.Audience("org"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitServing := func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			hctx, cancel := context.WithTimeout(ctx, time.Second)
			resp, err := healthpb.NewHealthClient(conn).Check(identity.With(hctx, identity.Service("test")), &healthpb.HealthCheckRequest{})
			cancel()
			if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("org service not serving: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	proc := start()
	defer func() { _ = proc.Process.Kill(); _ = proc.Wait() }()
	waitServing()

	operatorCtx := identity.With(ctx, identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"})
	acct, err := orgv1.NewAccountServiceClient(conn).CreateAccount(operatorCtx, &orgv1.CreateAccountRequest{
		Account: &orgv1.Account{DisplayName: "Contoso MSP"}, Administrator: admin})
	if err != nil {
		t.Fatal(err)
	}
	accountID := acct.GetAccount().GetId()
	licenses := orgv1.NewLicenseServiceClient(conn)
	serviceCtx := identity.With(ctx, identity.Service("billing"))
	if _, err := licenses.SetLicenseLimit(serviceCtx, &orgv1.SetLicenseLimitRequest{AccountId: accountID, OrganizationLimit: limit, Writable: true}); err != nil {
		t.Fatal(err)
	}
	orgs := orgv1.NewOrganizationServiceClient(conn)
	var seq atomic.Int64
	create := func() error {
		n := seq.Add(1)
		_, err := orgs.CreateOrganization(operatorCtx, &orgv1.CreateOrganizationRequest{AccountId: accountID,
			Organization: &orgv1.Organization{Name: fmt.Sprintf("Client %04d", n)}})
		return err
	}

	// The burst: 24 workers create as fast as they can; the process is killed mid-way.
	var created, refused, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch err := create(); status.Code(err) {
				case codes.OK:
					created.Add(1)
				case codes.FailedPrecondition: // the license limit
					refused.Add(1)
				default:
					failed.Add(1)
					time.Sleep(5 * time.Millisecond) // the service is down; do not spin
				}
			}
		}()
	}
	for created.Load() < limit/3 {
		time.Sleep(time.Millisecond)
	}
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = proc.Wait()
	time.Sleep(200 * time.Millisecond)
	proc = start()
	waitServing()
	// Keep the burst going until the limit refuses every attempt for a while.
	for refused.Load() < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() == 0 {
		t.Fatal("no call failed: the kill did not land during the burst")
	}

	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var active int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM org.organizations WHERE account_id = $1 AND active`, accountID).Scan(&active); err != nil {
		t.Fatal(err)
	}
	usage, err := licenses.GetLicenseUsage(serviceCtx, &orgv1.GetLicenseUsageRequest{AccountId: accountID})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d (acknowledged), refused %d, failed in the kill %d; active %d, limit %d", created.Load(), refused.Load(), failed.Load(), active, limit)
	if active > limit || int(usage.GetUsed()) != active {
		t.Fatalf("%d active organizations (usage says %d) with %d licenses", active, usage.GetUsed(), limit)
	}
	if active != limit {
		t.Fatalf("%d active organizations: creating until refused should fill all %d licenses", active, limit)
	}
}
