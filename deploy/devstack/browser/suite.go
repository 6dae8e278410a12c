package browser

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orgplane/orgplane/deploy/devkit/mailsink"
	"github.com/orgplane/orgplane/deploy/devkit/oidcdev"
	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
	"github.com/orgplane/orgplane/deploy/simulators"
)

// Options adjust the suite a browser test runs against. The zero value is `make run` on
// free ports with a throwaway database.
type Options struct {
	// SimulatorCompanies seeds each simulated tool (IT Glue, ConnectWise, ...); 0 means 25,
	// enough for a page of results, -1 starts the tools empty.
	SimulatorCompanies int
	// Stack, when set, changes the stack's options before it starts (a clock, a rate limit).
	Stack func(*stack.Options)
}

// Suite is the whole Orgplane suite running for one test, started as `make run` starts it:
// every service and the gateway, the embedded NATS, the mail sink, the local OpenID Connect
// provider and the simulated vendor tools, on free ports and a fresh database.
type Suite struct {
	*stack.Stack
	// Sims are the simulated IT Glue, ConnectWise, Autotask and generic tools.
	Sims *simulators.Set
	// OperatorToken is the platform operator's credential (creates accounts).
	OperatorToken string
	// OIDCPerson signs in at the local OpenID Connect provider (Stack.OIDC).
	OIDCPerson oidcdev.User

	t testing.TB
}

// StartSuite starts the suite for t and stops it when t ends. The package's TestMain must call
// testkit.Main (it provides the Postgres server the databases are made on).
func StartSuite(t testing.TB, o Options) *Suite {
	t.Helper()
	token := "op_" + randomString(32)
	person := oidcdev.User{Email: "ada@contoso.example", Password: randomString(12), GivenName: "Ada", FamilyName: "Admin", EmailVerified: true}
	so := stack.Options{
		Log: testLog(), DatabaseURL: testkit.EmptyDB(t), NATSDir: testkit.TempDir(t), Host: "127.0.0.1",
		AdminPort: -1, Keys: testkit.Keyring(t), OperatorToken: token,
		OIDCUsers: []oidcdev.User{person},
	}
	if o.Stack != nil {
		o.Stack(&so)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := stack.Start(ctx, so)
	if err != nil {
		cancel()
		t.Fatalf("start the suite: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := st.Wait(); err != nil {
			t.Errorf("the suite stopped with %v", err)
		}
	})
	companies := o.SimulatorCompanies
	switch {
	case companies == 0:
		companies = 25
	case companies < 0:
		companies = 0
	}
	sims, err := simulators.Start(ctx, simulators.Options{Host: "127.0.0.1", Companies: companies})
	if err != nil {
		t.Fatalf("start the simulators: %v", err)
	}
	return &Suite{Stack: st, Sims: sims, OperatorToken: token, OIDCPerson: person, t: t}
}

// testLog discards the suite's logs unless ORGPLANE_TEST_LOG is set, as the stack tests do.
func testLog() *slog.Logger {
	if os.Getenv("ORGPLANE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Response is an answer of the REST API.
type Response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as an object, failing the test when it is not one.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("the answer is not a JSON object (%v): %s", err, r.Body)
	}
	return m
}

// Call sends a request to the REST gateway with key as the bearer credential (empty: none).
// The browser tests set up what a page shows through the public API, as an API client would.
func (s *Suite) Call(method, path, key, body string) Response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.GatewayURL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return Response{Code: resp.StatusCode, Header: resp.Header, Body: b}
}

// Must is Call that requires the status code and returns the decoded JSON object (nil for an
// empty body).
func (s *Suite) Must(code int, method, path, key, body string) map[string]any {
	s.t.Helper()
	r := s.Call(method, path, key, body)
	if r.Code != code {
		s.t.Fatalf("%s %s = %d, want %d: %s", method, path, r.Code, code, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(s.t)
}

// Account is an MSP's account made by the platform operator, with its first administrator.
type Account struct {
	ID string
	// AdminID and AdminEmail are the administrator's user; AdminKey is an API key acting as them.
	AdminID, AdminEmail, AdminKey string
}

// NewAccount creates an account named name whose administrator (Ada Admin) has adminEmail.
func (s *Suite) NewAccount(name, adminEmail string) Account {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"account":       map[string]string{"displayName": name},
		"administrator": map[string]string{"firstName": "Ada", "lastName": "Admin", "email": adminEmail},
	})
	m := s.Must(http.StatusOK, "POST", "/v1/accounts", s.OperatorToken, string(body))
	return Account{
		ID:         m["account"].(map[string]any)["id"].(string),
		AdminID:    m["administrator"].(map[string]any)["id"].(string),
		AdminEmail: adminEmail,
		AdminKey:   m["administratorApiKey"].(string),
	}
}

