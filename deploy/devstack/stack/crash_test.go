package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
)

// killPostgres SIGKILLs a private cluster's postmaster and every process it started, as a crash
// of the machine's database would: no shutdown checkpoint, no flush of anything unsynced.
func killPostgres(t *testing.T, dataDir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	victims := []int{pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so read after the last ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			victims = append(victims, child)
		}
	}
	for _, v := range victims {
		_ = syscall.Kill(v, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("postgres did not die")
		}
	}
}

// Issue 12 acceptance: SIGKILL of Postgres during a create load with make run's defaults (a
// durable private cluster): every create acknowledged with 200 is there after the restart, and
// billing's event-fed count equals org's.
func TestSIGKILLOfPostgresLosesNoAcknowledgedCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a private Postgres")
	}
	ctx := context.Background()
	dir := t.TempDir()
	durable := func() (*pgcluster.Server, error) {
		shared := os.Getenv("DATABASE_URL")
		os.Setenv("DATABASE_URL", "")
		defer os.Setenv("DATABASE_URL", shared)
		// No Unsynced: the settings make run uses.
		return pgcluster.Ensure(ctx, pgcluster.Options{DataDir: dir, SkipDefaultPort: true})
	}
	pg, err := durable()
	if err != nil {
		t.Skipf("no private postgres: %v", err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	proxy := newPGProxy(t, hostPort(t, pg.URL))
	viaProxy := strings.Replace(pg.URL, hostPort(t, pg.URL), proxy.lis.Addr().String(), 1)
	s := startStack(t, func(o *stack.Options) { o.DatabaseURL = viaProxy })

	created := s.do("POST", "/v1/accounts", operatorToken, accountBody("Crash MSP"))
	if created.code != http.StatusOK {
		t.Fatalf("create account = %d %s", created.code, created.body)
	}
	m := created.json(t)
	account := m["account"].(map[string]any)["id"].(string)
	key := m["administratorApiKey"].(string)
	// The trial reaches org through billing's intent; wait for unlimited room to be irrelevant
	// by staying under the trial's 25.
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := s.doQuiet("POST", "/v1/accounts/"+account+"/organizations", key, fmt.Sprintf(`{"name":"Crash %d-%d"}`, w, i))
				if r.code == http.StatusOK {
					var o struct{ ID string }
					if json.Unmarshal(r.body, &o) == nil {
						mu.Lock()
						acked = append(acked, o.ID)
						mu.Unlock()
					}
				}
				if i >= 7 { // 3 workers × 8 stays inside the trial's 25 licenses
					return
				}
				time.Sleep(15 * time.Millisecond)
			}
		}()
	}
	// Kill while creates are in flight, once some have been acknowledged (a loaded machine may
	// take longer than usual for the first): those must survive.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
	}
	killPostgres(t, filepath.Join(dir, "data"))
	close(stop)
	wg.Wait()

	pg, err = durable()
	if err != nil {
		t.Fatal(err)
	}
	proxy.retarget(hostPort(t, pg.URL))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if s.doQuiet("GET", "/readyz", "", "").code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("suite not ready after Postgres came back")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no create was acknowledged before the kill; the test proves nothing")
	}
	for _, id := range acked {
		if r := s.do("GET", "/v1/accounts/"+account+"/organizations/"+id, key, ""); r.code != http.StatusOK {
			t.Errorf("acknowledged organization %s is gone after the crash: %d %s", id, r.code, r.body)
		}
	}
	// Billing's usage comes from organization.created through the outbox; it must converge on
	// org's own count of active organizations.
	list := s.do("GET", "/v1/accounts/"+account+"/organizations?pageSize=1", key, "")
	orgTotal := list.json(t)["totalSize"]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		u := s.doQuiet("GET", "/v1/accounts/"+account+"/subscription/usage", key, "")
		if u.code == http.StatusOK && fmt.Sprint(u.json(t)["used"]) == fmt.Sprint(orgTotal) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("billing's usage %s never matched org's %v organizations", u.body, orgTotal)
		}
	}
	t.Logf("%d creates acknowledged before the kill, all present; org total %v", len(acked), orgTotal)
}
