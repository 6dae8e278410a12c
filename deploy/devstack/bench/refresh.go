package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orgplane/orgplane/deploy/simulators"
	"github.com/orgplane/orgplane/deploy/simulators/simkit"
)

// refreshLatency is the simulators' per-request time during the refresh scenario. A fixed,
// realistic delay makes the vendor floor (pages x latency) stable from machine to machine, so the
// figure that moves is what Orgplane adds on top of the vendor.
const refreshLatency = 20 * time.Millisecond

// refreshBudget is generous so the scenario measures the refresh, not the vendor's rate limit.
const refreshBudget = `{"requests":100000,"window":"60s","concurrency":3}`

// refreshVendor is one simulated tool, how Orgplane connects to it and how a plain client pages it.
type refreshVendor struct {
	kind, title string
	tool        simulators.Tool
	pageSize    int
	credentials map[string]string
	// plain pages through every company in the vendor's wire format and returns how many it read.
	plain func(ctx context.Context, c *http.Client, base string) (int, error)
}

// refreshOperation is the part of an Operation the scenario reads.
type refreshOperation struct {
	ID       string `json:"id"`
	Mode     string `json:"mode"`
	State    string `json:"state"`
	Progress struct {
		PagesDone int `json:"pagesDone"`
		ItemsDone int `json:"itemsDone"`
	} `json:"progress"`
	Result struct {
		Created   int `json:"created"`
		Changed   int `json:"changed"`
		Orphaned  int `json:"orphaned"`
		Unchanged int `json:"unchanged"`
	} `json:"result"`
	Error *struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
	CreateTime time.Time  `json:"createTime"`
	EndTime    *time.Time `json:"endTime"`
}

// refreshRun is one timed refresh.
type refreshRun struct {
	total    time.Duration // from the POST (or the operation's creation, if it was already running) to its end
	op       time.Duration // the operation's own create -> end
	requests int           // requests the simulator served meanwhile
}

func (e *env) refreshScenario(ctx context.Context) ([]Row, error) {
	n := 10000
	if e.cfg.smoke {
		n = 1000
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	sims, err := simulators.Start(sctx, simulators.Options{Host: "127.0.0.1"})
	if err != nil {
		return nil, fmt.Errorf("start simulators: %w", err)
	}
	vendors := []refreshVendor{
		{kind: "itglue", title: "IT Glue", tool: sims.ITGlue, pageSize: 1000,
			credentials: map[string]string{"apiKey": simulators.ITGlueAPIKey}, plain: plainITGlue},
		{kind: "connectwise", title: "ConnectWise", tool: sims.ConnectWise, pageSize: 1000,
			credentials: map[string]string{"site": "api-na.myconnectwise.net", "companyId": simulators.ConnectWiseCompanyID,
				"publicKey": simulators.ConnectWisePublicKey, "privateKey": simulators.ConnectWisePrivateKey,
				"clientId": simulators.ConnectWiseClientID}, plain: plainConnectWise},
		{kind: "autotask", title: "Autotask", tool: sims.Autotask, pageSize: 500,
			credentials: map[string]string{"apiUser": simulators.AutotaskAPIUser, "secret": simulators.AutotaskSecret,
				"integrationCode": simulators.AutotaskIntegrationCode}, plain: plainAutotask},
	}
	a, err := e.newAccount(ctx, "Bench refresh")
	if err != nil {
		return nil, err
	}
	defer a.conn.Close()
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()

	var rows []Row
	for _, v := range vendors {
		names := simkit.BaseNames(n, 13)
		for i, name := range names {
			v.tool.Sim.Store.Add(simkit.Company{Name: name, Identifier: fmt.Sprintf("BENCH%05d", i+1), Active: true})
		}
		v.tool.Sim.Faults.SetLatency(refreshLatency)
		pages := (n + v.pageSize - 1) / v.pageSize
		floor := time.Duration(pages) * refreshLatency

		var cold, warm, plain []Result
		var coldOps, warmOps []time.Duration
		var coldReq, warmReq, plainReq int
		for round := range e.cfg.rounds {
			c, w, err := e.orgplaneRefresh(ctx, a, v, n, round)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", v.kind, err)
			}
			cold, warm = append(cold, timed(n, c.total)), append(warm, timed(n, w.total))
			coldOps, warmOps = append(coldOps, c.op), append(warmOps, w.op)
			coldReq, warmReq = c.requests, w.requests

			before := v.tool.Sim.Acct.Snapshot().Total
			start := time.Now()
			read, err := v.plain(ctx, client, v.tool.URL)
			el := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("%s: plain paging loop: %w", v.kind, err)
			}
			if read != n {
				return nil, fmt.Errorf("%s: plain paging loop read %d companies, want %d", v.kind, read, n)
			}
			plainReq = v.tool.Sim.Acct.Snapshot().Total - before
			plain = append(plain, timed(n, el))
		}
		v.tool.Sim.Faults.SetLatency(0)

		floorRes := timed(n, floor)
		plainRes := median(plain)
		floorLabel := fmt.Sprintf("floor: %d pages x %s", pages, ms(refreshLatency))
		plainLabel := fmt.Sprintf("plain paging loop (%d requests)", plainReq)
		coldLabel := fmt.Sprintf("refresh, empty cache (%d requests; operation create-end %s)", coldReq, ms(medianDuration(coldOps)))
		warmLabel := fmt.Sprintf("full refresh, all unchanged (%d requests; operation create-end %s)", warmReq, ms(medianDuration(warmOps)))
		coldRes, warmRes := median(cold), median(warm)
		name := fmt.Sprintf("refresh of %d %s companies", n, v.title)
		rows = append(rows,
			timeRow(name+", first (cache empty) vs floor", coldLabel, floorLabel, coldRes, floorRes, "time vs floor"),
			timeRow(name+", first (cache empty) vs plain loop", coldLabel, plainLabel, coldRes, plainRes, "time vs plain loop"),
			timeRow(name+", again (cache full) vs plain loop", warmLabel, plainLabel, warmRes, plainRes, "time vs plain loop"),
		)
	}
	return rows, nil
}

