package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// The two-way PSA sync (issue 15), against the ConnectWise simulator: how long an organization
// created through the API takes to become a company in the PSA at a steady create rate, and how
// fast a burst of organizations is pushed under a small rate budget, where the budget and not
// Orgplane must be what limits it.

const (
	// psaSyncRate and psaSyncDuration are the steady create rate of the propagation measurement.
	psaSyncRate     = 20.0
	psaSyncDuration = 15 * time.Second
	// psaSyncTail is how long the last create may take to reach the PSA before the run fails:
	// the issue asks for 5 s, this only bounds a broken run.
	psaSyncTail = 30 * time.Second
	// psaSyncCatchUp bounds the wait for the earlier scenarios' events to be applied.
	psaSyncCatchUp = 20 * time.Minute
	// psaSyncTarget is the "exists in the simulators within 5 s".
	psaSyncTarget = 5 * time.Second
	// connectWiseClientType is the simulator's first company type ("Client"), what the bench's
	// own direct create names; Orgplane's connector asks the tenant for its first type instead.
	connectWiseClientType = 1
)

// pushBudget is a rate budget policy as the integrations API takes it.
type pushBudget struct {
	requests    int
	window      time.Duration
	concurrency int
}

func (b pushBudget) json() string {
	return fmt.Sprintf(`{"requests":%d,"window":"%gs","concurrency":%d}`, b.requests, b.window.Seconds(), b.concurrency)
}

// perSecond is the budget's nominal rate.
func (b pushBudget) perSecond() float64 { return float64(b.requests) / b.window.Seconds() }

// floor is the least time any client keeping to the budget needs for q requests, starting with
// an empty window: the first b.requests go at once, each further b.requests one window later.
func (b pushBudget) floor(q int) time.Duration {
	if q <= 0 {
		return 0
	}
	return time.Duration((q-1)/b.requests) * b.window
}

func (e *env) psaSyncScenario(ctx context.Context) ([]Row, error) {
	if err := e.waitForOrgConsumers(ctx); err != nil {
		return nil, err
	}
	latency, err := e.psaPropagation(ctx)
	if err != nil {
		return nil, fmt.Errorf("propagation: %w", err)
	}
	if err := e.waitForOrgConsumers(ctx); err != nil {
		return nil, err
	}
	push, err := e.psaPushThroughput(ctx)
	if err != nil {
		return nil, fmt.Errorf("push under a budget: %w", err)
	}
	return []Row{latency, push}, nil
}

// waitForOrgConsumers waits until every durable consumer of org's events has applied all of
// them. The scenarios before this one leave up to hundreds of thousands of organization events
// behind, and integration-sync applies them in order with this scenario's own: measured then,
// the figures would be the backlog's.
func (e *env) waitForOrgConsumers(ctx context.Context) error {
	nc, err := nats.Connect(e.st.NATSURL, nats.UserCredentials(e.st.NATSAdminCreds))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	stream, err := js.Stream(ctx, "ORGPLANE_ORG")
	if err != nil {
		return err
	}
	start := time.Now()
	first := ""
	err = waitFor(ctx, psaSyncCatchUp, "the consumers of org's events to catch up", func() (bool, string, error) {
		var behind []string
		list := stream.ListConsumers(ctx)
		for info := range list.Info() {
			// Ephemeral consumers are the bench's own (the events scenario's), left to expire.
			if info.Config.Durable == "" {
				continue
			}
			if n := info.NumPending + uint64(info.NumAckPending); n > 0 {
				behind = append(behind, fmt.Sprintf("%s %d behind", info.Name, n))
			}
		}
		if err := list.Err(); err != nil {
			return false, "", err
		}
		state := strings.Join(behind, ", ")
		first = cmp.Or(first, state)
		return len(behind) == 0, state, nil
	})
	if waited := time.Since(start); waited >= time.Second {
		fmt.Fprintf(os.Stderr, "bench: psasync: waited %s for org's event consumers to catch up (at first: %s)\n",
			waited.Round(time.Second), first)
	}
	return err
}

