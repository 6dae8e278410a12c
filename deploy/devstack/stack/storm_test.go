package stack_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// stormOutcomes counts the statuses a storm's requests got, per kind of request.
type stormOutcomes struct {
	mu    sync.Mutex
	codes map[string]map[int]int
	bad   []string
}

// record notes r for kind; a status outside ok (or any 5xx) is kept to fail the test with.
func (s *stormOutcomes) record(kind string, r response, ok ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codes[kind] == nil {
		s.codes[kind] = map[int]int{}
	}
	s.codes[kind][r.code]++
	for _, c := range ok {
		if r.code == c && r.code < 500 {
			return
		}
	}
	if len(s.bad) < 20 {
		s.bad = append(s.bad, fmt.Sprintf("%s: %d %s", kind, r.code, r.body))
	}
}

// Issue 12's acceptance: a concurrency storm of opposite re-parentings (A under B, B under A),
// group membership changes, review reassignments, license changes, creates and deactivations, all
// at once on one account: no 5xx, no cycle, and the counts agree afterwards (org's usage equals
// the active organizations listed, billing's limit equals org's).
func TestConcurrencyStorm(t *testing.T) {
	// Not parallel: like the license bursts, it measures contention it creates itself.
	// The storm is about locks, not the per-credential rate limit: lift it.
	w := &world{suite: startStack(t, func(o *stack.Options) {
		o.RateLimit = gatewaysvc.RateLimit{PerSecond: 1e6, Burst: 1e6}
	})}
	a := w.newMSP("Storm MSP")
	acct := "/v1/accounts/" + a.id
	sub := w.subscribed(a) // a trial of 25 licenses
	x := w.createOrg(a, a.adminKey, `{"name":"Storm A"}`)["id"].(string)
	y := w.createOrg(a, a.adminKey, `{"name":"Storm B"}`)["id"].(string)
	g1 := w.must(200, "POST", acct+"/groups", a.adminKey, `{"name":"Storm east","color":"#112233"}`)["id"].(string)
	g2 := w.must(200, "POST", acct+"/groups", a.adminKey, `{"name":"Storm west","color":"#332211"}`)["id"].(string)
	u1, _ := w.keyFor(a, "storm1@example.com", "Engineer")
	u2, _ := w.keyFor(a, "storm2@example.com", "Engineer")
	review := w.must(200, "POST", acct+"/reviews", a.adminKey, fmt.Sprintf(`{"organizationId":"%s","title":"Storm review","engineerId":"%s"}`, x, u1))["id"].(string)

	out := &stormOutcomes{codes: map[string]map[int]int{}}
	const rounds = 30
	var wg sync.WaitGroup
	move := func(org, parent string) {
		defer wg.Done()
		for range rounds {
			out.record("move", w.doQuiet("PATCH", acct+"/organizations/"+org+"?updateMask=parentId", a.adminKey, `{"parentId":"`+parent+`"}`),
				200, http.StatusConflict)
			out.record("move back", w.doQuiet("PATCH", acct+"/organizations/"+org+"?updateMask=parentId", a.adminKey, `{"parentId":""}`), 200)
		}
	}
	wg.Add(2)
	go move(x, y)
	go move(y, x)

	wg.Add(1)
	go func() { // group membership of a user and of both organizations
		defer wg.Done()
		for i := range rounds {
			groups := []string{`["` + g1 + `"]`, `["` + g1 + `","` + g2 + `"]`}[i%2]
			out.record("user groups", w.doQuiet("PATCH", acct+"/users/"+u2+"?updateMask=groupIds", a.adminKey, `{"groupIds":`+groups+`}`), 200)
			out.record("organization groups", w.doQuiet("PATCH", acct+"/organizations/"+[]string{x, y}[i%2]+"?updateMask=groupIds", a.adminKey, `{"groupIds":`+groups+`}`), 200)
		}
	}()

	wg.Add(1)
	go func() { // review reassignment back and forth
		defer wg.Done()
		for i := range rounds {
			out.record("reassign", w.doQuiet("POST", acct+"/reviews/"+review+":reassign", a.adminKey,
				fmt.Sprintf(`{"engineerId":"%s"}`, []string{u2, u1}[i%2])), 200)
		}
	}()

	wg.Add(1)
	go func() { // license changes: one license in, one out
		defer wg.Done()
		for i := range rounds {
			verb := []string{":addLicenses", ":removeLicenses"}[i%2]
			// 409: another change of the account is in progress; 400: below current use.
			out.record("licenses", w.doQuiet("POST", sub+verb, a.adminKey, `{"count":1}`), 200, http.StatusConflict, http.StatusBadRequest)
		}
	}()

	var created atomic.Int64
	for g := range 2 {
		wg.Add(1)
		go func() { // creates past the limit, and deactivations of some of them
			defer wg.Done()
			for i := range rounds {
				r := w.doQuiet("POST", acct+"/organizations", a.adminKey, fmt.Sprintf(`{"name":"Storm %d-%02d"}`, g, i))
				out.record("create", r, 200, http.StatusBadRequest)
				if r.code == http.StatusBadRequest && !strings.Contains(string(r.body), "LICENSE_LIMIT") {
					out.record("create refused for another reason", r)
				}
				if r.code == 200 {
					created.Add(1)
					if i%3 == 0 {
						out.record("deactivate", w.doQuiet("POST", acct+"/organizations/"+r.json(t)["id"].(string)+":deactivate", a.adminKey, `{}`), 200)
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("storm outcomes: %v (%d created)", out.codes, created.Load())
	if len(out.bad) > 0 {
		t.Fatalf("unexpected answers during the storm:\n%s", strings.Join(out.bad, "\n"))
	}
	if out.codes["move"][200] == 0 {
		t.Fatal("no move succeeded: the storm did not exercise re-parenting")
	}

	// No cycle: at most one of A and B is the other's parent.
	px := w.must(200, "GET", acct+"/organizations/"+x, a.adminKey, "")["parentId"]
	py := w.must(200, "GET", acct+"/organizations/"+y, a.adminKey, "")["parentId"]
	if px == y && py == x {
		t.Fatalf("A and B are each other's parent")
	}

	// The counts agree: org's usage equals the active organizations listed, within the limit
	// billing shows.
	deadline := time.Now().Add(10 * time.Second)
	for {
		active := 0
		for _, o := range w.must(200, "GET", acct+"/organizations?pageSize=1000", a.adminKey, "")["organizations"].([]any) {
			if o.(map[string]any)["state"] == "ORGANIZATION_STATE_ACTIVE" {
				active++
			}
		}
		limit, used, remaining := w.usage(a)
		subLimit := w.must(200, "GET", sub, a.adminKey, "")["organizationLimit"].(float64)
		if float64(active) == used && used <= limit && remaining == limit-used && subLimit == limit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the storm: %d active listed; usage limit %v used %v remaining %v; subscription limit %v", active, limit, used, remaining, subLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
