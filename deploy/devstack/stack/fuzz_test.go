package stack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEveryRouteNeedsACredential walks every route of the published API document without a
// credential: each must answer 401 in the error shape; only probes, documentation and the
// public routes of the protos are open.
func TestEveryRouteNeedsACredential(t *testing.T) {
	w := startWorld(t)
	b, err := os.ReadFile("../../../services/gateway/internal/openapi/orgplane.swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	// Public routes (signing in, redeeming a link: Rule.public in the protos) take no credential
	// by design; the gateway forwards them as itself, and they are refused only for what they hold.
	public := map[string]bool{}
	for _, rt := range matrixRoutes(t) {
		public[shape(rt.verb, rt.template)] = rt.public
	}
	routes := 0
	for path, methods := range doc.Paths {
		concrete := param.ReplaceAllString(path, "00000000-0000-4000-8000-000000000001")
		for method := range methods {
			routes++
			r := w.do(strings.ToUpper(method), concrete, "", "{}")
			if public[shape(method, path)] {
				if r.code == http.StatusUnauthorized || r.code == http.StatusForbidden || r.code >= 500 {
					t.Errorf("public %s %s without a credential: %d %s", strings.ToUpper(method), path, r.code, r.body)
				}
				continue
			}
			if r.code != http.StatusUnauthorized || !strings.Contains(string(r.body), `"code":16`) {
				t.Errorf("%s %s without a credential: %d %s", strings.ToUpper(method), path, r.code, r.body)
			}
		}
	}
	if routes < 30 {
		t.Fatalf("only %d routes in the document", routes)
	}
	for _, open := range []string{"/healthz", "/readyz", "/openapi.json", "/docs/", "/docs/swagger-ui-bundle.js"} {
		if r := w.do("GET", open, "", ""); r.code != http.StatusOK {
			t.Errorf("%s = %d", open, r.code)
		}
	}
	// The reference page is served whole from the gateway: no asset comes from elsewhere.
	page := string(w.do("GET", "/docs/", "", "").body)
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "/docs/") {
			t.Errorf("the reference page loads %s", m[1])
		}
	}
}

// fuzzTargets are the routes the fuzzer aims at; {a} is the account, {o} an organization.
var fuzzTargets = []struct{ method, path string }{
	{"POST", "/v1/accounts/{a}/organizations"},
	{"GET", "/v1/accounts/{a}/organizations"},
	{"PATCH", "/v1/accounts/{a}/organizations/{o}"},
	{"POST", "/v1/accounts/{a}/organizations/{o}:deactivate"},
	{"PATCH", "/v1/accounts/{a}/settings"},
	{"PUT", "/v1/accounts/{a}/logo"},
	{"POST", "/v1/accounts/{a}/users"},
	{"POST", "/v1/accounts/{a}/reviews"},
	{"POST", "/v1/accounts/{a}/subscription:addLicenses"},
	{"GET", "/v1/accounts/{a}/subscription/usageHistory"},
	{"POST", "/v1/accounts"},
}

// anyParam is a path parameter of a route taken from the document: the fuzz organization's id
// stands for every resource (a wrong kind of resource answers 404, which is fine).
var anyParam = regexp.MustCompile(`\{[^}]+\}`)