// psaPropagation creates organizations through REST at a steady rate in an account whose
// ConnectWise integration syncs two-way, and times each from the create's 200 to the
// simulator's write of its company. The baseline, alternated with it, creates at the same rate
// in an account without integrations and, at each 200, has the bench itself POST the company to
// a second simulator: what a push made synchronously in the request would take.
func (e *env) psaPropagation(ctx context.Context) (Row, error) {
	rate, d := psaSyncRate, psaSyncDuration
	if e.cfg.smoke {
		rate, d = psaSyncRate/2, e.cfg.duration
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	synced, err := simulators.Start(sctx, simulators.Options{Host: "127.0.0.1"})
	if err != nil {
		return Row{}, fmt.Errorf("start simulators: %w", err)
	}
	// The baseline's companies go to simulators of their own: the integration never sees them.
	direct, err := simulators.Start(sctx, simulators.Options{Host: "127.0.0.1"})
	if err != nil {
		return Row{}, fmt.Errorf("start simulators: %w", err)
	}
	for _, t := range []simulators.Tool{synced.ConnectWise, direct.ConnectWise} {
		// The tool's quota (1,000 a minute) is not what this measures; the push measurement is.
		t.Sim.SetQuota(0, time.Minute)
	}
	a, err := e.newAccount(ctx, "Bench PSA sync")
	if err != nil {
		return Row{}, err
	}
	defer a.conn.Close()
	plain, err := e.newAccount(ctx, "Bench PSA direct")
	if err != nil {
		return Row{}, err
	}
	defer plain.conn.Close()
	cw, err := connectWiseOf(synced)
	if err != nil {
		return Row{}, err
	}
	// ConnectWise's default budget has no concurrency limit; its 1,000 a minute would throttle
	// 20 creates/s, and the budget is not what this measures.
	integ, err := e.connectWithBudget(ctx, a, cw, pushBudget{requests: 100000, window: time.Minute})
	if err != nil {
		return Row{}, err
	}
	defer e.disconnect(ctx, a, integ)
	if err := e.syncTwoWay(ctx, a, integ); err != nil {
		return Row{}, err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	api, err := connectWiseAPI(ctx, client, direct.ConnectWise.URL)
	if err != nil {
		return Row{}, err
	}

	var runErr error
	sys, base := e.alternate(func(round int) Result {
		r, err := e.propagation(ctx, a, synced.ConnectWise, rate, d, fmt.Sprintf("PSA sync %d", round), nil)
		runErr = errorsJoin(runErr, err)
		return r
	}, func(round int) Result {
		r, err := e.propagation(ctx, plain, direct.ConnectWise, rate, d, fmt.Sprintf("PSA direct %d", round),
			func(ctx context.Context, name string, i int) error {
				return createConnectWiseCompany(ctx, client, api, name, fmt.Sprintf("Direct%d%05d", round, i))
			})
		runErr = errorsJoin(runErr, err)
		return r
	})
	row := latencyRow(fmt.Sprintf("PSA sync: REST create to ConnectWise company at %.0f creates/s (two-way)", rate),
		"REST 200 to the simulator's write (event, sync task, budget, connector)",
		"REST 200, then the bench POSTs the company to the simulator itself", sys, base, psaSyncTarget)
	return row, runErr
}

// propagation creates organizations named prefix 00000, 00001... at rate for d, through REST
// in a, and, when push is set, calls it after each create's 200. It then waits until the tool
// has written a company of every created name and returns, per organization, the time from the
// create's 200 to that write. A name written more than once fails the run.
func (e *env) propagation(ctx context.Context, a account, tool simulators.Tool, rate float64, d time.Duration, prefix string,
	push func(ctx context.Context, name string, i int) error) (Result, error) {
	var mu sync.Mutex
	done := map[string]time.Time{}
	errs := 0
	var firstErr error
	// paced's index is not unique: its goroutines read the loop variable the loop goes on
	// advancing, and a name created twice is refused (409).
	var next atomic.Int64
	start := time.Now()
	paced(rate, d, func(int) {
		i := int(next.Add(1) - 1)
		name := fmt.Sprintf("%s %05d", prefix, i)
		err := e.rest(ctx, "POST", "/v1/accounts/"+a.id+"/organizations", a.key, fmt.Sprintf(`{"name":%q}`, name), nil)
		at := time.Now()
		if err == nil && push != nil {
			err = push(ctx, name, i)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs++
			firstErr = cmp.Or(firstErr, err)
			return
		}
		done[name] = at
	})
	elapsed := time.Since(start)
	if errs > 0 {
		fmt.Fprintf(os.Stderr, "bench: psasync: %d of the creates of %q failed, the first: %v\n", errs, prefix, firstErr)
	}
	var creates map[string][]simkit.Write
	err := waitFor(ctx, psaSyncTail, fmt.Sprintf("the companies of %q in the simulator", prefix), func() (bool, string, error) {
		creates = createsOf(tool.Sim.Writes(), done)
		return len(creates) == len(done), fmt.Sprintf("%d of %d written", len(creates), len(done)), nil
	})
	if err != nil {
		return Result{Errors: errs + len(done) - len(creates)}, err
	}
	lat := make([]time.Duration, 0, len(done))
	for name, at := range done {
		if w := creates[name]; len(w) != 1 {
			return Result{Errors: errs + 1}, fmt.Errorf("%q was created %d times in the simulator, want once", name, len(w))
		}
		lat = append(lat, creates[name][0].At.Sub(at))
	}
	return summarize(lat, errs, elapsed), nil
}

// pushRun is one burst pushed under the budget.
type pushRun struct {
	elapsed     time.Duration // from the bulk create's 200 to the last company's write
	requests    int           // requests the simulator served meanwhile
	refused     int           // of them answered 429 (quota)
	maxInWindow int           // the most the simulator accepted inside one budget window
	others      int           // writes besides the one create per organization
	// burst is how many companies were written in the first budget window, and over what time:
	// Orgplane's own pace while the budget still had room.
	burst     int
	burstSpan time.Duration
}

// psaPushThroughput pushes n organizations, created by one bulk create, to the ConnectWise
// simulator under a small rate budget, with the simulator's quota set to the same budget (a
// request beyond it would be answered 429 and counted as refused), and compares the time with
// the least the budget allows for the requests made.
func (e *env) psaPushThroughput(ctx context.Context) (Row, error) {
	n, b := 600, pushBudget{requests: 300, window: 10 * time.Second, concurrency: 3}
	if e.cfg.smoke {
		n, b = 50, pushBudget{requests: 40, window: 2 * time.Second, concurrency: 3}
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	sims, err := simulators.Start(sctx, simulators.Options{Host: "127.0.0.1"})
	if err != nil {
		return Row{}, fmt.Errorf("start simulators: %w", err)
	}
	cw, err := connectWiseOf(sims)
	if err != nil {
		return Row{}, err
	}
	a, err := e.newAccount(ctx, "Bench PSA push")
	if err != nil {
		return Row{}, err
	}
	defer a.conn.Close()
	integ, err := e.connectWithBudget(ctx, a, cw, b)
	if err != nil {
		return Row{}, err
	}
	defer e.disconnect(ctx, a, integ)
	if err := e.syncTwoWay(ctx, a, integ); err != nil {
		return Row{}, err
	}
	// 20 ms a request, as in the refresh scenario: with 3 at once Orgplane could make at most
	// 150 a second, so the concurrency limit, too, must leave the budget to be the limit.
	cw.tool.Sim.Faults.SetLatency(refreshLatency)

	var runs []pushRun
	for round := range e.cfg.rounds {
		r, err := e.pushRound(ctx, a, integ, cw.tool, b, n, round)
		if err != nil {
			return Row{}, fmt.Errorf("round %d: %w", round+1, err)
		}
		runs = append(runs, r)
	}

	var sys, base []Result
	var requests, bursts []float64
	refused, others, minInWindow := 0, 0, b.requests
	for _, r := range runs {
		sys = append(sys, timed(n, r.elapsed))
		base = append(base, timed(n, b.floor(r.requests)))
		requests = append(requests, float64(r.requests))
		if r.burstSpan > 0 {
			bursts = append(bursts, float64(r.burst-1)/r.burstSpan.Seconds())
		}
		refused += r.refused
		others += r.others
		minInWindow = min(minInWindow, r.maxInWindow)
	}
	sysRes, baseRes := median(sys), median(base)
	q := medianFloat(requests)
	sysLabel := fmt.Sprintf("bulk create's 200 to the last company written (%.0f requests, %.1f per push, %.1f requests/s; "+
		"first window %.0f pushes/s; most in one %s window %d; refused %d; other writes %d)",
		q, q/float64(n), q/sysRes.Elapsed.Seconds(), medianFloat(bursts), b.window, minInWindow, refused, others)
	baseLabel := fmt.Sprintf("budget floor: %.0f requests at %d per %s (%.0f requests/s), %d at once", q, b.requests, b.window,
		b.perSecond(), b.concurrency)
	row := timeRow(fmt.Sprintf("PSA sync: push of %d organizations (one bulk create) to ConnectWise under a budget of %d requests per %s",
		n, b.requests, b.window), sysLabel, baseLabel, sysRes, baseRes, "time vs budget floor")
	row.Target = fmt.Sprintf("none refused, each pushed once, a full window (%d) used", b.requests)
	row.Met = refused == 0 && others == 0 && minInWindow >= b.requests
	return row, nil
}

// pushRound waits until the budget has nothing counted, starts the simulator's quota and
// accounting afresh, bulk creates n organizations and waits until each is a company in the
// simulator. Every organization must be created exactly once.
func (e *env) pushRound(ctx context.Context, a account, integrationID string, tool simulators.Tool, b pushBudget, n, round int) (pushRun, error) {
	// Both sides start from an empty window, so the floor is exact. Orgplane counts a spend a
	// little longer than the window (see docs/benchmarks.md), so this waits for its own count.
	if err := waitFor(ctx, 2*b.window+time.Minute, "the budget to empty", func() (bool, string, error) {
		var in struct {
			Budget struct {
				Used int `json:"used"`
			} `json:"budget"`
		}
		if err := e.rest(ctx, "GET", "/v1/accounts/"+a.id+"/integrations/"+integrationID, a.key, "", &in); err != nil {
			return false, "", err
		}
		return in.Budget.Used == 0, fmt.Sprintf("%d requests counted", in.Budget.Used), nil
	}); err != nil {
		return pushRun{}, err
	}
	tool.Sim.SetQuota(b.requests, b.window)
	tool.Sim.Acct.Reset()
	tool.Sim.ResetWrites()

	want := make(map[string]time.Time, n)
	orgs := make([]map[string]string, n)
	for i := range orgs {
		name := fmt.Sprintf("PSA push %d %05d", round, i)
		orgs[i], want[name] = map[string]string{"name": name}, time.Time{}
	}
	body, err := json.Marshal(map[string]any{"organizations": orgs, "requestId": uuid.NewString()})
	if err != nil {
		return pushRun{}, err
	}
	if err := e.rest(ctx, "POST", "/v1/accounts/"+a.id+"/organizations:bulkCreate", a.key, string(body), nil); err != nil {
		return pushRun{}, fmt.Errorf("bulk create: %w", err)
	}
	created := time.Now()
	deadline := time.Minute + 3*time.Duration(2*n/b.requests+1)*b.window
	var creates map[string][]simkit.Write
	if err := waitFor(ctx, deadline, "every organization in the simulator", func() (bool, string, error) {
		creates = createsOf(tool.Sim.Writes(), want)
		return len(creates) == n, fmt.Sprintf("%d of %d written", len(creates), n), nil
	}); err != nil {
		return pushRun{}, err
	}
	stats := tool.Sim.Acct.Snapshot()
	// A create retried after its outcome went unrecorded would be a second write shortly after.
	time.Sleep(time.Second)
	writes := tool.Sim.Writes()
	creates = createsOf(writes, want)
	r := pushRun{requests: stats.Total, refused: stats.Refused, maxInWindow: stats.MaxInWindow, others: len(writes) - n}
	var at []time.Time
	for name, w := range creates {
		if len(w) != 1 {
			return r, fmt.Errorf("%q was created %d times in the simulator, want once", name, len(w))
		}
		at = append(at, w[0].At)
	}
	slices.SortFunc(at, func(x, y time.Time) int { return x.Compare(y) })
	r.elapsed = at[len(at)-1].Sub(created)
	for _, t := range at {
		if t.Sub(at[0]) < b.window {
			r.burst++
			r.burstSpan = t.Sub(at[0])
		}
	}
	return r, nil
}

// createsOf groups the tool's create writes of the names in want by name.
func createsOf(writes []simkit.Write, want map[string]time.Time) map[string][]simkit.Write {
	out := make(map[string][]simkit.Write, len(want))
	for _, w := range writes {
		if _, ok := want[w.Name]; ok && w.Action == "create" {
			out[w.Name] = append(out[w.Name], w)
		}
	}
	return out
}

// connectWiseOf is the ConnectWise simulator of sims as the bench connects it.
func connectWiseOf(sims *simulators.Set) (refreshVendor, error) {
	for _, v := range benchVendors(sims) {
		if v.kind == "connectwise" {
			return v, nil
		}
	}
	return refreshVendor{}, fmt.Errorf("no ConnectWise among the bench's vendors")
}

// connectWithBudget creates the vendor's integration with budget b and waits out the full
// refresh the scheduler starts for a new integration (the tool holds no company yet).
func (e *env) connectWithBudget(ctx context.Context, a account, v refreshVendor, b pushBudget) (string, error) {
	creds, err := json.Marshal(v.credentials)
	if err != nil {
		return "", err
	}
	body := fmt.Sprintf(`{"kind":%q,"displayName":%q,"endpoint":%q,"credentials":%s,"budgetPolicy":%s}`,
		v.kind, "Bench PSA sync "+v.title, v.tool.URL, creds, b.json())
	var integ struct {
		ID string `json:"id"`
	}
	if err := e.rest(ctx, "POST", "/v1/accounts/"+a.id+"/integrations", a.key, body, &integ); err != nil {
		return "", fmt.Errorf("create %s integration: %w", v.kind, err)
	}
	_, op, err := e.timeRefresh(ctx, a, v, integ.ID)
	if err != nil {
		return integ.ID, fmt.Errorf("refresh %s: %w", v.kind, err)
	}
	if op.Progress.ItemsDone != 0 {
		return integ.ID, fmt.Errorf("refresh of %s read %d companies, want none", v.kind, op.Progress.ItemsDone)
	}
	return integ.ID, nil
}

// disconnect deletes an integration once its measurement is over, so that nothing refreshes or
// syncs against a simulator that is gone while later scenarios run.
func (e *env) disconnect(ctx context.Context, a account, integrationID string) {
	if err := e.rest(context.WithoutCancel(ctx), "DELETE", "/v1/accounts/"+a.id+"/integrations/"+integrationID, a.key, "", nil); err != nil {
		fmt.Fprintf(os.Stderr, "bench: psasync: delete integration %s: %v\n", integrationID, err)
	}
}

// syncTwoWay turns two-way sync on for the integration, with the empty scope (everything).
func (e *env) syncTwoWay(ctx context.Context, a account, integrationID string) error {
	var s struct {
		Direction string `json:"direction"`
	}
	if err := e.rest(ctx, "PUT", "/v1/accounts/"+a.id+"/integrations/"+integrationID+"/syncSettings", a.key,
		`{"direction":"SYNC_DIRECTION_TWO_WAY"}`, &s); err != nil {
		return fmt.Errorf("turn two-way sync on: %w", err)
	}
	if s.Direction != "SYNC_DIRECTION_TWO_WAY" {
		return fmt.Errorf("turn two-way sync on: the integration answered direction %q", s.Direction)
	}
	return nil
}

// connectWiseAPI discovers the simulated tenant's API base ("…/v4_6_release/apis/3.0/") as
// the connector does, once, so the baseline's creates are one request each.
func connectWiseAPI(ctx context.Context, c *http.Client, root string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, root+"/login/companyinfo/"+simulators.ConnectWiseCompanyID, nil)
	if err != nil {
		return "", err
	}
	var info struct {
		Codebase string `json:"Codebase"`
	}
	if _, err := getJSON(c, req, &info); err != nil {
		return "", err
	}
	return root + "/" + strings.Trim(info.Codebase, "/") + "/apis/3.0/", nil
}

// createConnectWiseCompany is a plain client's create in ConnectWise's wire format.
func createConnectWiseCompany(ctx context.Context, c *http.Client, api, name, identifier string) error {
	body, err := json.Marshal(map[string]any{"name": name, "identifier": identifier,
		"types": []map[string]int64{{"id": connectWiseClientType}}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"company/companies", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(simulators.ConnectWiseCompanyID+"+"+simulators.ConnectWisePublicKey, simulators.ConnectWisePrivateKey)
	req.Header.Set("clientId", simulators.ConnectWiseClientID)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %d", req.URL.Path, resp.StatusCode)
	}
	return nil
}

func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
