package replicas_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/pkg/secrets"
	"github.com/orgplane/orgplane/services/gateway/suite"
)

// replicasPerService is how many processes of each service run.
const replicasPerService = 2

// refreshInterval is integration-sync's incremental refresh interval here: short, so that the
// load sees several periods.
const refreshInterval = 4 * time.Second

// cluster is the suite as separate processes: two of every service and a gateway over them, on
// one Postgres database and one NATS server, with the simulated tools and a mail sink.
type cluster struct {
	t   *testing.T
	dir string
	// dbURL is the test's database, as the superuser (services SET ROLE to their own).
	dbURL string
	// names are the services in the suite's order.
	names    []string
	services map[string][]*proc
	gateway  *proc

	nats       *server.Server
	natsURL    string
	adminCreds string
	mail       *mailsink.Sink
	sims       *simulators.Set
	gatewayURL string
	operator   string

	scrapes *scraper
}

// proc is one process (a replica of a service, or the gateway), restartable on its ports.
type proc struct {
	name      string // "org-1"
	service   string
	bin       string
	env       []string
	grpcAddr  string
	adminAddr string // host:port of /metrics and /readyz (the gateway's HTTP address)

	mu          sync.Mutex
	cmd         *exec.Cmd
	exited      chan struct{}
	killed      bool
	incarnation int
	logs        []string
}

// repoRoot is the repository's root: this package is deploy/devstack/replicas.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", "..", ".."))
}

