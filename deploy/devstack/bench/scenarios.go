package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/pkg/rpc"
)

type scenario struct {
	name string
	run  func(context.Context, *env) ([]Row, error)
}

func scenarios() []scenario {
	var shared struct {
		createCapacity float64 // gRPC creates per second, measured first
		big            account // an account with cfg.searchOrgs organizations
	}
	return []scenario{
		// First: create's raw SQL baseline writes organization.created events without an
		// organization id, and mapping's copy consumer retries such an event forever, so the grid
		// would never fill after it.
		{"grid", func(ctx context.Context, e *env) ([]Row, error) { return e.gridScenario(ctx) }},
		{"import", func(ctx context.Context, e *env) ([]Row, error) { return e.importScenario(ctx) }},
		{"create", func(ctx context.Context, e *env) ([]Row, error) {
			rows, capacity, err := e.createScenario(ctx)
			shared.createCapacity = capacity
			return rows, err
		}},
		{"read", func(ctx context.Context, e *env) ([]Row, error) {
			var err error
			if shared.big, err = e.seed(ctx, e.cfg.searchOrgs); err != nil {
				return nil, err
			}
			return e.readScenario(ctx, shared.big)
		}},
		{"events", func(ctx context.Context, e *env) ([]Row, error) { return e.eventScenario(ctx, shared.createCapacity) }},
		{"relay", func(ctx context.Context, e *env) ([]Row, error) { return e.relayScenario(ctx, shared.createCapacity) }},
		{"bulk", func(ctx context.Context, e *env) ([]Row, error) { return e.bulkScenario(ctx) }},
		{"refresh", func(ctx context.Context, e *env) ([]Row, error) { return e.refreshScenario(ctx) }},
		{"psasync", func(ctx context.Context, e *env) ([]Row, error) { return e.psaSyncScenario(ctx) }},
		{"notification", func(ctx context.Context, e *env) ([]Row, error) { return e.notificationScenario(ctx) }},
		{"signin", func(ctx context.Context, e *env) ([]Row, error) { return e.signInScenario(ctx) }},
	}
}

// account is a bench account with everything needed to call as it.
type account struct {
	id, key string
	grpc    context.Context // carries an API-key identity of the account
	conn    *grpc.ClientConn
}

