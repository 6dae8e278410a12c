package stack_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	billingv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/billing/v1"
)

// subscribed waits until billing has set up the account's trial (it does so on account.created)
// and returns the subscription path.
func (w *world) subscribed(a msp) string {
	w.t.Helper()
	path := "/v1/accounts/" + a.id + "/subscription"
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := w.do("GET", path, a.adminKey, "")
		if r.code == http.StatusOK {
			// The trial's limit reaches org in the same step; usage proves it is enforced.
			if u := w.do("GET", path+"/usage", a.adminKey, ""); u.code == 200 && u.json(w.t)["unlimited"] == false {
				return path
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no subscription for %s: %d %s", a.id, r.code, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) usage(a msp) (limit, used, remaining float64) {
	w.t.Helper()
	u := w.must(200, "GET", "/v1/accounts/"+a.id+"/subscription/usage", a.adminKey, "")
	return u["organizationLimit"].(float64), u["used"].(float64), u["remaining"].(float64)
}

// burst sends the requests at once and returns the status codes.
func (w *world) burst(reqs []func() response) []int {
	var wg sync.WaitGroup
	codes := make([]int, len(reqs))
	start := make(chan struct{})
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = r().code
		}()
	}
	close(start)
	wg.Wait()
	return codes
}

func count(codes []int, code int) int {
	n := 0
	for _, c := range codes {
		if c == code {
			n++
		}
	}
	return n
}

func TestConcurrentCreatesAndReactivationsNeverExceedTheLimit(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	sub := w.subscribed(a)
	// The trial allows 25; leave 10.
	w.must(200, "POST", sub+":removeLicenses", a.adminKey, `{"count":15}`)
	if limit, used, remaining := w.usage(a); limit != 10 || used != 0 || remaining != 10 {
		t.Fatalf("usage = %v %v %v", limit, used, remaining)
	}

	orgs := "/v1/accounts/" + a.id + "/organizations"
	var reqs []func() response
	var bodies sync.Map
	for i := range 50 {
		reqs = append(reqs, func() response {
			r := w.suite.doQuiet("POST", orgs, a.adminKey, fmt.Sprintf(`{"name":"Burst %02d"}`, i))
			if r.code != 200 {
				bodies.Store(i, string(r.body))
			}
			return r
		})
	}
	codes := w.burst(reqs)
	// A license refusal is 400 (FailedPrecondition), never 429: generic clients retry a 429 on
	// their own, and no retry frees a license.
	if ok, refused := count(codes, 200), count(codes, http.StatusBadRequest); ok != 10 || refused != 40 {
		t.Fatalf("50 concurrent creates with 10 licenses left: %d created, %d refused (codes %v)", ok, refused, codes)
	}
	bodies.Range(func(_, v any) bool {
		// The counts are those of the statement that refused: every refusal saw all 10 taken.
		if !strings.Contains(v.(string), "LICENSE_LIMIT") || !strings.Contains(v.(string), "10 of 10 licenses in use, 0 remaining") ||
			!strings.Contains(v.(string), "google.rpc.QuotaFailure") {
			t.Errorf("refusal does not explain the license limit: %s", v)
		}
		return true
	})
	if _, used, remaining := w.usage(a); used != 10 || remaining != 0 {
		t.Fatalf("after the burst: used %v, remaining %v", used, remaining)
	}

	// Deactivating frees licenses at once.
	list := w.must(200, "GET", orgs+"?pageSize=5", a.adminKey, "")["organizations"].([]any)
	var deactivated []string
	for _, o := range list {
		id := o.(map[string]any)["id"].(string)
		w.must(200, "POST", orgs+"/"+id+":deactivate", a.adminKey, `{}`)
		deactivated = append(deactivated, id)
	}
	if _, used, remaining := w.usage(a); used != 5 || remaining != 5 {
		t.Fatalf("after deactivating 5: used %v, remaining %v", used, remaining)
	}

	// A mix of reactivations (operator override, as the 12 months have not passed) and creates.
	reqs = nil
	for _, id := range deactivated {
		reqs = append(reqs, func() response {
			return w.suite.doQuiet("POST", orgs+"/"+id+":reactivate", operatorToken, `{"overrideCooldown":true}`)
		})
	}
	for i := range 20 {
		reqs = append(reqs, func() response {
			return w.suite.doQuiet("POST", orgs, a.adminKey, fmt.Sprintf(`{"name":"Mix %02d"}`, i))
		})
	}
	codes = w.burst(reqs)
	if ok := count(codes, 200); ok != 5 {
		t.Fatalf("5 licenses left, 25 concurrent reactivations and creates: %d succeeded (codes %v)", ok, codes)
	}
	if _, used, remaining := w.usage(a); used != 10 || remaining != 0 {
		t.Fatalf("after the mix: used %v, remaining %v", used, remaining)
	}
}