// MailTo is every message the mail sink has received for address, oldest first.
func (s *Suite) MailTo(address string) []mailsink.Message {
	var out []mailsink.Message
	for _, m := range s.Mail.Messages() {
		if slices.ContainsFunc(m.To, func(to string) bool { return strings.EqualFold(to, address) }) {
			out = append(out, m)
		}
	}
	return out
}

// WaitMail waits until address has received n messages and returns the nth.
func (s *Suite) WaitMail(address string, n int) mailsink.Message {
	s.t.Helper()
	if s.Mail == nil {
		s.t.Fatal("the suite runs no mail sink")
	}
	const within = 60 * time.Second
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		changed := s.Mail.Changed()
		if got := s.MailTo(address); len(got) >= n {
			return got[n-1]
		}
		select {
		case <-changed:
		case <-deadline.C:
			s.t.Fatalf("%s received %d messages within %v, want %d", address, len(s.MailTo(address)), within, n)
		}
	}
}

var urlPattern = regexp.MustCompile(`https?://[^\s"'<>]+`)

// LinkIn is the first link in m's text that leads to the gateway's path (a prefix such as
// "/unsubscribe" or "/invitations/accept"), the one a person would click.
func (s *Suite) LinkIn(m mailsink.Message, path string) string {
	s.t.Helper()
	var seen []string
	for _, u := range urlPattern.FindAllString(m.Text, -1) {
		if strings.HasPrefix(u, s.GatewayURL+path) {
			return u
		}
		seen = append(seen, redact(u))
	}
	// The links carry tokens: the message names them without their queries.
	s.t.Fatalf("no link to %s%s in %q; its links: %v", s.GatewayURL, path, m.Subject, seen)
	return ""
}

// Settle waits until every event published so far has been applied: every durable consumer of
// every stream has nothing pending and nothing unacknowledged, twice in a row (a consumer that
// applies one event may publish the next through its outbox). A page that shows what another
// service learned from events (a user's email, usage) needs this before it is opened.
func (s *Suite) Settle() {
	const settleWithin = 4 * time.Minute
	s.t.Helper()
	nc, err := nats.Connect(s.NATSURL, nats.UserCredentials(s.NATSAdminCreds))
	if err != nil {
		s.t.Fatalf("connect to NATS: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	// Generous: after the grid test's 5,000 organizations and 15,000 companies, with the other
	// packages' tests loading the machine (make test), applying the backlog took over a minute.
	ctx, cancel := context.WithTimeout(context.Background(), settleWithin)
	defer cancel()
	quiet := 0
	for {
		busy, err := busyConsumers(ctx, js)
		switch {
		case err != nil && ctx.Err() == nil:
			s.t.Fatalf("read the consumers: %v", err)
		case ctx.Err() != nil:
			s.t.Fatalf("the suite did not settle within %v: %v", settleWithin, busy)
		case len(busy) == 0:
			if quiet++; quiet == 2 {
				return
			}
		default:
			quiet = 0
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// busyConsumers names the consumers with events still to apply.
func busyConsumers(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	var busy []string
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		stream, err := js.Stream(ctx, info.Config.Name)
		if err != nil {
			return nil, err
		}
		consumers := stream.ListConsumers(ctx)
		for c := range consumers.Info() {
			if c.NumPending > 0 || c.NumAckPending > 0 {
				busy = append(busy, fmt.Sprintf("%s/%s (%d pending, %d unacknowledged)", info.Config.Name, c.Name, c.NumPending, c.NumAckPending))
			}
		}
		if err := consumers.Err(); err != nil {
			return nil, err
		}
	}
	return busy, streams.Err()
}