// orgplaneRefresh connects the vendor to the account through the API, runs a first full
// refresh (every company new) and a second (every company unchanged), checks what each cached,
// and deletes the integration so the scheduler leaves later measurements alone.
func (e *env) orgplaneRefresh(ctx context.Context, a account, v refreshVendor, n, round int) (cold, warm refreshRun, err error) {
	creds, err := json.Marshal(v.credentials)
	if err != nil {
		return cold, warm, err
	}
	body := fmt.Sprintf(`{"kind":%q,"displayName":%q,"endpoint":%q,"credentials":%s,"budgetPolicy":%s}`,
		v.kind, fmt.Sprintf("Bench %s %d", v.title, round), v.tool.URL, creds, refreshBudget)
	var integ struct {
		ID string `json:"id"`
	}
	base := "/v1/accounts/" + a.id
	if err := e.rest(ctx, "POST", base+"/integrations", a.key, body, &integ); err != nil {
		return cold, warm, fmt.Errorf("create integration: %w", err)
	}
	defer func() {
		if derr := e.rest(context.WithoutCancel(ctx), "DELETE", base+"/integrations/"+integ.ID, a.key, "", nil); derr != nil && err == nil {
			err = fmt.Errorf("delete integration: %w", derr)
		}
	}()
	cold, op, err := e.timeRefresh(ctx, a, v, integ.ID)
	if err != nil {
		return cold, warm, fmt.Errorf("first refresh: %w", err)
	}
	if op.Progress.ItemsDone != n || op.Result.Created != n {
		return cold, warm, fmt.Errorf("first refresh read %d and created %d companies, want %d", op.Progress.ItemsDone, op.Result.Created, n)
	}
	if err := e.checkCache(ctx, a, integ.ID, n); err != nil {
		return cold, warm, fmt.Errorf("after the first refresh: %w", err)
	}
	warm, op, err = e.timeRefresh(ctx, a, v, integ.ID)
	if err != nil {
		return cold, warm, fmt.Errorf("second refresh: %w", err)
	}
	if op.Progress.ItemsDone != n || op.Result.Unchanged != n {
		return cold, warm, fmt.Errorf("second refresh read %d companies, %d unchanged (%d created, %d changed), want %d",
			op.Progress.ItemsDone, op.Result.Unchanged, op.Result.Created, op.Result.Changed, n)
	}
	if err := e.checkCache(ctx, a, integ.ID, n); err != nil {
		return cold, warm, fmt.Errorf("after the second refresh: %w", err)
	}
	return cold, warm, nil
}

// checkCache reads the integration's cached count: the operation's counters are the worker's
// own tally, this is what the cache holds.
func (e *env) checkCache(ctx context.Context, a account, integrationID string, n int) error {
	var cached struct {
		Count   int `json:"externalOrganizationCount"`
		Orphans int `json:"orphanCount"`
	}
	if err := e.rest(ctx, "GET", "/v1/accounts/"+a.id+"/integrations/"+integrationID, a.key, "", &cached); err != nil {
		return fmt.Errorf("read integration: %w", err)
	}
	if cached.Count != n || cached.Orphans != 0 {
		return fmt.Errorf("the cache holds %d companies (%d orphaned), want %d and none orphaned", cached.Count, cached.Orphans, n)
	}
	return nil
}

