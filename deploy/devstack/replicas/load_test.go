package replicas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// api calls the gateway's REST API and counts every answer by operation and status.
type api struct {
	base   string
	client *http.Client

	mu sync.Mutex
	// statuses counts answers by operation and status ("create organization" -> 201 -> n);
	// -1 is a transport error.
	statuses map[string]map[int]int
	// unexpected are answers no retry policy accepts: any 5xx but 503, or a refusal the call
	// could not have earned.
	unexpected []string
}

func newAPI(base string) *api {
	return &api{base: base, client: &http.Client{Timeout: 60 * time.Second}, statuses: map[string]map[int]int{}}
}

// call sends one request and records its answer.
func (a *api) call(op, method, path, key string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(b)
	}
	code, out := -1, []byte(nil)
	req, err := http.NewRequest(method, a.base+path, rd)
	if err == nil {
		req.Header.Set("Authorization", "Bearer "+key)
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		var resp *http.Response
		if resp, err = a.client.Do(req); err == nil {
			out, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		}
	}
	if err != nil {
		out = []byte(err.Error())
	}
	a.mu.Lock()
	if a.statuses[op] == nil {
		a.statuses[op] = map[int]int{}
	}
	a.statuses[op][code]++
	if code >= 500 && code != http.StatusServiceUnavailable || code == -1 {
		a.unexpected = append(a.unexpected, fmt.Sprintf("%s %s %s: %d %s", op, method, path, code, out))
	}
	a.mu.Unlock()
	return code, out
}

// retrying is call, repeated while the answer is 503 (a replica went away mid-call, or the
// service had none ready): the retry policy a client of a replicated API has. retried reports
// whether an earlier attempt may have taken effect.
func (a *api) retrying(op, method, path, key string, body any) (code int, out []byte, retried bool) {
	for attempt := 0; ; attempt++ {
		code, out = a.call(op, method, path, key, body)
		if code != http.StatusServiceUnavailable || attempt == 100 {
			return code, out, attempt > 0
		}
		time.Sleep(time.Duration(100+rand.IntN(200)) * time.Millisecond)
	}
}

// refused records an answer the load did not expect.
func (a *api) refused(op string, code int, body []byte) {
	a.mu.Lock()
	a.unexpected = append(a.unexpected, fmt.Sprintf("%s: unexpected %d %s", op, code, body))
	a.mu.Unlock()
}

// must calls once and requires want (setup steps, outside the kills).
func (a *api) must(t *testing.T, want int, method, path, key string, body any) map[string]any {
	t.Helper()
	code, out, _ := a.retrying("setup", method, path, key, body)
	if code != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, out)
	}
	var m map[string]any
	if len(out) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, out)
		}
	}
	return m
}

// summary prints the answers per operation, e.g. "create organization: 200×412 503×3".
func (a *api) summary() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for op, byCode := range a.statuses {
		codes := make([]int, 0, len(byCode))
		for c := range byCode {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d×%d", c, byCode[c]))
		}
		out = append(out, fmt.Sprintf("%-28s %s", op+":", strings.Join(parts, " ")))
	}
	sort.Strings(out)
	return out
}

// world is the account the load writes to, with what it needs set up.
type world struct {
	account, key string
	engineers    []string // user ids
	itglue       string   // the IT Glue integration (mapping target)
	externals    []string
	connectwise  string // the budget-pressed ConnectWise integration
}

// org is an organization the load created and was told so (or found after a retry).
type org struct{ id, name string }

// reassignment is a review's engineer change the API acknowledged.
type reassignment struct{ review, engineer string }

// load is the write traffic of the test: what was asked and what was acknowledged.
type load struct {
	api  *api
	w    *world
	db   *pgxpool.Pool
	stop chan struct{}
	wg   sync.WaitGroup

	mu          sync.Mutex
	orgs        []org // top-level, acknowledged
	subs        []org
	updates     int
	renamed     map[string]string // id -> new name
	reviews     []string
	reassigned  []reassignment
	linked      map[string]string // organization id -> IT Glue external id
	linkPending map[string]bool   // top-level organizations the mapper has taken
	tests       int
}

