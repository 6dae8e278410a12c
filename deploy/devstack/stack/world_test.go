package stack_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
)

// clock is the suite's time; tests move it forward to age data (billing's daily usage history).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advanceDays(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.AddDate(0, 0, n)
}

// testLog discards the suite's logs unless ORGPLANE_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("ORGPLANE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// world is a running suite plus an event tap on the org stream.
type world struct {
	*suite
	clock *clock
	// an account and an organization for the fuzzer to aim at
	fuzzAccount msp
	fuzzOrg     string
	mu          sync.Mutex
	events      []*nats.Msg
}

func startWorld(t testing.TB) *world {
	t.Helper()
	return startWorldOn(t, &clock{now: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)})
}

// startWorldOn is startWorld on clock c; nil runs the suite on the real time (for work the
// services schedule ahead, such as an email's next try).
func startWorldOn(t testing.TB, c *clock) *world {
	t.Helper()
	w := &world{suite: startStack(t, func(o *stack.Options) {
		if c != nil {
			o.Clock = c.Now
		}
	}), clock: c}
	w.tapEvents(t)
	return w
}

// tapEvents collects every event the relays publish into w.events, through a core subscription
// that sees each one as it is published.
func (w *world) tapEvents(t testing.TB) {
	t.Helper()
	nc, err := nats.Connect(w.st.NATSURL, nats.UserCredentials(w.st.NATSAdminCreds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.Subscribe("orgplane.>", func(m *nats.Msg) {
		w.mu.Lock()
		w.events = append(w.events, m)
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}

// adminJetStream connects to the stack's NATS with the administrator's credential, closed when
// the test ends.
func adminJetStream(t testing.TB, st *stack.Stack) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(st.NATSURL, nats.UserCredentials(st.NATSAdminCreds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// event waits for an event on subject (a pattern: * stands for the account) whose payload
// satisfies match.
func event[T proto.Message](w *world, subject string, newT func() T, match func(T) bool) T {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		msgs := append([]*nats.Msg(nil), w.events...)
		w.mu.Unlock()
		for _, m := range msgs {
			if !subjectMatches(subject, m.Subject) {
				continue
			}
			v := newT()
			if err := proto.Unmarshal(m.Data, v); err != nil {
				w.t.Fatalf("%s: %v", subject, err)
			}
			if match(v) {
				return v
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no %s event matched within 10 s", subject)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type msp struct {
	id       string
	adminKey string
	adminID  string
}

func (w *world) newMSP(name string) msp {
	w.t.Helper()
	r := w.do("POST", "/v1/accounts", operatorToken, accountBody(name))
	if r.code != http.StatusOK {
		w.t.Fatalf("create account: %d %s", r.code, r.body)
	}
	m := r.json(w.t)
	return msp{
		id:       m["account"].(map[string]any)["id"].(string),
		adminKey: m["administratorApiKey"].(string),
		adminID:  m["administrator"].(map[string]any)["id"].(string),
	}
}

// must calls and requires the status, returning the decoded body.
func (w *world) must(code int, method, path, key, body string) map[string]any {
	w.t.Helper()
	r := w.do(method, path, key, body)
	if r.code != code {
		w.t.Fatalf("%s %s = %d, want %d: %s", method, path, r.code, code, r.body)
	}
	if len(r.body) == 0 || r.header.Get("Content-Type") != "application/json" {
		return nil
	}
	return r.json(w.t)
}

func (w *world) createOrg(a msp, key string, fields string) map[string]any {
	w.t.Helper()
	return w.must(200, "POST", "/v1/accounts/"+a.id+"/organizations", key, fields)
}

func (w *world) roleID(a msp, name string) string {
	w.t.Helper()
	roles := w.must(200, "GET", "/v1/accounts/"+a.id+"/roles", a.adminKey, "")["roles"].([]any)
	for _, r := range roles {
		if r.(map[string]any)["name"] == name {
			return r.(map[string]any)["id"].(string)
		}
	}
	w.t.Fatalf("no role %q", name)
	return ""
}

// keyFor creates a user with a role (and optional groups) and an API key acting as them.
func (w *world) keyFor(a msp, email, role string, groups ...string) (userID, key string) {
	w.t.Helper()
	roleID := w.roleID(a, role)
	body := map[string]any{"firstName": "Test", "lastName": email, "email": email, "roleId": roleID, "allOrganizations": len(groups) == 0, "groupIds": groups}
	b, _ := json.Marshal(body)
	u := w.must(200, "POST", "/v1/accounts/"+a.id+"/users", a.adminKey, string(b))
	userID = u["id"].(string)
	k := w.must(200, "POST", "/v1/accounts/"+a.id+"/apiKeys", a.adminKey,
		fmt.Sprintf(`{"name":"%s key","roleId":"%s","userId":"%s"}`, email, roleID, userID))
	return userID, k["secret"].(string)
}

func pngOf(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

// The registry's own rules (names, the 12-month rule, sub-organizations, groups, permissions,
// validation, reviews, lists) and the events they publish are tested beside the org service, over
// gRPC (services/org/orgsvc). What stays here is what the gateway adds between org and a REST
// caller: one representative of each way an org answer becomes HTTP.

// restError is the google.rpc.Status JSON every REST error carries.
type restError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string            `json:"@type"`
		Reason          string            `json:"reason"`
		Metadata        map[string]string `json:"metadata"`
		FieldViolations []struct {
			Field string `json:"field"`
		} `json:"fieldViolations"`
	} `json:"details"`
}

func TestOrgRefusalsReachRESTCallersAsHTTPErrors(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	b := w.newMSP("Fabrikam IT")
	acct := "/v1/accounts/" + a.id
	org := acct + "/organizations/" + w.createOrg(a, a.adminKey, `{"name":"Northwind Traders"}`)["id"].(string)
	w.must(200, "POST", org+":deactivate", a.adminKey, `{}`)
	_, engineer := w.keyFor(a, "eng@contoso.example", "Engineer")
	// The gateway asks org about a key on every request, so a revocation applies at once.
	k := w.must(200, "POST", acct+"/apiKeys", a.adminKey, fmt.Sprintf(`{"name":"script","roleId":"%s"}`, w.roleID(a, "IT Provider Admin")))
	w.must(200, "GET", acct+"/organizations", k["secret"].(string), "")
	w.must(200, "POST", acct+"/apiKeys/"+k["apiKey"].(map[string]any)["id"].(string)+":revoke", a.adminKey, `{}`)

	for _, c := range []struct {
		name, method, path, key, body string
		code                          int
		message                       string // in the message
		field                         string // named by a google.rpc.BadRequest
		reason                        string // of a google.rpc.ErrorInfo
	}{
		{"InvalidArgument is 400 naming the field as the body spells it, the updateMask read as JSON names", "PATCH", org + "?updateMask=parentId", a.adminKey,
			`{"parentId":"00000000-0000-4000-8000-000000000000"}`, 400, "parentId", "parentId", ""},
		{"invalid UTF-8 is 400 naming the JSON field", "POST", acct + "/organizations", a.adminKey, "{\"name\":\"Bad \xff\xfe name\"}", 400, "name", "name", ""},
		{"FailedPrecondition is 400 with its reason", "POST", org + ":reactivate", a.adminKey, `{}`, 400, "12 months", "", "REACTIVATION_COOLDOWN"},
		{"PermissionDenied is 403", "POST", acct + "/organizations", engineer, `{"name":"Sneaky"}`, 403, "", "", ""},
		{"NotFound is 404: another account's path", "GET", "/v1/accounts/" + b.id + "/organizations", a.adminKey, "", 404, "", "", ""},
		{"AlreadyExists is 409", "POST", acct + "/organizations", a.adminKey, `{"name":"Northwind Traders"}`, 409, "already exists", "", ""},
		{"a revoked key is 401", "GET", acct + "/organizations", k["secret"].(string), "", 401, "authentication required", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := w.do(c.method, c.path, c.key, c.body)
			var st restError
			if r.code != c.code || json.Unmarshal(r.body, &st) != nil || st.Message == "" || !strings.Contains(st.Message, c.message) {
				t.Fatalf("%d %s, want %d with %q", r.code, r.body, c.code, c.message)
			}
			var fields, reasons []string
			for _, d := range st.Details {
				if d.Type == "type.googleapis.com/google.rpc.BadRequest" {
					for _, v := range d.FieldViolations {
						fields = append(fields, v.Field)
					}
				}
				if d.Type == "type.googleapis.com/google.rpc.ErrorInfo" {
					reasons = append(reasons, d.Reason)
				}
			}
			if c.field != "" && !slices.Contains(fields, c.field) || c.reason != "" && !slices.Contains(reasons, c.reason) {
				t.Fatalf("details name fields %v and reasons %v, want %q %q: %s", fields, reasons, c.field, c.reason, r.body)
			}
		})
	}
}

func TestLogosAreServedAsImagesWithCachingHeaders(t *testing.T) {
	w := startWorld(t)
	a := w.newMSP("Contoso MSP")
	logo := "/v1/accounts/" + a.id + "/organizations/" + w.createOrg(a, a.adminKey, `{"name":"Northwind Traders"}`)["id"].(string) + "/logo"
	info := w.must(200, "PUT", logo, a.adminKey, `{"data":"`+base64.StdEncoding.EncodeToString(pngOf(520, 100))+`"}`)
	r := w.do("GET", logo, a.adminKey, "")
	if r.code != 200 || r.header.Get("Content-Type") != "image/png" || r.header.Get("ETag") != `"`+info["sha256"].(string)+`"` ||
		!strings.Contains(r.header.Get("Cache-Control"), "max-age") {
		t.Fatalf("logo GET: %d %v (logo %v)", r.code, r.header, info)
	}
	// The body is the image itself, not JSON.
	if cfg, err := png.DecodeConfig(bytes.NewReader(r.body)); err != nil || cfg.Width != 260 || cfg.Height != 50 {
		t.Fatalf("served logo %dx%d (%v)", cfg.Width, cfg.Height, err)
	}
	if again := w.do("GET", logo, a.adminKey, "", "If-None-Match", r.header.Get("ETag")); again.code != http.StatusNotModified || len(again.body) != 0 {
		t.Fatalf("revalidation: %d with %d bytes", again.code, len(again.body))
	}
}