// newAccount creates an account through the API and lifts its license limit (billing applies
// the trial first, so the bench waits for it, then asks billing for an unlimited plan).
func (e *env) newAccount(ctx context.Context, name string) (account, error) {
	var created struct {
		Account struct {
			ID string `json:"id"`
		} `json:"account"`
		AdministratorAPIKey string `json:"administratorApiKey"`
	}
	body := fmt.Sprintf(`{"account":{"displayName":%q},"administrator":{"firstName":"Bench","lastName":"Admin","email":"bench@example.com"}}`, name)
	if err := e.rest(ctx, "POST", "/v1/accounts", e.operator, body, &created); err != nil {
		return account{}, err
	}
	a := account{id: created.Account.ID, key: created.AdministratorAPIKey}
	deadline := time.Now().Add(30 * time.Second)
	for e.rest(ctx, "GET", "/v1/accounts/"+a.id+"/subscription", e.operator, "", nil) != nil {
		if time.Now().After(deadline) {
			return a, fmt.Errorf("billing did not set up %s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := e.rest(ctx, "PATCH", "/v1/accounts/"+a.id+"/subscription?updateMask=unlimited", e.operator, `{"unlimited":true}`, nil); err != nil {
		return a, err
	}
	conn, err := rpc.Dial(e.st.ServiceAddrs["org"], e.keys, rpc.Audience("org"))
	if err != nil {
		return a, err
	}
	a.conn = conn
	a.grpc = identity.With(ctx, identity.Identity{Kind: identity.KindAPIKey, PrincipalID: "bench", AccountID: a.id,
		Permissions: []string{"organizations:read", "organizations:write"}})
	return a, nil
}

func (e *env) rest(ctx context.Context, method, path, key, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, e.st.GatewayURL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// alternate runs system and baseline in turn for each round and returns their medians.
func (e *env) alternate(system, baseline func(round int) Result) (Result, Result) {
	var sys, base []Result
	for r := range e.cfg.rounds {
		sys = append(sys, system(r))
		base = append(base, baseline(r))
	}
	return median(sys), median(base)
}

func throughputRow(name, system, baseline string, sys, base Result, min float64) Row {
	ratio := 0.0
	if base.Throughput > 0 {
		ratio = sys.Throughput / base.Throughput
	}
	return Row{Scenario: name, System: system, Baseline: baseline, Sys: sys, Base: base, Ratio: ratio,
		RatioOf: "throughput", Target: fmt.Sprintf(">= %.0f%% of baseline", min*100), Met: ratio >= min && sys.Errors == 0}
}

func latencyRow(name, system, baseline string, sys, base Result, maxP99 time.Duration) Row {
	ratio := 0.0
	if base.P99 > 0 {
		ratio = float64(sys.P99) / float64(base.P99)
	}
	return Row{Scenario: name, System: system, Baseline: baseline, Sys: sys, Base: base, Ratio: ratio,
		RatioOf: "p99 vs baseline p99", Target: "p99 <= " + ms(maxP99), Met: sys.P99 <= maxP99 && sys.Errors == 0}
}

func (e *env) createScenario(ctx context.Context) ([]Row, float64, error) {
	a, err := e.newAccount(ctx, "Bench creates")
	if err != nil {
		return nil, 0, err
	}
	defer a.conn.Close()
	orgs := orgv1.NewOrganizationServiceClient(a.conn)
	sqlCreate := func(round int) Result {
		return run(ctx, e.cfg.clients, e.cfg.duration, 0, func(ctx context.Context, w, i int) error {
			return postgres.InTenantTx(ctx, e.raw, a.id, func(tx pgx.Tx) error {
				var orgID string
				name := fmt.Sprintf("sql %d-%d-%d", round, w, i)
				if err := tx.QueryRow(ctx, `INSERT INTO organizations (account_id, name) VALUES ($1, $2) RETURNING id::text`,
					a.id, name).Scan(&orgID); err != nil {
					return err
				}
				// The event as the outbox writes it, or the consumers (billing's, mapping's) would
				// refuse it.
				id := uuid.NewString()
				payload, _ := proto.Marshal(&orgv1.OrganizationCreated{EventId: id, AccountId: a.id,
					Organization: &orgv1.Organization{Id: orgID, Name: name, State: orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE,
						UpdateTime: timestamppb.Now()}})
				_, err := tx.Exec(ctx, `INSERT INTO outbox (event_id, subject, account_id, payload, headers) VALUES ($1, $2, $3, $4, $5)`,
					id, "orgplane.org.v1."+a.id+".organization.created", a.id, payload, organizationCreatedHeaders)
				return err
			})
		})
	}
	restSys, restBase := e.alternate(func(round int) Result {
		return run(ctx, e.cfg.clients, e.cfg.duration, 0, func(ctx context.Context, w, i int) error {
			return e.rest(ctx, "POST", "/v1/accounts/"+a.id+"/organizations", a.key, fmt.Sprintf(`{"name":"rest %d-%d-%d"}`, round, w, i), nil)
		})
	}, sqlCreate)
	grpcSys, grpcBase := e.alternate(func(round int) Result {
		return run(ctx, e.cfg.clients, e.cfg.duration, 0, func(ctx context.Context, w, i int) error {
			_, err := orgs.CreateOrganization(a.grpc, &orgv1.CreateOrganizationRequest{AccountId: a.id,
				Organization: &orgv1.Organization{Name: fmt.Sprintf("grpc %d-%d-%d", round, w, i)}})
			return err
		})
	}, func(round int) Result { return sqlCreate(round + 1000) })
	return []Row{
		throughputRow("create organization, REST", "REST", "raw SQL tx (row + outbox)", restSys, restBase, 0.60),
		throughputRow("create organization, gRPC", "gRPC", "raw SQL tx (row + outbox)", grpcSys, grpcBase, 0.80),
	}, grpcSys.Throughput, nil
}

// seed creates an account holding n organizations through the bulk API.
func (e *env) seed(ctx context.Context, n int) (account, error) {
	a, err := e.newAccount(ctx, "Bench reads")
	if err != nil {
		return a, err
	}
	orgs := orgv1.NewOrganizationServiceClient(a.conn)
	for start := 0; start < n; start += 10000 {
		batch := make([]*orgv1.Organization, 0, 10000)
		for i := start; i < min(n, start+10000); i++ {
			batch = append(batch, &orgv1.Organization{Name: fmt.Sprintf("Client %s %d", uuid.NewString()[:8], i)})
		}
		if _, err := orgs.BulkCreateOrganizations(a.grpc, &orgv1.BulkCreateOrganizationsRequest{AccountId: a.id, Organizations: batch}); err != nil {
			return a, err
		}
	}
	_, err = e.admin.Exec(ctx, `VACUUM ANALYZE org.organizations, org.organization_search`)
	return a, err
}

func (e *env) readScenario(ctx context.Context, a account) ([]Row, error) {
	var ids []string
	err := postgres.InTenantTx(ctx, e.raw, a.id, func(tx pgx.Tx) error {
		r, err := tx.Query(ctx, `SELECT id::text FROM organizations ORDER BY random() LIMIT 1000`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(r, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, err
	}
	queries := []string{"a1b", "c3", "7f0", "ent 4", "b2c", "99", "d4e", "ient 1"}
	orgs := orgv1.NewOrganizationServiceClient(a.conn)
	base := "/v1/accounts/" + a.id + "/organizations"
	pick := func(i int) string { return ids[rand.IntN(len(ids))] }
	q := func(i int) string { return queries[i%len(queries)] }

	sqlGet := func(int) Result {
		return run(ctx, e.cfg.clients, e.cfg.duration, 0, func(ctx context.Context, w, i int) error {
			return postgres.InTenantTx(ctx, e.raw, a.id, func(tx pgx.Tx) error {
				var name string
				return tx.QueryRow(ctx, `SELECT name FROM organizations WHERE id = $1`, pick(i)).Scan(&name)
			})
		})
	}
	// order is the baseline's ORDER BY for a list without a query (a query's is by name).
	sqlList := func(query bool, order string) func(int) Result {
		return func(int) Result {
			return run(ctx, e.cfg.clients, e.cfg.duration, 0, func(ctx context.Context, w, i int) error {
				return postgres.InTenantTx(ctx, e.raw, a.id, func(tx pgx.Tx) error {
					var n int
					if query {
						p := "%" + q(i) + "%"
						if err := tx.QueryRow(ctx, `SELECT count(*) FROM organization_search WHERE account_id = $1 AND name_lower LIKE $2`, a.id, p).Scan(&n); err != nil {
							return err
						}
						r, err := tx.Query(ctx, `SELECT o.id, o.name FROM organization_search s JOIN organizations o ON o.id = s.organization_id
							WHERE s.account_id = $1 AND s.name_lower LIKE $2 ORDER BY s.name, s.organization_id LIMIT 20`, a.id, p)
						if err != nil {
							return err
						}
						r.Close()
						return r.Err()
					}
					if err := tx.QueryRow(ctx, `SELECT count(*) FROM organizations WHERE account_id = $1`, a.id).Scan(&n); err != nil {
						return err
					}
					r, err := tx.Query(ctx, `SELECT id, name, notes, active FROM organizations WHERE account_id = $1 ORDER BY `+order+` LIMIT 100`, a.id)
					if err != nil {
						return err
					}
					r.Close()
					return r.Err()
				})
			})
		}
	}
	var out []Row
	for _, c := range []struct {
		name    string
		rest    func(int) string
		grpc    func(int) error
		sql     func(int) Result
		maxP99  time.Duration
		latency bool
	}{
		{"get organization", func(i int) string { return base + "/" + pick(i) }, func(i int) error {
			_, err := orgs.GetOrganization(a.grpc, &orgv1.GetOrganizationRequest{AccountId: a.id, OrganizationId: pick(i)})
			return err
		}, sqlGet, 0, false},
		{"list page of 100", func(int) string { return base + "?pageSize=100" }, func(int) error {
			_, err := orgs.ListOrganizations(a.grpc, &orgv1.ListOrganizationsRequest{AccountId: a.id, PageSize: 100})
			return err
		}, sqlList(false, "name, id"), 15 * time.Millisecond, true},
		// The Organizations page's Created column, newest first: its own index, as every order has.
		{"list page of 100, newest first", func(int) string { return base + "?pageSize=100&orderBy=create_time%20desc" }, func(int) error {
			_, err := orgs.ListOrganizations(a.grpc, &orgv1.ListOrganizationsRequest{AccountId: a.id, PageSize: 100, OrderBy: "create_time desc"})
			return err
		}, sqlList(false, "created_at DESC, id DESC"), 15 * time.Millisecond, true},
		{"search as you type (20 per page)", func(i int) string { return base + "?pageSize=20&query=" + strings.ReplaceAll(q(i), " ", "%20") }, func(i int) error {
			_, err := orgs.ListOrganizations(a.grpc, &orgv1.ListOrganizationsRequest{AccountId: a.id, PageSize: 20, Query: q(i)})
			return err
		}, sqlList(true, ""), 10 * time.Millisecond, true},
	} {
		for _, via := range []string{"REST", "gRPC"} {
			sys, baseRes := e.alternate(func(int) Result {
				return run(ctx, e.cfg.clients, e.cfg.duration, 0, func(ctx context.Context, w, i int) error {
					if via == "REST" {
						return e.rest(ctx, "GET", c.rest(i), a.key, "", nil)
					}
					return c.grpc(i)
				})
			}, c.sql)
			name := fmt.Sprintf("%s, %s, %d organizations", c.name, via, e.cfg.searchOrgs)
			if c.latency {
				out = append(out, latencyRow(name, via, "raw SQL", sys, baseRes, c.maxP99))
			} else {
				r := throughputRow(name, via, "raw SQL", sys, baseRes, 0)
				r.Target = "none set"
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// paced calls f at rate per second for d, from enough goroutines to keep up. It schedules by
// elapsed time rather than sleeping per call, so timer granularity does not lower the rate.
func paced(rate float64, d time.Duration, f func(i int)) {
	var wg sync.WaitGroup
	start := time.Now()
	sem := make(chan struct{}, 64)
	for i := 0; ; {
		elapsed := time.Since(start)
		if elapsed >= d {
			break
		}
		for due := int(elapsed.Seconds() * rate); i < due; i++ {
			sem <- struct{}{}
			wg.Add(1)
			// i moves on before the goroutine runs: each gets its own index.
			n := i
			go func() { defer wg.Done(); defer func() { <-sem }(); f(n) }()
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
}

func (e *env) eventScenario(ctx context.Context, capacity float64) ([]Row, error) {
	rate := max(capacity/2, 10)
	a, err := e.newAccount(ctx, "Bench events")
	if err != nil {
		return nil, err
	}
	defer a.conn.Close()
	nc, err := nats.Connect(e.st.NATSURL, nats.UserCredentials(e.st.NATSAdminCreds))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH_RAW", Subjects: []string{"bench.raw"}}); err != nil {
		return nil, err
	}
	orgs := orgv1.NewOrganizationServiceClient(a.conn)
	measure := func(stream, subject string, latency func(jetstream.Msg) (time.Duration, bool), produce func(i int)) (Result, error) {
		cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{FilterSubject: subject,
			DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckNonePolicy})
		if err != nil {
			return Result{}, err
		}
		var mu sync.Mutex
		var lat []time.Duration
		cc, err := cons.Consume(func(m jetstream.Msg) {
			if d, ok := latency(m); ok {
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
		if err != nil {
			return Result{}, err
		}
		start := time.Now()
		paced(rate, e.cfg.duration, produce)
		time.Sleep(time.Second) // let the tail arrive
		cc.Stop()
		mu.Lock()
		defer mu.Unlock()
		return summarize(lat, 0, time.Since(start)), nil
	}
	var runErr error
	sys, base := e.alternate(func(int) Result {
		r, err := measure("ORGPLANE_ORG", "orgplane.org.v1."+a.id+".organization.created", func(m jetstream.Msg) (time.Duration, bool) {
			var ev orgv1.OrganizationCreated
			if proto.Unmarshal(m.Data(), &ev) != nil || ev.GetAccountId() != a.id {
				return 0, false
			}
			return time.Since(ev.GetOccurredAt().AsTime()), true
		}, func(i int) {
			_, _ = orgs.CreateOrganization(a.grpc, &orgv1.CreateOrganizationRequest{AccountId: a.id,
				Organization: &orgv1.Organization{Name: "event " + uuid.NewString()}})
		})
		runErr = errorsJoin(runErr, err)
		return r
	}, func(int) Result {
		r, err := measure("BENCH_RAW", "bench.raw", func(m jetstream.Msg) (time.Duration, bool) {
			if len(m.Data()) < 8 {
				return 0, false
			}
			return time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(m.Data())))), true
		}, func(i int) {
			b := make([]byte, 8)
			binary.BigEndian.PutUint64(b, uint64(time.Now().UnixNano()))
			_, _ = js.Publish(ctx, "bench.raw", b)
		})
		runErr = errorsJoin(runErr, err)
		return r
	})
	row := latencyRow(fmt.Sprintf("event commit to consumer at %.0f creates/s (half of capacity)", rate), "outbox + relay", "raw JetStream publish to consume", sys, base, 250*time.Millisecond)
	return []Row{row}, runErr
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (e *env) relayScenario(ctx context.Context, createCapacity float64) ([]Row, error) {
	nc, err := nats.Connect(e.st.NATSURL, nats.UserCredentials(e.st.NATSAdminCreds))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	n := e.cfg.relayEvents
	payload, _ := proto.Marshal(&orgv1.OrganizationCreated{OccurredAt: timestamppb.Now(), Organization: &orgv1.Organization{Name: "relay"}})
	msgs := func(s string) uint64 {
		st, err := js.Stream(ctx, s)
		if err != nil {
			return 0
		}
		info, err := st.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	sys, base := e.alternate(func(int) Result {
		before := msgs("ORGPLANE_ORG")
		rows := make([][]any, n)
		for i := range rows {
			// A subject no consumer listens to: only the relay moves these.
			rows[i] = []any{uuid.New(), "orgplane.org.v1._.bench.relayed", nil, payload, `{}`}
		}
		tx, err := e.admin.Begin(ctx)
		if err != nil {
			return Result{Errors: 1}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"org", "outbox"}, []string{"event_id", "subject", "account_id", "payload", "headers"}, pgx.CopyFromRows(rows)); err != nil {
			_ = tx.Rollback(ctx)
			return Result{Errors: 1}
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify('orgplane_outbox_org', '')`); err != nil {
			_ = tx.Rollback(ctx)
			return Result{Errors: 1}
		}
		start := time.Now()
		if err := tx.Commit(ctx); err != nil {
			return Result{Errors: 1}
		}
		for msgs("ORGPLANE_ORG") < before+uint64(n) {
			time.Sleep(5 * time.Millisecond)
		}
		return Result{Ops: n, Elapsed: time.Since(start), Throughput: float64(n) / time.Since(start).Seconds()}
	}, func(int) Result {
		start := time.Now()
		for range n {
			if _, err := js.PublishAsync("bench.raw", payload); err != nil {
				return Result{Errors: 1}
			}
		}
		<-js.PublishAsyncComplete()
		return Result{Ops: n, Elapsed: time.Since(start), Throughput: float64(n) / time.Since(start).Seconds()}
	})
	row := throughputRow(fmt.Sprintf("outbox relay drain of %d events", n), "relay", "raw async JetStream publish", sys, base, 0.60)
	row.Target = fmt.Sprintf(">= 60%% of baseline and >= 1.5x peak create (%.0f/s)", createCapacity)
	row.Met = row.Met && sys.Throughput >= 1.5*createCapacity
	return []Row{row}, nil
}

func (e *env) bulkScenario(ctx context.Context) ([]Row, error) {
	n := e.cfg.bulkOrgs
	var accounts []account
	defer func() {
		for _, a := range accounts {
			a.conn.Close()
		}
	}()
	fresh := func(name string) (account, error) {
		a, err := e.newAccount(ctx, name)
		if err == nil {
			accounts = append(accounts, a)
		}
		return a, err
	}
	var runErr error
	sys, base := e.alternate(func(round int) Result {
		a, err := fresh(fmt.Sprintf("Bench bulk %d", round))
		if err != nil {
			runErr = err
			return Result{Errors: 1}
		}
		batch := make([]*orgv1.Organization, n)
		for i := range batch {
			batch[i] = &orgv1.Organization{Name: fmt.Sprintf("Imported %05d", i)}
		}
		start := time.Now()
		_, err = orgv1.NewOrganizationServiceClient(a.conn).BulkCreateOrganizations(a.grpc,
			&orgv1.BulkCreateOrganizationsRequest{AccountId: a.id, Organizations: batch}, grpc.MaxCallSendMsgSize(64<<20))
		if err != nil {
			runErr = err
			return Result{Errors: 1}
		}
		el := time.Since(start)
		return Result{Ops: n, Elapsed: el, Throughput: float64(n) / el.Seconds(), P50: el, P95: el, P99: el}
	}, func(round int) Result {
		a, err := fresh(fmt.Sprintf("Bench raw copy %d", round))
		if err != nil {
			runErr = err
			return Result{Errors: 1}
		}
		start := time.Now()
		// COPY is refused under row-level security, so the baseline runs as the database owner.
		err = pgx.BeginFunc(ctx, e.admin, func(tx pgx.Tx) error {
			orgRows := make([][]any, n)
			ids := make([]uuid.UUID, n)
			for i := range orgRows {
				ids[i] = uuid.New()
				orgRows[i] = []any{ids[i], a.id, fmt.Sprintf("Imported %05d", i)}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"org", "organizations"}, []string{"id", "account_id", "name"}, pgx.CopyFromRows(orgRows)); err != nil {
				return err
			}
			evRows := make([][]any, n)
			for i := range evRows {
				id := uuid.NewString()
				p, _ := proto.Marshal(&orgv1.OrganizationCreated{EventId: id, AccountId: a.id, Organization: &orgv1.Organization{Id: ids[i].String()}})
				evRows[i] = []any{id, "orgplane.org.v1." + a.id + ".organization.created", a.id, p, organizationCreatedHeaders}
			}
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"org", "outbox"}, []string{"event_id", "subject", "account_id", "payload", "headers"}, pgx.CopyFromRows(evRows))
			return err
		})
		if err != nil {
			runErr = err
			return Result{Errors: 1}
		}
		el := time.Since(start)
		return Result{Ops: n, Elapsed: el, Throughput: float64(n) / el.Seconds(), P50: el, P95: el, P99: el}
	})
	row := throughputRow(fmt.Sprintf("bulk create of %d organizations with their events, one call", n), "BulkCreateOrganizations (gRPC)", "raw COPY (rows + outbox)", sys, base, 1.0/3)
	row.Target = "within 3x of baseline time"
	return []Row{row}, runErr
}

// organizationCreatedHeaders are the outbox headers of an organization.created event written by
// hand (SQL baselines): consumers refuse an event whose type header is not its subject's.
const organizationCreatedHeaders = `{"Orgplane-Event-Type": "orgplane.org.v1.OrganizationCreated"}`
