// Command bench measures Orgplane against the raw cost of the same work done directly on its
// parts (Postgres, NATS JetStream), in the same run on the same machine, alternating system and
// baseline over several rounds and reporting medians. `make bench` writes docs/benchmarks.md and
// docs/benchmarks.json; `make bench-smoke` runs every scenario briefly so CI proves it works.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

type config struct {
	smoke       bool
	out         string
	rounds      int
	duration    time.Duration
	clients     int
	searchOrgs  int
	relayEvents int
	bulkOrgs    int
	only        string
	cpuProfile  string
}

func main() {
	var c config
	flag.BoolVar(&c.smoke, "smoke", false, "run every scenario briefly (CI)")
	flag.StringVar(&c.out, "out", "docs", "folder for benchmarks.md and benchmarks.json")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of system and baseline, alternated")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each timed measurement")
	flag.IntVar(&c.clients, "clients", 32, "concurrent clients")
	flag.StringVar(&c.only, "only", "", "run only this scenario (create, read, events, relay, bulk, refresh, grid, import, psasync, notification, signin)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (every service is in this process)")
	flag.Parse()
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	c.searchOrgs, c.relayEvents, c.bulkOrgs = 50000, 20000, 10000
	if c.smoke {
		c.rounds, c.duration, c.searchOrgs, c.relayEvents, c.bulkOrgs = 1, 2*time.Second, 5000, 2000, 1000
	}
	ctx := context.Background()
	if err := benchmark(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// env is everything the scenarios use.
type env struct {
	cfg      config
	st       *stack.Stack
	keys     *identity.Keyring
	http     *http.Client
	raw      *pgxpool.Pool // the org schema as the runtime role, for SQL baselines
	admin    *pgx.Conn     // the database owner, for seeding
	operator string
	dbURL    string
	// ssoClient is the bare relying party registered at the stack's OpenID Connect provider.
	ssoClient oidcdev.Client
}

func benchmark(ctx context.Context, c config) error {
	state, _ := filepath.Abs(".run")
	if v := os.Getenv("ORGPLANE_DEV_STATE"); v != "" {
		state = v
	}
	pg, err := pgcluster.Ensure(ctx, pgcluster.Options{DataDir: filepath.Join(state, "postgres"), AllowInstall: true})
	if err != nil {
		return err
	}
	defer pg.Stop() //nolint:errcheck // reported by pgcluster
	dbURL, drop, err := freshDatabase(ctx, pg.URL)
	if err != nil {
		return err
	}
	defer drop()

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keys, err := identity.ParseKeyring("bench:" + base64.StdEncoding.EncodeToString(secret))
	if err != nil {
		return err
	}
	operator := "op_bench_" + hex.EncodeToString(secret)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	ssoClient := ssoBaselineClient()
	st, err := stack.Start(sctx, stack.Options{
		Log: slog.New(slog.DiscardHandler), DatabaseURL: dbURL, NATSDir: filepath.Join(os.TempDir(), "orgplane-bench-nats-"+hex.EncodeToString(secret[:4])),
		Host: "127.0.0.1", AdminPort: -1, Keys: keys, OperatorToken: operator,
		RateLimit: gatewaysvc.RateLimit{PerSecond: 1e9, Burst: 1 << 30},
		OIDCUsers: ssoProviderUsers(), OIDCClients: []oidcdev.Client{ssoClient},
	})
	if err != nil {
		return err
	}
	defer func() { stop(); _ = st.Wait() }()

	raw, err := postgres.Open(ctx, postgres.Config{URL: dbURL, Schema: "org", Role: "orgplane_org", MaxConns: int32(c.clients + 8)})
	if err != nil {
		return err
	}
	defer raw.Close()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	e := &env{cfg: c, st: st, keys: keys, raw: raw, admin: admin, operator: operator, dbURL: dbURL, ssoClient: ssoClient,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.clients * 2}}}

	rep := &report{Started: time.Now().UTC(), Smoke: c.smoke, Rounds: c.rounds, Clients: c.clients, Machine: machine()}
	for _, s := range scenarios() {
		if c.only != "" && s.name != c.only {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s\n", s.name)
		rows, err := s.run(ctx, e)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		rss, cpu := processUsage()
		for i := range rows {
			rows[i].RSSBytes, rows[i].CPUSeconds = rss, cpu
			rep.Rows = append(rep.Rows, rows[i])
		}
	}
	rep.Finished = time.Now().UTC()
	return rep.write(c.out)
}

func freshDatabase(ctx context.Context, admin string) (string, func(), error) {
	name := "orgplane_bench_" + time.Now().Format("20060102150405")
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	}, nil
}