func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *load) acct() string { return "/v1/accounts/" + l.w.account }

// orgID finds an organization by name in org's own table: an earlier attempt of a create
// answered 503 committed, and the retry was refused as a duplicate name.
func (l *load) orgID(name string) string {
	var id string
	_ = l.db.QueryRow(context.Background(), `SELECT id::text FROM org.organizations WHERE account_id = $1 AND name = $2`,
		l.w.account, name).Scan(&id)
	return id
}

func (l *load) createOrg(name, parent string) string {
	body := map[string]any{"name": name}
	op := "create organization"
	if parent != "" {
		body["parentId"] = parent
		op = "create sub-organization"
	}
	code, out, retried := l.api.retrying(op, "POST", l.acct()+"/organizations", l.w.key, body)
	switch {
	case code == http.StatusOK:
		var o struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(out, &o)
		return o.ID
	case code == http.StatusConflict && retried:
		if id := l.orgID(name); id != "" {
			return id
		}
	}
	l.api.refused(op+" "+name, code, out)
	return ""
}

// orgWorker creates organizations, a sub-organization of every second one, and updates each.
func (l *load) orgWorker(w int) {
	defer l.wg.Done()
	for seq := 1; !l.stopped(); seq++ {
		name := fmt.Sprintf("Replica Client %d-%04d", w, seq)
		id := l.createOrg(name, "")
		if id == "" {
			continue
		}
		l.mu.Lock()
		l.orgs = append(l.orgs, org{id, name})
		l.mu.Unlock()
		if seq%2 == 0 {
			if sub := l.createOrg(name+" Branch", id); sub != "" {
				l.mu.Lock()
				l.subs = append(l.subs, org{sub, name + " Branch"})
				l.mu.Unlock()
			}
		}
		path := l.acct() + "/organizations/" + id
		code, out, _ := l.api.retrying("update organization", "PATCH", path+"?updateMask=notes", l.w.key,
			map[string]any{"notes": fmt.Sprintf("revision %d", seq)})
		if code != http.StatusOK {
			l.api.refused("update organization", code, out)
		} else {
			l.mu.Lock()
			l.updates++
			l.mu.Unlock()
		}
		if seq%3 == 0 {
			renamed := name + " (renamed)"
			code, out, _ := l.api.retrying("rename organization", "PATCH", path+"?updateMask=name", l.w.key, map[string]any{"name": renamed})
			if code != http.StatusOK {
				l.api.refused("rename organization", code, out)
			} else {
				l.mu.Lock()
				l.renamed[id] = renamed
				l.mu.Unlock()
			}
		}
	}
}