// buildBinaries builds every service's binary and the gateway's, once, as an image build
// would (their cmd packages), into dir; it returns them by name.
func buildBinaries(t *testing.T, names []string) map[string]string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bin")
	pkgs := make([]string, 0, len(names)+1)
	for _, n := range append(slices.Clone(names), "gateway") {
		pkgs = append(pkgs, "./services/"+n+"/cmd/"+n)
	}
	start := time.Now()
	// Without symbol tables the six links take a fraction of the time; nothing here debugs them.
	cmd := exec.Command("go", append([]string{"build", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
	t.Logf("built %d binaries in %v", len(pkgs), time.Since(start).Round(time.Millisecond))
	out := map[string]string{}
	for _, n := range append(slices.Clone(names), "gateway") {
		out[n] = filepath.Join(dir, n)
	}
	return out
}

// addrs hands out loopback addresses nothing listens on. It holds each one's listener until
// release, so that it never hands out one port twice (a port just closed is the kernel's
// favourite next pick).
type addrs struct {
	t    *testing.T
	held []net.Listener
}

func (a *addrs) next() string {
	a.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.t.Fatal(err)
	}
	a.held = append(a.held, l)
	return l.Addr().String()
}

// release frees every address handed out, for the processes to listen on.
func (a *addrs) release() {
	for _, l := range a.held {
		_ = l.Close()
	}
	a.held = nil
}

// baseEnv is this process's environment without Orgplane's and OpenTelemetry's settings, so a
// developer's own do not leak into the processes.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, platform.EnvPrefix+"_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// startCluster migrates the database once, starts NATS, the mail sink and the simulators, then
// two processes of every service and the gateway, and waits until every one is ready.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	specs := suite.Specs(suite.Options{})
	c := &cluster{t: t, dir: t.TempDir(), services: map[string][]*proc{}, operator: "op_replicas_0123456789abcdefghijklmnopqrstuvwxyz"}
	for _, s := range specs {
		c.names = append(c.names, s.Name)
	}
	// The processes' logs outlive a failed run, for whoever reads the failure.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		kept, err := os.MkdirTemp("", "orgplane-replicas-logs-")
		if err == nil {
			err = os.CopyFS(kept, os.DirFS(filepath.Join(c.dir, "logs")))
		}
		if err != nil {
			t.Logf("the processes' logs could not be kept: %v", err)
			return
		}
		t.Logf("the processes' logs are kept in %s", kept)
	})
	bins := buildBinaries(t, c.names)
	c.dbURL = testkit.EmptyDB(t)

	identityKeys := keySpec("k1")
	credentialKeys := secrets.GenerateSpec("run")
	common := append(baseEnv(), "ORGPLANE_DATABASE_URL="+c.dbURL, "ORGPLANE_IDENTITY_KEYS="+identityKeys, "ORGPLANE_LOG_LEVEL=info")

	// Migrations run once, before any replica, as a Kubernetes Job per service would.
	start := time.Now()
	for _, n := range c.names {
		cmd := exec.Command(bins[n], "migrate")
		cmd.Env = common
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s migrate: %v\n%s", n, err, tail(string(out), 40))
		}
	}
	t.Logf("migrated %d schemas in %v", len(c.names), time.Since(start).Round(time.Millisecond))
	installAudit(t, c.dbURL, c.names)

	// NATS with a credential per service holding exactly its rights, as the dev stack mints them.
	auth, err := natsserver.NewAuth()
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]string{}
	for _, s := range specs {
		perms, err := platform.NATSPermissions(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		creds[s.Name] = filepath.Join(c.dir, "nats", s.Name+".creds")
		if err := auth.WriteCreds(creds[s.Name], "orgplane-"+s.Name, perms, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	c.adminCreds = filepath.Join(c.dir, "nats", "admin.creds")
	if err := auth.WriteCreds(c.adminCreds, "test-admin", natsserver.Everything(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	c.nats, err = natsserver.Start(natsserver.Options{Dir: filepath.Join(c.dir, "jetstream"), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.nats.Shutdown(); c.nats.WaitForShutdown() })
	c.natsURL = c.nats.ClientURL()

	if c.mail, err = mailsink.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.mail.Stop)
	simCtx, stopSims := context.WithCancel(context.Background())
	t.Cleanup(stopSims)
	if c.sims, err = simulators.Start(simCtx, simulators.Options{}); err != nil {
		t.Fatal(err)
	}

	ports := &addrs{t: t}
	gatewayAddr := ports.next()
	c.gatewayURL = "http://" + gatewayAddr
	for _, n := range c.names {
		for i := range replicasPerService {
			c.services[n] = append(c.services[n], &proc{name: fmt.Sprintf("%s-%d", n, i+1), service: n, bin: bins[n],
				grpcAddr: ports.next(), adminAddr: ports.next()})
		}
	}
	// Every process reaches each service at both of its replicas: the comma-separated form of
	// ORGPLANE_PEERS and ORGPLANE_UPSTREAMS.
	var upstreams []string
	for _, n := range c.names {
		var addrs []string
		for _, p := range c.services[n] {
			addrs = append(addrs, p.grpcAddr)
		}
		upstreams = append(upstreams, n+"="+strings.Join(addrs, ","))
	}
	peers := strings.Join(upstreams, ";")
	own := map[string][]string{
		"org": {"ORGPLANE_CREDENTIAL_KEYS=" + credentialKeys, "ORGPLANE_WEB_BASE_URL=" + c.gatewayURL},
		"integration-sync": {"ORGPLANE_CREDENTIAL_KEYS=" + credentialKeys,
			"ORGPLANE_REFRESH_INCREMENTAL_INTERVAL=" + refreshInterval.String(), "ORGPLANE_REFRESH_FULL_INTERVAL=1h",
			// A refresh held by a killed replica is resumed by the other soon.
			"ORGPLANE_REFRESH_LEASE=3s"},
		"notification": {"ORGPLANE_SMTP_ADDR=" + c.mail.Addr(), "ORGPLANE_SMTP_TLS=none", "ORGPLANE_WEB_BASE_URL=" + c.gatewayURL},
		// Enough licenses that the load never meets the limit.
		"billing": {"ORGPLANE_TRIAL_LIMIT=100000"},
	}
	for _, n := range c.names {
		for _, p := range c.services[n] {
			p.env = append(slices.Clone(common), "ORGPLANE_NATS_URL="+c.natsURL, "ORGPLANE_NATS_CREDS="+creds[n],
				"ORGPLANE_GRPC_ADDR="+p.grpcAddr, "ORGPLANE_ADMIN_ADDR="+p.adminAddr, "ORGPLANE_PEERS="+peers)
			p.env = append(p.env, own[n]...)
		}
	}
	c.gateway = &proc{name: "gateway", service: "gateway", bin: bins["gateway"], adminAddr: gatewayAddr,
		env: append(baseEnv(), "ORGPLANE_IDENTITY_KEYS="+identityKeys, "ORGPLANE_OPERATOR_TOKEN="+c.operator,
			"ORGPLANE_HTTP_ADDR="+gatewayAddr, "ORGPLANE_UPSTREAMS="+peers, "ORGPLANE_LOG_LEVEL=info",
			// One test client on loopback: no per-key rate limit, no per-address connection cap.
			"ORGPLANE_RATE_LIMIT=0", "ORGPLANE_MAX_CONNS_PER_CLIENT=0")}

	ports.release()
	t.Cleanup(c.stopAll)
	start = time.Now()
	for _, p := range c.all() {
		c.start(p)
	}
	for _, p := range c.all() {
		c.waitReady(p, 60*time.Second)
	}
	c.waitGatewayReady(60 * time.Second)
	t.Logf("%d service processes and the gateway ready in %v", len(c.all())-1, time.Since(start).Round(time.Millisecond))
	c.scrapes = &scraper{c: c, last: map[string]scrape{}}
	return c
}

// keySpec is an identity keyring of one fresh key, in ORGPLANE_IDENTITY_KEYS's format.
func keySpec(id string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

// all lists every process, services first, the gateway last.
func (c *cluster) all() []*proc {
	var out []*proc
	for _, n := range c.names {
		out = append(out, c.services[n]...)
	}
	return append(out, c.gateway)
}

// start starts p (again), its output in a log file of its own per incarnation.
func (c *cluster) start(p *proc) {
	c.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.incarnation++
	path := filepath.Join(c.dir, "logs", fmt.Sprintf("%s.%d.log", p.name, p.incarnation))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		c.t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(p.bin)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		c.t.Fatalf("start %s: %v", p.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(exited)
	}()
	p.cmd, p.exited, p.killed = cmd, exited, false
	p.logs = append(p.logs, path)
}

// kill ends p at once with SIGKILL, as the kernel's OOM killer or a node failure would: no
// shutdown, no in-flight call finished, connections dropped.
func (c *cluster) kill(p *proc) {
	c.t.Helper()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.killed = true
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Errorf("kill %s: %v", p.name, err)
	}
	<-exited
}

// alive reports whether p's current incarnation still runs.
func (p *proc) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// exitedUnasked reports whether p's current incarnation ended without being killed.
func (p *proc) exitedUnasked() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.killed && p.exited != nil && !p.aliveLocked()
}

func (p *proc) aliveLocked() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stopAll stops every process with SIGTERM (a rolling shutdown's signal), then SIGKILL after
// a grace.
func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for _, p := range c.all() {
		p.mu.Lock()
		cmd, exited := p.cmd, p.exited
		p.killed = true
		p.mu.Unlock()
		if cmd == nil {
			continue
		}
		wg.Go(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	wg.Wait()
}

// waitReady waits until p's /readyz answers 200 (a service: database, NATS, streams and
// consumers in order).
func (c *cluster) waitReady(p *proc, within time.Duration) {
	c.t.Helper()
	if p == c.gateway {
		return
	}
	deadline := time.Now().Add(within)
	last := ""
	for {
		resp, err := http.Get("http://" + p.adminAddr + "/readyz")
		if err == nil {
			b := make([]byte, 512)
			n, _ := resp.Body.Read(b)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b[:n])
		} else {
			last = err.Error()
		}
		if !p.alive() {
			c.t.Fatalf("%s exited before it was ready:\n%s", p.name, p.logTail(30))
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not ready after %v: %s\n%s", p.name, within, last, p.logTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitGatewayReady waits until the gateway's /readyz reports every service serving.
func (c *cluster) waitGatewayReady(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(c.gatewayURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if !c.gateway.alive() {
			c.t.Fatalf("the gateway exited:\n%s", c.gateway.logTail(30))
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the gateway is not ready after %v (%v)\n%s", within, err, c.gateway.logTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logTail is the end of p's latest log.
func (p *proc) logTail(lines int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.logs) == 0 {
		return ""
	}
	b, _ := os.ReadFile(p.logs[len(p.logs)-1])
	return tail(string(b), lines)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// scrape is one read of a process's /metrics.
type scrape map[string]*dto.MetricFamily

// sum adds the samples of name whose labels include every want ("k=v").
func (s scrape) sum(name string, want ...string) float64 {
	f, ok := s[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if slices.ContainsFunc(want, func(kv string) bool { k, v, _ := strings.Cut(kv, "="); return labels[k] != v }) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		case m.GetUntyped() != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total
}

func scrapeOnce(addr string) (scrape, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	return fams, nil
}

// scraper reads every service process's /metrics when asked (just before the kills, and at
// the end) and keeps each incarnation's last read: a replica's counters die with it, and its
// last read is what it did.
type scraper struct {
	c    *cluster
	mu   sync.Mutex
	last map[string]scrape // by "<proc>#<incarnation>"
}

// once reads every live service process now.
func (s *scraper) once() {
	var wg sync.WaitGroup
	for _, n := range s.c.names {
		for _, p := range s.c.services[n] {
			p.mu.Lock()
			key := fmt.Sprintf("%s#%d", p.name, p.incarnation)
			p.mu.Unlock()
			if !p.alive() {
				continue
			}
			wg.Go(func() {
				if sc, err := scrapeOnce(p.adminAddr); err == nil {
					s.mu.Lock()
					s.last[key] = sc
					s.mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
}

// total sums name (with want) over every incarnation of p.
func (s *scraper) total(p *proc, name string, want ...string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := 0.0
	for key, sc := range s.last {
		if strings.HasPrefix(key, p.name+"#") {
			sum += sc.sum(name, want...)
		}
	}
	return sum
}

// eventually polls f until it returns nil, failing the test with its last error after within.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
