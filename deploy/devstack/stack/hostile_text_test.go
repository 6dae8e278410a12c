package stack_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// libraryPhrases are how a Go library's own message shows; no error body may carry one.
var libraryPhrases = []string{"strconv.", "proto:", "json:", "invalid character", "unexpected EOF",
	"parsing field", "type mismatch", "syntax error", "cannot unmarshal", "invalid syntax",
	"exceeded max depth", "value out of range", "protojson", "illegal base64", "runtime error", "goroutine"}

func libraryTextIn(body []byte) string {
	for _, p := range libraryPhrases {
		if strings.Contains(string(body), p) {
			return p
		}
	}
	return ""
}

// hostileText is what the text validator refuses in any single-line field: NUL, C0, C1 and
// bidirectional controls.
var hostileText = []string{"\u0000", "\u0007", "\u001b[31m", "\u0085", "\u009b", "\u202e", "\u2066", "\n"}

// wrongTypes is what no string field can hold.
var wrongTypes = []string{`123`, `true`, `{}`, `[]`, `1e400`}

type apiRoute struct {
	method, path string
	fields       [][]string // JSON paths of the body's string fields
}

// bodyRoutes reads every route of the published document and the string fields of its body,
// nested messages included, so a new route or field is covered without editing this test.
func bodyRoutes(t testing.TB) []apiRoute {
	t.Helper()
	b, err := os.ReadFile("../../../services/gateway/internal/openapi/orgplane.swagger.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths       map[string]map[string]json.RawMessage `json:"paths"`
		Definitions map[string]schema                     `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []apiRoute
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				Parameters []struct {
					In     string `json:"in"`
					Schema schema `json:"schema"`
				} `json:"parameters"`
			}
			if json.Unmarshal(raw, &op) != nil {
				continue
			}
			r := apiRoute{method: strings.ToUpper(method), path: path}
			for _, p := range op.Parameters {
				if p.In == "body" {
					r.fields = stringFields(p.Schema, doc.Definitions, nil, 0)
				}
			}
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].method+out[i].path < out[j].method+out[j].path })
	return out
}

type schema struct {
	Ref        string            `json:"$ref"`
	Type       string            `json:"type"`
	Format     string            `json:"format"`
	Properties map[string]schema `json:"properties"`
	Items      *schema           `json:"items"`
}

func stringFields(s schema, defs map[string]schema, prefix []string, depth int) [][]string {
	if s.Ref != "" {
		s = defs[strings.TrimPrefix(s.Ref, "#/definitions/")]
	}
	if depth > 3 {
		return nil
	}
	var out [][]string
	for name, p := range s.Properties {
		path := append(append([]string{}, prefix...), name)
		if p.Ref != "" || p.Type == "object" {
			out = append(out, stringFields(p, defs, path, depth+1)...)
			continue
		}
		if p.Type == "string" && p.Format != "byte" && p.Format != "date-time" {
			out = append(out, path)
		}
	}
	return out
}

// bodyWith sets one field, at its JSON path, to the raw JSON value.
func bodyWith(path []string, raw string) string {
	body := raw
	for i := len(path) - 1; i >= 0; i-- {
		k, _ := json.Marshal(path[i])
		body = "{" + string(k) + ":" + body + "}"
	}
	return body
}

// TestHostileTextAndWrongTypesInEveryStringField puts each refused character and each wrong
// type into every string field of every route's body: never a 5xx, never accepted, never a Go
// library's words, and a refusal for text names the field as the client spelled it.
func TestHostileTextAndWrongTypesInEveryStringField(t *testing.T) {
	s := startStack(t, func(o *stack.Options) {
		// Thousands of requests from one key: the rate limit is not what is tested here.
		o.RateLimit = gatewaysvc.RateLimit{PerSecond: 1e6, Burst: 1e6}
	})
	w := &world{suite: s, clock: &clock{now: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)}}
	a := w.newMSP("Hostile MSP")
	param := regexp.MustCompile(`\{[^}]+\}`)
	fields, named := 0, 0
	for _, r := range bodyRoutes(t) {
		path := strings.Replace(r.path, "{accountId}", a.id, 1)
		path = param.ReplaceAllString(path, "00000000-0000-4000-8000-000000000001")
		for _, f := range r.fields {
			fields++
			rest := strings.Join(f, ".")
			for _, h := range hostileText {
				v, _ := json.Marshal("Ab" + h + "cd")
				resp := s.doQuiet(r.method, path, a.adminKey, bodyWith(f, string(v)))
				if resp.code < 400 || resp.code >= 500 || libraryTextIn(resp.body) != "" {
					t.Errorf("%s %s %s=%q: %d %s", r.method, r.path, rest, h, resp.code, resp.body)
					continue
				}
				if resp.code == http.StatusBadRequest && strings.Contains(string(resp.body), `"field":"`+f[len(f)-1]) {
					named++
				}
			}
			for _, bad := range wrongTypes {
				resp := s.doQuiet(r.method, path, a.adminKey, bodyWith(f, bad))
				if resp.code < 400 || resp.code >= 500 || libraryTextIn(resp.body) != "" || !strings.Contains(string(resp.body), `"code"`) {
					t.Errorf("%s %s %s=%s: %d %s", r.method, r.path, rest, bad, resp.code, resp.body)
				}
			}
		}
	}
	if fields < 50 || named < fields {
		t.Fatalf("%d string fields, %d refusals naming the field: the document or the refusals changed", fields, named)
	}
}