// reviewWorker creates reviews of the load's organizations and hands each to two engineers in
// turn: every acknowledged change of hands must notify its new engineer exactly once.
func (l *load) reviewWorker(w int) {
	defer l.wg.Done()
	for seq := 1; !l.stopped(); seq++ {
		l.mu.Lock()
		n := len(l.orgs)
		var target string
		if n > 0 {
			target = l.orgs[rand.IntN(n)].id
		}
		l.mu.Unlock()
		if target == "" {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		code, out, _ := l.api.retrying("create review", "POST", l.acct()+"/reviews", l.w.key,
			map[string]any{"organizationId": target, "title": fmt.Sprintf("Quarterly review %d-%04d", w, seq)})
		if code != http.StatusOK {
			l.api.refused("create review", code, out)
			continue
		}
		var r struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(out, &r)
		l.mu.Lock()
		l.reviews = append(l.reviews, r.ID)
		l.mu.Unlock()
		for k := range 2 {
			eng := l.w.engineers[(seq+k)%len(l.w.engineers)]
			code, out, _ := l.api.retrying("reassign review", "POST", l.acct()+"/reviews/"+r.ID+":reassign", l.w.key,
				map[string]any{"engineerId": eng})
			if code != http.StatusOK {
				l.api.refused("reassign review", code, out)
				continue
			}
			l.mu.Lock()
			l.reassigned = append(l.reassigned, reassignment{r.ID, eng})
			l.mu.Unlock()
		}
	}
}

type gridRow struct {
	OrganizationID string `json:"organizationId"`
	Version        string `json:"version"`
	Cells          []struct {
		IntegrationID          string `json:"integrationId"`
		ExternalOrganizationID string `json:"externalOrganizationId"`
	} `json:"cells"`
}

// mapper links the load's organizations, one by one, to the IT Glue organizations, through the
// Setup Organizations grid's batch save, as a person would: read the row, save with its version.
func (l *load) mapper() {
	defer l.wg.Done()
	for _, ext := range l.w.externals {
		var target org
		for !l.stopped() && target.id == "" {
			l.mu.Lock()
			for _, o := range l.orgs {
				if !l.linkPending[o.id] {
					target = o
					l.linkPending[o.id] = true
					break
				}
			}
			l.mu.Unlock()
			if target.id == "" {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if target.id == "" {
			return
		}
		if l.link(target, ext) {
			l.mu.Lock()
			l.linked[target.id] = ext
			l.mu.Unlock()
		}
	}
}

// link maps o to the IT Glue organization ext and reports whether the API acknowledged it.
// mapping learns organizations and their versions from org's events, so a row may be missing
// or newer than read for a moment: those answers (404, 409) are read again and retried.
func (l *load) link(o org, ext string) bool {
	for attempt := 0; attempt < 200; attempt++ {
		q := url.Values{"query": {strings.TrimSuffix(o.name, " (renamed)")}, "pageSize": {"10"}}
		code, out, _ := l.api.retrying("read mapping grid", "GET", l.acct()+"/mappingGrid?"+q.Encode(), l.w.key, nil)
		if code != http.StatusOK {
			l.api.refused("read mapping grid", code, out)
			return false
		}
		var g struct {
			Rows []gridRow `json:"rows"`
		}
		_ = json.Unmarshal(out, &g)
		i := slices.IndexFunc(g.Rows, func(r gridRow) bool { return r.OrganizationID == o.id })
		if i < 0 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		row := g.Rows[i]
		for _, c := range row.Cells {
			if c.IntegrationID == l.w.itglue && c.ExternalOrganizationID == ext {
				return true // an earlier attempt answered 503 but saved
			}
		}
		version, _ := strconv.ParseInt(row.Version, 10, 64)
		code, out, _ = l.api.retrying("map organization", "POST", l.acct()+"/mappings:batchSave", l.w.key, map[string]any{
			"changes": []map[string]any{{"organizationId": o.id, "version": fmt.Sprint(version), "integrationId": l.w.itglue,
				"externalOrganizationId": ext}}})
		switch code {
		case http.StatusOK:
			return true
		case http.StatusConflict, http.StatusNotFound:
			time.Sleep(100 * time.Millisecond)
		default:
			l.api.refused("map organization", code, out)
			return false
		}
	}
	l.api.refused("map organization "+o.name, 0, []byte("gave up after 200 attempts"))
	return false
}

// tester tests the ConnectWise integration's connection again and again: through the gateway's
// round robin both integration-sync replicas make these calls, all from one rate budget.
func (l *load) tester() {
	defer l.wg.Done()
	for !l.stopped() {
		code, out, _ := l.api.retrying("test connection", "POST", l.acct()+"/integrations/"+l.w.connectwise+":test", l.w.key, map[string]any{})
		if code != http.StatusOK {
			l.api.refused("test connection", code, out)
			continue
		}
		l.mu.Lock()
		l.tests++
		l.mu.Unlock()
	}
}

// startLoad runs the load's goroutines until stopLoad.
func startLoad(a *api, w *world, db *pgxpool.Pool) *load {
	l := &load{api: a, w: w, db: db, stop: make(chan struct{}), renamed: map[string]string{},
		linked: map[string]string{}, linkPending: map[string]bool{}}
	for i := range 3 {
		l.wg.Add(1)
		go l.orgWorker(i)
	}
	for i := range 2 {
		l.wg.Add(1)
		go l.reviewWorker(i)
	}
	l.wg.Add(3)
	go l.mapper()
	go l.tester()
	go l.tester()
	return l
}

// stopLoad lets every goroutine finish the write it is in (so each write's outcome is known),
// then returns.
func (l *load) stopLoad() {
	close(l.stop)
	l.wg.Wait()
}