func TestSelfServiceLicenses(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	sub := w.subscribed(a)
	w.must(200, "POST", sub+":removeLicenses", a.adminKey, `{"count":23}`) // 2 left
	orgs := "/v1/accounts/" + a.id + "/organizations"
	w.createOrg(a, a.adminKey, `{"name":"One"}`)
	w.createOrg(a, a.adminKey, `{"name":"Two"}`)

	// Removing licenses below current use is refused, and changes nothing.
	r := w.do("POST", sub+":removeLicenses", a.adminKey, `{"count":1}`)
	if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "2 organizations are active") {
		t.Fatalf("remove below use: %d %s", r.code, r.body)
	}
	if limit, used, _ := w.usage(a); limit != 2 || used != 2 {
		t.Fatalf("refused removal changed the limit: %v / %v", limit, used)
	}
	if r := w.do("POST", orgs, a.adminKey, `{"name":"Three"}`); r.code != http.StatusBadRequest || r.header.Get("Retry-After") != "" ||
		!strings.Contains(string(r.body), "2 of 2 licenses in use, 0 remaining") || !strings.Contains(string(r.body), "LICENSE_LIMIT") {
		t.Fatalf("create at the limit: %d (Retry-After %q) %s, want 400 naming the counts, nothing to retry", r.code, r.header.Get("Retry-After"), r.body)
	}
	// Adding licenses takes effect at once.
	got := w.must(200, "POST", sub+":addLicenses", a.adminKey, `{"count":3}`)
	if got["organizationLimit"] != float64(5) {
		t.Fatalf("after adding 3: %v", got)
	}
	w.createOrg(a, a.adminKey, `{"name":"Three"}`)

	// Every change is recorded with who and when, and published.
	changes := w.must(200, "GET", sub+"/licenseChanges", a.adminKey, "")["changes"].([]any)
	if len(changes) != 3 {
		t.Fatalf("changes = %v", changes)
	}
	latest := changes[0].(map[string]any)
	if latest["delta"] != float64(3) || latest["organizationLimit"] != float64(5) || latest["changedBy"] != a.adminID || latest["changeTime"] == nil {
		t.Fatalf("latest change = %v", latest)
	}
	event(w, "orgplane.billing.v1.*.subscription.changed", func() *billingv1.SubscriptionChanged { return &billingv1.SubscriptionChanged{} },
		func(e *billingv1.SubscriptionChanged) bool {
			return e.GetAccountId() == a.id && e.GetLicenseDelta() == 3 && e.GetSubscription().GetOrganizationLimit() == 5
		})

	// An Engineer may read usage but not change licenses.
	_, engineer := w.keyFor(a, "eng@contoso.example", "Engineer")
	if r := w.do("POST", sub+":addLicenses", engineer, `{"count":1}`); r.code != http.StatusForbidden {
		t.Fatalf("engineer adding licenses: %d %s", r.code, r.body)
	}
}