// timeRefresh asks for a full refresh and waits for it to succeed. The scheduler starts a full
// refresh of a new integration on its own, and asking then returns that one: a running full
// refresh is timed from its creation; anything else (an incremental one) is waited out first.
func (e *env) timeRefresh(ctx context.Context, a account, v refreshVendor, integrationID string) (refreshRun, refreshOperation, error) {
	base := "/v1/accounts/" + a.id
	for range 5 {
		before := v.tool.Sim.Acct.Snapshot().Total
		posted := time.Now()
		var op refreshOperation
		if err := e.rest(ctx, "POST", base+"/integrations/"+integrationID+":refresh", a.key, `{"mode":"REFRESH_MODE_FULL"}`, &op); err != nil {
			return refreshRun{}, op, err
		}
		op, err := e.waitRefresh(ctx, a, op)
		if err != nil {
			return refreshRun{}, op, err
		}
		if op.Mode != "REFRESH_MODE_FULL" {
			continue
		}
		start := posted
		if op.CreateTime.Before(start) {
			start = op.CreateTime
		}
		return refreshRun{total: op.EndTime.Sub(start), op: op.EndTime.Sub(op.CreateTime),
			requests: v.tool.Sim.Acct.Snapshot().Total - before}, op, nil
	}
	return refreshRun{}, refreshOperation{}, fmt.Errorf("no full refresh of %s ran", integrationID)
}

func (e *env) waitRefresh(ctx context.Context, a account, op refreshOperation) (refreshOperation, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for op.State == "OPERATION_STATE_RUNNING" {
		if time.Now().After(deadline) {
			return op, fmt.Errorf("operation %s still running after 5 minutes (%d pages done)", op.ID, op.Progress.PagesDone)
		}
		time.Sleep(20 * time.Millisecond)
		if err := e.rest(ctx, "GET", "/v1/accounts/"+a.id+"/operations/"+op.ID, a.key, "", &op); err != nil {
			return op, err
		}
	}
	if op.State != "OPERATION_STATE_SUCCEEDED" || op.EndTime == nil {
		msg := ""
		if op.Error != nil {
			msg = op.Error.Reason + ": " + op.Error.Message
		}
		return op, fmt.Errorf("operation %s ended %s %s", op.ID, op.State, msg)
	}
	return op, nil
}

// timed is a single timed run of n items, in the shape the report prints (bulk does the same).
func timed(n int, el time.Duration) Result {
	r := Result{Ops: n, Elapsed: el, P50: el, P95: el, P99: el}
	if el > 0 {
		r.Throughput = float64(n) / el.Seconds()
	}
	return r
}

// timeRow compares run times: the ratio is Orgplane's time over the baseline's (1 is as fast,
// 2 twice as slow). The issue sets no target for it; the row is a report.
func timeRow(name, system, baseline string, sys, base Result, of string) Row {
	ratio := 0.0
	if base.Elapsed > 0 {
		ratio = float64(sys.Elapsed) / float64(base.Elapsed)
	}
	return Row{Scenario: name, System: system, Baseline: baseline, Sys: sys, Base: base, Ratio: ratio,
		RatioOf: of, Target: "none set", Met: sys.Errors == 0}
}

func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// getJSON sends req and decodes a 200 answer into out, returning the response headers.
func getJSON(c *http.Client, req *http.Request, out any) (http.Header, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return nil, fmt.Errorf("%s %s: decode: %w", req.Method, req.URL.Path, err)
	}
	return resp.Header, nil
}

