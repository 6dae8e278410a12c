package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const operatorToken = "op_test_0123456789abcdefghijklmnopqrstuvwxyz"

type suite struct {
	t     testing.TB
	st    *stack.Stack
	dbURL string
}

// startStack runs a suite on a fresh database for the test, with the options every test uses
// adjusted by adjust (which may be nil), and stops it when the test ends.
func startStack(t testing.TB, adjust func(*stack.Options)) *suite {
	t.Helper()
	dbURL := testkit.EmptyDB(t)
	o := stack.Options{
		Log: testLog(), DatabaseURL: dbURL, NATSDir: t.TempDir(), Host: "127.0.0.1",
		AdminPort: -1, Keys: testkit.Keyring(t), OperatorToken: operatorToken,
	}
	if adjust != nil {
		adjust(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := stack.Start(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := st.Wait(); err != nil {
			t.Errorf("stack stopped with %v", err)
		}
	})
	return &suite{t: t, st: st, dbURL: dbURL}
}

func startSuite(t *testing.T) *suite { return startStack(t, nil) }

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%v): %s", err, r.body)
	}
	return m
}

// doQuiet is do for use from other goroutines: it reports failures in the response instead of
// stopping the test.
func (s *suite) doQuiet(method, path, token, body string) response {
	req, err := http.NewRequest(method, s.st.GatewayURL+path, strings.NewReader(body))
	if err != nil {
		return response{code: -1, body: []byte(err.Error())}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{code: -1, body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func (s *suite) do(method, path, token, body string, header ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.st.GatewayURL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func accountBody(name string) string {
	return `{"account":{"displayName":"` + name + `"},"administrator":{"firstName":"Ada","lastName":"Admin","email":"ada@example.com"}}`
}

func TestReadyzReportsEveryService(t *testing.T) {
	s := startSuite(t)
	r := s.do("GET", "/readyz", "", "")
	if r.code != http.StatusOK {
		t.Fatalf("readyz = %d %s", r.code, r.body)
	}
	services := r.json(t)["services"].(map[string]any)
	for _, name := range []string{"org", "mapping", "integration-sync", "notification", "billing"} {
		if services[name] != "SERVING" {
			t.Errorf("%s is %v", name, services[name])
		}
	}
}

func TestOperatorCreatesAndReadsAccounts(t *testing.T) {
	s := startSuite(t)
	created := s.do("POST", "/v1/accounts", operatorToken, accountBody("Contoso MSP"))
	if created.code != http.StatusOK {
		t.Fatalf("create = %d %s", created.code, created.body)
	}
	acc := created.json(t)["account"].(map[string]any)
	id, _ := acc["id"].(string)
	if id == "" || acc["displayName"] != "Contoso MSP" || acc["createTime"] == nil {
		t.Fatalf("created account = %s", created.body)
	}
	got := s.do("GET", "/v1/accounts/"+id, operatorToken, "")
	if got.code != http.StatusOK || got.json(t)["displayName"] != "Contoso MSP" {
		t.Fatalf("get = %d %s", got.code, got.body)
	}
	s.do("POST", "/v1/accounts", operatorToken, accountBody("Fabrikam IT"))
	s.do("POST", "/v1/accounts", operatorToken, accountBody("Northwind Managed"))

	var names []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		r := s.do("GET", "/v1/accounts?pageSize=2&pageToken="+token, operatorToken, "")
		if r.code != http.StatusOK {
			t.Fatalf("list = %d %s", r.code, r.body)
		}
		var page struct {
			Accounts []struct {
				DisplayName string `json:"displayName"`
			} `json:"accounts"`
			NextPageToken string `json:"nextPageToken"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Accounts {
			names = append(names, a.DisplayName)
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	if strings.Join(names, ",") != "Contoso MSP,Fabrikam IT,Northwind Managed" {
		t.Fatalf("listed %v, want the three accounts oldest first", names)
	}
	if r := s.do("GET", "/v1/accounts?pageToken=forged!", operatorToken, ""); r.code != http.StatusBadRequest {
		t.Errorf("bad page token = %d %s", r.code, r.body)
	}
}

func TestInvalidInputIsA400NamingTheField(t *testing.T) {
	s := startSuite(t)
	cases := []struct {
		name, method, path, body, field string
	}{
		{"empty name", "POST", "/v1/accounts", accountBody(""), "account.displayName"},
		{"blank name (text is trimmed)", "POST", "/v1/accounts", accountBody("   "), "account.displayName"},
		{"control character", "POST", "/v1/accounts", accountBody(`Con\u0007toso`), "account.displayName"},
		{"NUL", "POST", "/v1/accounts", accountBody(`Con\u0000toso`), "account.displayName"},
		{"bidi override", "POST", "/v1/accounts", accountBody(`Con\u202etoso`), "account.displayName"},
		{"name too long", "POST", "/v1/accounts", accountBody(strings.Repeat("x", 10000)), "account.displayName"},
		{"administrator email", "POST", "/v1/accounts", `{"account":{"displayName":"Contoso"},"administrator":{"firstName":"Ada","lastName":"Admin","email":"not-an-email"}}`, "administrator.email"},
		{"account id not a uuid", "GET", "/v1/accounts/not-a-uuid", "", "accountId"},
		{"page size too large", "GET", "/v1/accounts?pageSize=5000", "", "pageSize"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do(c.method, c.path, operatorToken, c.body)
			if r.code != http.StatusBadRequest {
				t.Fatalf("status = %d %s", r.code, r.body)
			}
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Details []struct {
					Type            string `json:"@type"`
					FieldViolations []struct {
						Field string `json:"field"`
					} `json:"fieldViolations"`
				} `json:"details"`
			}
			if err := json.Unmarshal(r.body, &st); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range st.Details {
				for _, v := range d.FieldViolations {
					found = found || (d.Type == "type.googleapis.com/google.rpc.BadRequest" && v.Field == c.field)
				}
			}
			if st.Code != 3 || !found || !strings.Contains(st.Message, c.field) {
				t.Fatalf("error does not name %s: %s", c.field, r.body)
			}
		})
	}
	// Nothing half-written: none of the refused creates left an account behind.
	r := s.do("GET", "/v1/accounts", operatorToken, "")
	if r.code != http.StatusOK || strings.Contains(string(r.body), `"displayName"`) {
		t.Fatalf("refused requests left accounts: %s", r.body)
	}
}

func TestInternalErrorIsMaskedBehindACorrelationID(t *testing.T) {
	s := startSuite(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ALTER TABLE org.accounts RENAME TO accounts_sabotaged"); err != nil {
		t.Fatal(err)
	}
	const reqID = "req-internal-0001"
	r := s.do("POST", "/v1/accounts", operatorToken, accountBody("Contoso MSP"), "X-Request-Id", reqID)
	if r.code != http.StatusInternalServerError {
		t.Fatalf("status = %d %s", r.code, r.body)
	}
	if r.header.Get("X-Request-Id") != reqID {
		t.Errorf("X-Request-Id = %q", r.header.Get("X-Request-Id"))
	}
	body := string(r.body)
	if !strings.Contains(body, reqID) {
		t.Errorf("body lacks the correlation id: %s", body)
	}
	for _, leak := range []string{"accounts", "does not exist", "42P01", "SQLSTATE", "pgx", ".go:", "INSERT"} {
		if strings.Contains(body, leak) {
			t.Errorf("body leaks %q: %s", leak, body)
		}
	}
}

func TestRequestsWithoutAValidCredentialAre401(t *testing.T) {
	s := startSuite(t)
	for _, token := range []string{"", "wrong-token", operatorToken + "x"} {
		r := s.do("GET", "/v1/accounts", token, "")
		if r.code != http.StatusUnauthorized || !bytes.Contains(r.body, []byte(`"authentication required"`)) {
			t.Errorf("token %q: %d %s", token, r.code, r.body)
		}
	}
	for _, open := range []string{"/healthz", "/readyz", "/openapi.json"} {
		if r := s.do("GET", open, "", ""); r.code != http.StatusOK {
			t.Errorf("%s = %d", open, r.code)
		}
	}
}

func TestAccountCreatedEventReachesJetStream(t *testing.T) {
	s := startSuite(t)
	created := s.do("POST", "/v1/accounts", operatorToken, accountBody("Contoso MSP"))
	if created.code != http.StatusOK {
		t.Fatalf("create = %d %s", created.code, created.body)
	}
	id := created.json(t)["account"].(map[string]any)["id"].(string)

	_, js := adminJetStream(t, s.st)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, "ORGPLANE_ORG", jetstream.ConsumerConfig{
		Durable: "test-reader", FilterSubject: "orgplane.org.v1." + id + ".account.created",
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var ev orgv1.AccountCreated
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.GetAccountId() != id || ev.GetDisplayName() != "Contoso MSP" || msg.Headers().Get("Nats-Msg-Id") != ev.GetEventId() {
		t.Fatalf("event %v (msg id %s) does not describe account %s", &ev, msg.Headers().Get("Nats-Msg-Id"), id)
	}
}