func TestACanceledSubscriptionReadsButCannotAdd(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	sub := w.subscribed(a)
	orgs := "/v1/accounts/" + a.id + "/organizations"
	org := w.createOrg(a, a.adminKey, `{"name":"One"}`)
	w.must(200, "POST", orgs+"/"+org["id"].(string)+":deactivate", a.adminKey, `{}`)
	if r := w.do("PATCH", sub+"?updateMask=state", a.adminKey, `{"state":"SUBSCRIPTION_STATE_CANCELED"}`); r.code != http.StatusForbidden {
		t.Fatalf("a tenant canceling through the operator route: %d", r.code)
	}
	w.must(200, "PATCH", sub+"?updateMask=state", operatorToken, `{"state":"SUBSCRIPTION_STATE_CANCELED"}`)

	for _, c := range []struct{ method, path, body string }{
		{"POST", orgs, `{"name":"Two"}`},
		{"POST", orgs + "/" + org["id"].(string) + ":reactivate", `{"overrideCooldown":true}`},
	} {
		key := a.adminKey
		if strings.Contains(c.path, "reactivate") {
			key = operatorToken
		}
		if r := w.do(c.method, c.path, key, c.body); r.code != http.StatusForbidden || !strings.Contains(string(r.body), "SUBSCRIPTION_INACTIVE") {
			t.Fatalf("%s %s on a canceled subscription: %d %s", c.method, c.path, r.code, r.body)
		}
	}
	w.must(200, "GET", orgs, a.adminKey, "")
	if u := w.must(200, "GET", sub+"/usage", a.adminKey, ""); u["canAddOrganizations"] != false {
		t.Fatalf("usage = %v", u)
	}
	w.must(200, "PATCH", sub+"?updateMask=state", operatorToken, `{"state":"SUBSCRIPTION_STATE_ACTIVE"}`)
	w.createOrg(a, a.adminKey, `{"name":"Two"}`)
}

func TestUsageHistoryFollowsTheChanges(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	sub := w.subscribed(a)
	orgs := "/v1/accounts/" + a.id + "/organizations"
	day := func() string { return w.clock.Now().Format("2006-01-02") }

	first := day() // 2026-01-15: three organizations
	var ids []string
	for _, n := range []string{"One", "Two", "Three"} {
		ids = append(ids, w.createOrg(a, a.adminKey, `{"name":"`+n+`"}`)["id"].(string))
	}
	w.clock.advanceDays(1) // 01-16: one deactivated, one created, one deactivated: peak 3, end 2
	w.must(200, "POST", orgs+"/"+ids[0]+":deactivate", a.adminKey, `{}`)
	w.createOrg(a, a.adminKey, `{"name":"Four"}`)
	w.must(200, "POST", orgs+"/"+ids[1]+":deactivate", a.adminKey, `{}`)
	w.clock.advanceDays(2) // 01-18: one deleted
	w.must(200, "DELETE", orgs+"/"+ids[2], a.adminKey, "")
	last := day()

	want := "2026-01-14:0/0 2026-01-15:3/3 2026-01-16:2/3 2026-01-17:2/2 2026-01-18:1/2"
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := w.must(200, "GET", sub+"/usageHistory?startDate=2026-01-14&endDate="+last, a.adminKey, "")
		var got []string
		for _, d := range h["days"].([]any) {
			m := d.(map[string]any)
			got = append(got, fmt.Sprintf("%s:%v/%v", m["date"], m["activeOrganizations"], m["peakActiveOrganizations"]))
		}
		if strings.Join(got, " ") == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage history %v (first day %s), want %s", got, first, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := w.do("GET", sub+"/usageHistory?startDate=2026-02-01&endDate=2026-01-01", a.adminKey, ""); r.code != 400 || !strings.Contains(string(r.body), `"field":"endDate"`) {
		t.Fatalf("reversed range: %d %s", r.code, r.body)
	}
}