// FuzzGateway throws malformed and hostile requests at the public API: the answer is never a
// 5xx, every error has the JSON error shape, and nothing hangs.
func FuzzGateway(f *testing.F) {
	seeds := []struct {
		target      uint8
		query, body string
	}{
		{0, "", `{"name":`},                                                // malformed JSON
		{0, "", `{"name":12}`},                                             // wrong type
		{0, "", `{"name":"x","parentId":true}`},                            // wrong type
		{8, "", `{"count":99999999999999999999999999}`},                    // huge number
		{8, "", `{"count":1e400}`},                                         // huge number
		{0, "", strings.Repeat(`{"a":`, 5000) + strings.Repeat("}", 5000)}, // deep nesting
		{0, "", strings.Repeat("[", 100000)},                               // deeper nesting
		{0, "", `{"name":"Acme","unknownField":1}`},                        // unknown field
		{1, "pageToken=garbage", ""},                                       // bad page token
		{1, "pageToken=eyJuIjoiQSIsImkiOiJ4In0", ""},                       // forged page token
		{1, "pageSize=-1", ""},
		{1, "pageSize=99999999999999", ""},
		{1, "state=NOPE", ""},
		{2, "updateMask=name,nope", `{"name":"B"}`},
		{4, "updateMask=timeZone", `{"timeZone":"Mars/Olympus"}`},
		{5, "", `{"data":"` + strings.Repeat("A", 6<<20) + `"}`}, // oversized body
		{0, "", strings.Repeat(" ", 2<<20)},                      // oversized body
		{6, "", `{"email":"\ud800"}`},
		{7, "", `{"organizationId":"00000000-0000-4000-8000-000000000000","title":"t","engineerDueDate":"2026-02-31"}`},
		{9, "startDate=2026-01-01&endDate=2030-01-01", ""},
		{10, "", `{"account":{"displayName":"x"}}`},
		{0, "", "\xff\xfe\xfd"},
		{0, "", `null`},
		{0, "", `[]`},
		{3, "", `{"":""}`},
		{0, "", `{"name":"Ac\u0000me"}`}, // NUL: Postgres refuses the byte
		{0, "", `{"name":"Ac\u0085me","notes":"a\u001b[31m"}`}, // C1 and C0 controls
		{2, "updateMask=name", `{"name":"\u202eemca"}`},        // a right-to-left override
		{6, "", `{"firstName":"\u2066Ada","lastName":1}`},      // an isolate and a wrong type
		{4, "updateMask=timeZone", `{"timeZone":"right/UTC"}`}, // a non-canonical zone
		{1, "pageSize=abc", ""},                                // strconv's words
		{0, "", `{"name":[1]}`},
	}
	for _, s := range seeds {
		f.Add(s.target, s.query, []byte(s.body))
	}
	// Every string field of every route with each refused character and a wrong type; the
	// target index past the hand-picked ones walks the published document.
	targets := fuzzTargets[:len(fuzzTargets):len(fuzzTargets)]
	for i, r := range bodyRoutes(f) {
		targets = append(targets, struct{ method, path string }{r.method, r.path})
		for _, fld := range r.fields {
			for _, h := range append(hostileText[:len(hostileText):len(hostileText)], "x") {
				v, _ := json.Marshal("Ab" + h + "cd")
				f.Add(uint8(len(fuzzTargets)+i), "", []byte(bodyWith(fld, string(v))))
			}
			f.Add(uint8(len(fuzzTargets)+i), "", []byte(bodyWith(fld, wrongTypes[len(fld)%len(wrongTypes)])))
		}
	}
	w := startWorld(f)
	w.fuzzAccount = w.newMSP("Fuzz MSP")
	w.fuzzOrg = w.createOrg(w.fuzzAccount, w.fuzzAccount.adminKey, `{"name":"Fuzz target"}`)["id"].(string)
	f.Fuzz(func(t *testing.T, target uint8, query string, body []byte) {
		tgt := targets[int(target)%len(targets)]
		path := strings.NewReplacer("{a}", w.fuzzAccount.id, "{o}", w.fuzzOrg, "{accountId}", w.fuzzAccount.id).Replace(tgt.path)
		path = anyParam.ReplaceAllString(path, w.fuzzOrg)
		if query != "" {
			// The fuzzer aims at the API, not at HTTP framing: a request line Go's server cannot
			// parse never reaches a handler, so the query is re-encoded into a valid one.
			q, err := url.ParseQuery(query)
			if err != nil {
				q = url.Values{"pageToken": {query}}
			}
			path += "?" + q.Encode()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, tgt.method, w.st.GatewayURL+path, strings.NewReader(string(body)))
		if err != nil {
			return // not an HTTP request at all (a control character in the path)
		}
		req.Header.Set("Authorization", "Bearer "+w.fuzzAccount.adminKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v (a hang or a dropped connection)", tgt.method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s with %q: %d %s", tgt.method, path, truncate(body), resp.StatusCode, b)
		}
		if resp.StatusCode >= 400 {
			var st struct {
				Code    *int    `json:"code"`
				Message *string `json:"message"`
			}
			if json.Unmarshal(b, &st) != nil || st.Code == nil || st.Message == nil {
				t.Fatalf("%s %s: %d without the error shape: %s", tgt.method, path, resp.StatusCode, b)
			}
			if p := libraryTextIn(b); p != "" {
				t.Fatalf("%s %s with %q: %d in a Go library's words (%q): %s", tgt.method, path, truncate(body), resp.StatusCode, p, b)
			}
		}
	})
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