// TestErrorsSpeakTheAPIsWords: the messages the issue saw in a Go library's words, a wrong
// method and an unknown path.
func TestErrorsSpeakTheAPIsWords(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Words MSP")
	acct := "/v1/accounts/" + a.id
	org := w.createOrg(a, a.adminKey, `{"name":"Due dates"}`)["id"].(string)
	for _, c := range []struct {
		method, path, body string
		code               int
		field, want        string
	}{
		{"GET", acct + "/organizations?pageSize=abc", "", 400, "pageSize", "must be an integer"},
		{"GET", acct + "/organizations?orderBy=name%20asc", "", 400, "orderBy", "orderBy"},
		{"POST", acct + "/organizations", `{"name":123}`, 400, "name", "must be a string"},
		{"POST", acct + "/organizations", strings.Repeat("[", 20000), 400, "body", "nested too deeply"},
		{"POST", acct + "/organizations", `{"name":`, 400, "body", "not valid JSON"},
		{"POST", acct + "/organizations:bulkCreate", `{"organizations":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"\u202e"}]}`, 400, "organizations[3].name", "bidirectional"},
		{"POST", acct + "/reviews", `{"organizationId":"` + org + `","title":"t","engineerDueDate":"2026-02-31"}`, 400, "", "ueDate"},
	} {
		r := w.do(c.method, c.path, a.adminKey, c.body)
		if r.code != c.code || libraryTextIn(r.body) != "" || !strings.Contains(string(r.body), c.want) ||
			(c.field != "" && !strings.Contains(string(r.body), `"field":"`+c.field+`"`)) || strings.Contains(string(r.body), "_date") {
			t.Errorf("%s %s %.60s: %d %s", c.method, c.path, c.body, r.code, r.body)
		}
	}
	// A known path with the wrong method: 405 naming the methods it has.
	r := w.do("PUT", acct+"/organizations", a.adminKey, `{}`)
	if r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, POST" || !strings.Contains(string(r.body), `"code":`) {
		t.Errorf("wrong method: %d Allow=%q %s", r.code, r.header.Get("Allow"), r.body)
	}
	// An unknown path: 404 in the error shape.
	r = w.do("GET", acct+"/nothing-here", a.adminKey, "")
	if r.code != http.StatusNotFound || !strings.Contains(string(r.body), `"code":5`) {
		t.Errorf("unknown path: %d %s", r.code, r.body)
	}
}

// TestSettingsVocabularyIsWhatSettingsAccept: the route lists canonical zones, ISO currencies
// and the date formats; settings take what it lists and refuse the zones the issue saw.
func TestSettingsVocabularyIsWhatSettingsAccept(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Vocabulary MSP")
	acct := "/v1/accounts/" + a.id
	v := w.must(200, "GET", acct+"/settings/vocabulary", a.adminKey, "")
	zones, _ := v["timeZones"].([]any)
	currencies, _ := v["currencies"].([]any)
	formats, _ := v["dateFormats"].([]any)
	if len(zones) < 300 || len(currencies) < 100 || len(formats) != 3 {
		t.Fatalf("vocabulary: %d zones, %d currencies, %v", len(zones), len(currencies), formats)
	}
	for _, z := range []any{zones[0], zones[len(zones)-1], "America/Chicago", "Etc/UTC"} {
		w.must(200, "PATCH", acct+"/settings?updateMask=timeZone", a.adminKey, `{"timeZone":"`+z.(string)+`"}`)
	}
	for _, c := range []any{currencies[0], "EUR"} {
		w.must(200, "PATCH", acct+"/settings?updateMask=currency", a.adminKey, `{"currency":"`+c.(string)+`"}`)
	}
	for _, bad := range []string{"right/UTC", "posixrules", "Factory", "US/Eastern"} {
		r := w.do("PATCH", acct+"/settings?updateMask=timeZone", a.adminKey, `{"timeZone":"`+bad+`"}`)
		if r.code != 400 || !strings.Contains(string(r.body), `"field":"timeZone"`) {
			t.Errorf("%s: %d %s", bad, r.code, r.body)
		}
	}
	if r := w.do("PATCH", acct+"/settings?updateMask=dateFormat", a.adminKey, `{"dateFormat":7}`); r.code != 400 {
		t.Errorf("an undocumented date format: %d %s", r.code, r.body)
	}
}