// plainITGlue pages GET /organizations by page number, sorted by id, until meta.next-page is null.
func plainITGlue(ctx context.Context, c *http.Client, base string) (int, error) {
	read := 0
	for page := 1; ; page++ {
		q := url.Values{"page[size]": {"1000"}, "page[number]": {strconv.Itoa(page)}, "sort": {"id"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/organizations?"+q.Encode(), nil)
		if err != nil {
			return read, err
		}
		req.Header.Set("x-api-key", simulators.ITGlueAPIKey)
		req.Header.Set("Accept", "application/vnd.api+json")
		var doc struct {
			Data []struct {
				ID         string `json:"id"`
				Attributes struct {
					Name                   string    `json:"name"`
					OrganizationTypeID     int64     `json:"organization-type-id"`
					OrganizationTypeName   string    `json:"organization-type-name"`
					OrganizationStatusID   int64     `json:"organization-status-id"`
					OrganizationStatusName string    `json:"organization-status-name"`
					ParentID               *int64    `json:"parent-id"`
					UpdatedAt              time.Time `json:"updated-at"`
				} `json:"attributes"`
			} `json:"data"`
			Meta struct {
				NextPage *int `json:"next-page"`
			} `json:"meta"`
		}
		if _, err := getJSON(c, req, &doc); err != nil {
			return read, err
		}
		read += len(doc.Data)
		if doc.Meta.NextPage == nil {
			return read, nil
		}
	}
}

// plainConnectWise discovers the codebase, then follows the Link header's rel="next" from the
// first page of companies ordered by id.
func plainConnectWise(ctx context.Context, c *http.Client, base string) (int, error) {
	auth := func(req *http.Request) {
		req.SetBasicAuth(simulators.ConnectWiseCompanyID+"+"+simulators.ConnectWisePublicKey, simulators.ConnectWisePrivateKey)
		req.Header.Set("clientId", simulators.ConnectWiseClientID)
		req.Header.Set("Accept", "application/json")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/login/companyinfo/"+simulators.ConnectWiseCompanyID, nil)
	if err != nil {
		return 0, err
	}
	var info struct {
		Codebase string `json:"Codebase"`
	}
	if _, err := getJSON(c, req, &info); err != nil {
		return 0, err
	}
	next := base + "/" + strings.Trim(info.Codebase, "/") + "/apis/3.0/company/companies?" +
		url.Values{"pageSize": {"1000"}, "orderBy": {"id asc"}, "page": {"1"}}.Encode()
	read := 0
	for next != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return read, err
		}
		auth(req)
		var list []struct {
			ID         int64  `json:"id"`
			Identifier string `json:"identifier"`
			Name       string `json:"name"`
			Status     struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			} `json:"status"`
			Types []struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			} `json:"types"`
			ParentCompany *struct {
				ID int64 `json:"id"`
			} `json:"parentCompany"`
			DeletedFlag bool `json:"deletedFlag"`
			Info        struct {
				LastUpdated time.Time `json:"lastUpdated"`
			} `json:"_info"`
		}
		h, err := getJSON(c, req, &list)
		if err != nil {
			return read, err
		}
		read += len(list)
		next = linkNext(h.Values("Link"))
	}
	return read, nil
}

// linkNext is the rel="next" target of RFC 5988 Link header values, "" when there is none.
func linkNext(values []string) string {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(part, ";")
			if ok && strings.Contains(params, `rel="next"`) {
				return strings.Trim(strings.TrimSpace(target), "<>")
			}
		}
	}
	return ""
}

// plainAutotask discovers the zone, then queries companies with id greater than the last one
// read, 500 at a time, until pageDetails.nextPageUrl is null.
func plainAutotask(ctx context.Context, c *http.Client, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		base+"/atservicesrest/v1.0/ZoneInformation?user="+url.QueryEscape(simulators.AutotaskAPIUser), nil)
	if err != nil {
		return 0, err
	}
	var zone struct {
		URL string `json:"url"`
	}
	if _, err := getJSON(c, req, &zone); err != nil {
		return 0, err
	}
	api := strings.TrimSuffix(zone.URL, "/") + "/v1.0/Companies/query"
	read := 0
	var last int64
	for {
		body := fmt.Sprintf(`{"MaxRecords":500,"filter":[{"op":"gt","field":"id","value":%d}]}`, last)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, api, bytes.NewReader([]byte(body)))
		if err != nil {
			return read, err
		}
		req.Header.Set("ApiIntegrationCode", simulators.AutotaskIntegrationCode)
		req.Header.Set("UserName", simulators.AutotaskAPIUser)
		req.Header.Set("Secret", simulators.AutotaskSecret)
		req.Header.Set("Content-Type", "application/json")
		var res struct {
			Items []struct {
				ID                          int64  `json:"id"`
				CompanyName                 string `json:"companyName"`
				CompanyType                 int64  `json:"companyType"`
				IsActive                    bool   `json:"isActive"`
				ParentCompanyID             *int64 `json:"parentCompanyID"`
				LastTrackedModifiedDateTime string `json:"lastTrackedModifiedDateTime"`
			} `json:"items"`
			PageDetails struct {
				NextPageURL *string `json:"nextPageUrl"`
			} `json:"pageDetails"`
		}
		if _, err := getJSON(c, req, &res); err != nil {
			return read, err
		}
		read += len(res.Items)
		if len(res.Items) == 0 || res.PageDetails.NextPageURL == nil {
			return read, nil
		}
		last = res.Items[len(res.Items)-1].ID
	}
}
