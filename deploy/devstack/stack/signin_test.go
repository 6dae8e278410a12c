package stack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/orgplane/orgplane/deploy/devstack/stack"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
)

// Issue 18, first slice: people sign in. What a browser does, through the gateway and the real
// services: an administrator invites a user, the invitation email arrives (through the
// notification service and the stack's SMTP sink) with a link whose token sets the password; the
// person signs in with a cookie, calls the API with it (CSRF token on every change), signs out;
// deactivation and role changes apply on the very next request; failed sign-ins are throttled
// and an unknown email is answered as a wrong password; a password reset closes every session.
// Then nothing secret (password, session token, link token) is found in any database column, in
// the stack's logs or in any event.

// sessionCookieName is the dev stack's session cookie: it serves plain HTTP, so the cookie is
// not Secure and cannot carry the __Host- prefix.
const sessionCookieName = "orgplane_session"

// browser is a person at a browser: a cookie jar holding the session cookie, and the CSRF token
// the sign-in answered.
type browser struct {
	s      *suite
	jar    *cookiejar.Jar
	client *http.Client
	csrf   string
}

func newBrowser(s *suite) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, jar: jar, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// do sends a request with whatever cookie the jar holds, and the CSRF token when csrf is set;
// header holds more name, value pairs.
func (b *browser) do(method, path, body string, csrf bool, header ...string) response {
	b.s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.s.st.GatewayURL+path, rd)
	if err != nil {
		b.s.t.Fatal(err)
	}
	if csrf {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return response{code: -1, body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if path == "/v1/signIn" && resp.StatusCode == http.StatusOK {
		// A new session: its CSRF token goes with the new cookie, as a page would keep it.
		var m struct {
			CurrentUser struct {
				CsrfToken string `json:"csrfToken"`
			} `json:"currentUser"`
		}
		_ = json.Unmarshal(out, &m)
		b.csrf = m.CurrentUser.CsrfToken
	}
	return response{code: resp.StatusCode, header: resp.Header, body: out}
}

// openStream is suite.openStream with the browser's cookie.
func (b *browser) openStream(method, path string) response {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, b.s.st.GatewayURL+path, nil)
	if err != nil {
		return response{code: -1, body: []byte(err.Error())}
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return response{code: -1, body: []byte("no answer within 10 s: " + err.Error())}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return response{code: resp.StatusCode, header: resp.Header}
	}
	out, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, header: resp.Header, body: out}
}

// signIn signs in with email and password (do keeps the CSRF token of the answer).
func (b *browser) signIn(email, password string) response {
	b.s.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return b.do("POST", "/v1/signIn", string(body), false)
}

// sessionID is the id of the browser's current session, from GET /v1/me.
func (b *browser) sessionID() string {
	b.s.t.Helper()
	r := b.do("GET", "/v1/me", "", false)
	if r.code != http.StatusOK {
		b.s.t.Fatalf("GET /v1/me: %d %s", r.code, r.body)
	}
	return r.json(b.s.t)["session"].(map[string]any)["id"].(string)
}

// mustSignIn signs in and requires it to work.
func (b *browser) mustSignIn(email, password string) {
	b.s.t.Helper()
	if r := b.signIn(email, password); r.code != http.StatusOK || b.token() == "" || b.csrf == "" {
		b.s.t.Fatalf("sign in as %s: %d %s (cookie %q)", email, r.code, r.body, b.token())
	}
}

// token is the session cookie's value in the jar, "" when there is none.
func (b *browser) token() string {
	u, _ := url.Parse(b.s.st.GatewayURL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == sessionCookieName {
			return c.Value
		}
	}
	return ""
}

// withCookie calls with a session token set by hand, as a client that kept a cookie after the
// gateway told it to drop it would.
func (s *suite) withCookie(method, path, token, csrf, body string) response {
	s.t.Helper()
	return s.do(method, path, "", body, "Cookie", sessionCookieName+"="+token, "X-CSRF-Token", csrf)
}

var linkToken = regexp.MustCompile(`(https?://[^\s"<>]+)(/invitations/accept|/passwordResets/complete)\?token=([A-Za-z0-9_%.~-]+)`)

// mailedToken waits for the n-th email to address (counting from 1) and returns the token of
// the link in it to path ("/invitations/accept" or "/passwordResets/complete").
func (w *world) mailedToken(address string, n int, path string) string {
	w.t.Helper()
	w.waitMail(30*time.Second, map[string]int{address: n})
	m := mailTo(w.st.Mail, address)[n-1]
	found := linkToken.FindStringSubmatch(m.Text)
	if found == nil || found[2] != path {
		w.t.Fatalf("email %q to %s has no %s link:\n%s", m.Subject, address, path, m.Text)
	}
	if found[1] != w.st.GatewayURL {
		w.t.Errorf("the link leads to %s, want the stack's web base URL %s", found[1], w.st.GatewayURL)
	}
	if !strings.Contains(m.HTML, found[0]) {
		w.t.Errorf("the HTML part of %q lacks the link", m.Subject)
	}
	token, err := url.QueryUnescape(found[3])
	if err != nil {
		w.t.Fatal(err)
	}
	return token
}

// invite invites a user as the account's administrator and returns the token mailed to them,
// the n-th email to that address.
func (w *world) invite(a msp, userID, email string, n int) string {
	w.t.Helper()
	inv := w.must(200, "POST", "/v1/accounts/"+a.id+"/users/"+userID+":invite", a.adminKey, "{}")
	if inv["email"] != email || inv["userId"] != userID || inv["expireTime"] == "" {
		w.t.Fatalf("invitation: %v", inv)
	}
	return w.mailedToken(email, n, "/invitations/accept")
}

// giveSignIn sets a user's first password through an invitation: the way in for a person whose
// account has no password yet. n is the number of emails the address will have received.
func (w *world) giveSignIn(a msp, userID, email, password string, n int) {
	w.t.Helper()
	token := w.invite(a, userID, email, n)
	body, _ := json.Marshal(map[string]string{"token": token, "password": password})
	if r := w.do("POST", "/v1/invitations:accept", "", string(body)); r.code != http.StatusOK {
		w.t.Fatalf("accept the invitation of %s: %d %s", email, r.code, r.body)
	}
}

// fieldViolations are the fields a 400 names.
func fieldViolations(r response) []string {
	var s struct {
		Details []struct {
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	}
	_ = json.Unmarshal(r.body, &s)
	var out []string
	for _, d := range s.Details {
		for _, v := range d.FieldViolations {
			out = append(out, v.Field)
		}
	}
	return out
}

// capturedLog is every line the stack logs, at debug.
type capturedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (c *capturedLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.Write(p)
}

func (c *capturedLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// startSignInWorld is startWorldOn the real clock (emails are scheduled on it) with every log
// line of the stack captured, at debug, for the final scan.
func startSignInWorld(t *testing.T, adjust ...func(*stack.Options)) (*world, *capturedLog) {
	t.Helper()
	logs := &capturedLog{}
	w := &world{suite: startStack(t, func(o *stack.Options) {
		o.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		for _, f := range adjust {
			f(o)
		}
	})}
	w.tapEvents(t)
	return w, logs
}

func permissionsOf(t *testing.T, r response) []string {
	t.Helper()
	var cu struct {
		Permissions []string `json:"permissions"`
	}
	if err := json.Unmarshal(r.body, &cu); err != nil {
		t.Fatalf("GET /v1/me: %v: %s", err, r.body)
	}
	sort.Strings(cu.Permissions)
	return cu.Permissions
}

func TestSignInEndToEnd(t *testing.T) {
	w, logs := startSignInWorld(t)
	a := w.newMSP("Contoso MSP")
	acct := "/v1/accounts/" + a.id
	writers := w.must(200, "POST", acct+"/roles", a.adminKey,
		roleBody(t, "Sign-in writers", orgv1.PermissionLevel_PERMISSION_LEVEL_FULL, "organizations"))["id"].(string)
	readers := w.must(200, "POST", acct+"/roles", a.adminKey,
		roleBody(t, "Sign-in readers", orgv1.PermissionLevel_PERMISSION_LEVEL_READ_ONLY, "organizations"))["id"].(string)
	const email = "grace@contoso.example"
	user := w.must(200, "POST", acct+"/users", a.adminKey, fmt.Sprintf(
		`{"firstName":"Grace","lastName":"Hopper","email":%q,"roleId":%q,"allOrganizations":true}`, email, writers))["id"].(string)

	// Every secret the test handles, for the final scan.
	var secrets []string
	const password, common = "Cobol-and-compilers-1959", "1qaz2wsx3edc"
	secrets = append(secrets, password, common)

	// The invitation email, and its link's token: a common password is refused naming the
	// field, a good one sets the password, and the link works once.
	invitation := w.invite(a, user, email, 1)
	secrets = append(secrets, invitation)
	accept := func(token, pw string) response {
		body, _ := json.Marshal(map[string]string{"token": token, "password": pw})
		return w.do("POST", "/v1/invitations:accept", "", string(body))
	}
	if r := accept(invitation, common); r.code != http.StatusBadRequest || !slices.Contains(fieldViolations(r), "password") {
		t.Fatalf("accepting with a common password: %d %s, want 400 naming password", r.code, r.body)
	}
	if r := accept(invitation, password); r.code != http.StatusOK || r.json(t)["email"] != email {
		t.Fatalf("accepting the invitation: %d %s", r.code, r.body)
	}
	if r := accept(invitation, password+"!"); r.code != http.StatusBadRequest || !slices.Contains(fieldViolations(r), "token") {
		t.Errorf("the invitation link a second time: %d %s, want 400 naming token", r.code, r.body)
	}

	// Sign in: the session token is in the cookie only; the CSRF token is in the body.
	b := newBrowser(w.suite)
	r := b.signIn(email, password)
	if r.code != http.StatusOK || b.token() == "" || b.csrf == "" {
		t.Fatalf("sign in: %d %s", r.code, r.body)
	}
	first := b.token()
	secrets = append(secrets, first, b.csrf)
	if !strings.HasPrefix(r.header.Get("Set-Cookie"), sessionCookieName+"=") || !strings.Contains(r.header.Get("Set-Cookie"), "HttpOnly") ||
		!strings.Contains(r.header.Get("Set-Cookie"), "SameSite=Lax") {
		t.Errorf("Set-Cookie %q", r.header.Get("Set-Cookie"))
	}
	if bytes.Contains(r.body, []byte(first)) || r.json(t)["sessionToken"] != "" {
		t.Errorf("the sign-in's body holds the session token: %s", r.body)
	}

	me := b.do("GET", "/v1/me", "", false)
	if me.code != http.StatusOK {
		t.Fatalf("GET /v1/me: %d %s", me.code, me.body)
	}
	m := me.json(t)
	if m["user"].(map[string]any)["id"] != user || m["accountId"] != a.id || m["csrfToken"] != b.csrf ||
		m["session"].(map[string]any)["current"] != true {
		t.Errorf("GET /v1/me: %s", me.body)
	}
	if got := permissionsOf(t, me); !slices.Contains(got, "organizations:write") {
		t.Errorf("permissions %v, want organizations:write", got)
	}

	// A change with the cookie needs the CSRF token; with an API key it needs none.
	create := func(name string) string { return fmt.Sprintf(`{"name":%q}`, name) }
	if r := b.do("POST", acct+"/organizations", create("Without CSRF"), false); r.code != http.StatusForbidden ||
		!strings.Contains(string(r.body), "X-CSRF-Token") {
		t.Errorf("POST with the cookie, no X-CSRF-Token: %d %s, want 403", r.code, r.body)
	}
	if r := b.do("POST", acct+"/organizations", create("With CSRF"), true); r.code != http.StatusOK {
		t.Errorf("POST with the cookie and X-CSRF-Token: %d %s", r.code, r.body)
	}
	w.must(200, "POST", acct+"/organizations", a.adminKey, create("With the API key"))
	// A page of another site cannot use the cookie even with the token.
	if r := b.do("GET", "/v1/me", "", false, "Origin", "https://evil.example.net"); r.code != http.StatusForbidden {
		t.Errorf("GET /v1/me from another origin: %d %s", r.code, r.body)
	}

	// A person's own routes are for sessions: an API key acting as a user and the operator get 403.
	for _, route := range [][2]string{{"GET", "/v1/me"}, {"GET", "/v1/me/sessions"}, {"POST", "/v1/me/sessions:revokeAll"},
		{"POST", "/v1/me:changePassword"}, {"POST", "/v1/signOut"}} {
		for _, key := range []string{a.adminKey, operatorToken} {
			if r := w.do(route[0], route[1], key, "{}"); r.code != http.StatusForbidden {
				t.Errorf("%s %s with a bearer credential: %d %s, want 403", route[0], route[1], r.code, r.body)
			}
		}
	}

	// A role change applies on the very next request.
	w.must(200, "PATCH", acct+"/users/"+user+"?updateMask=roleId", a.adminKey, fmt.Sprintf(`{"roleId":%q}`, readers))
	if got := permissionsOf(t, b.do("GET", "/v1/me", "", false)); !slices.Contains(got, "organizations:read") || slices.Contains(got, "organizations:write") {
		t.Errorf("permissions after the change to read-only: %v", got)
	}
	if r := b.do("POST", acct+"/organizations", create("After the role change"), true); r.code != http.StatusForbidden {
		t.Errorf("creating an organization after the change to read-only: %d %s, want 403", r.code, r.body)
	}
	if r := b.do("GET", acct+"/organizations", "", false); r.code != http.StatusOK {
		t.Errorf("listing organizations read-only: %d %s", r.code, r.body)
	}

	// Sign out: the cookie is dropped, and a client that kept it is refused.
	if r := b.do("POST", "/v1/signOut", "{}", true); r.code != http.StatusOK {
		t.Fatalf("sign out: %d %s", r.code, r.body)
	}
	if b.token() != "" {
		t.Errorf("the cookie is still in the jar after sign out")
	}
	if r := w.withCookie("GET", "/v1/me", first, "", ""); r.code != http.StatusUnauthorized {
		t.Errorf("the signed-out cookie: %d %s, want 401", r.code, r.body)
	}

	// Deactivation: the live session is refused at once, with the same answer as no session.
	b.mustSignIn(email, password)
	second := b.token()
	secrets = append(secrets, second, b.csrf)
	if r := b.do("GET", "/v1/me/sessions", "", false); r.code != http.StatusOK || len(r.json(t)["sessions"].([]any)) != 1 {
		t.Errorf("my sessions: %d %s, want the one open", r.code, r.body)
	}
	w.must(200, "PATCH", acct+"/users/"+user+"?updateMask=setActive", a.adminKey, `{"setActive":false}`)
	if r := b.do("GET", "/v1/me", "", false); r.code != http.StatusUnauthorized {
		t.Errorf("the session of a deactivated user: %d %s, want 401", r.code, r.body)
	}
	if r := b.signIn(email, password); r.code != http.StatusUnauthorized {
		t.Errorf("signing in as a deactivated user: %d %s, want 401", r.code, r.body)
	}
	w.must(200, "PATCH", acct+"/users/"+user+"?updateMask=setActive", a.adminKey, `{"setActive":true}`)

	// A password reset: the same answer whether the email is known, the link by email, and
	// every session closed when it is used.
	b.mustSignIn(email, password)
	beforeReset := b.token()
	secrets = append(secrets, beforeReset, b.csrf)
	known := w.do("POST", "/v1/passwordResets", "", fmt.Sprintf(`{"email":%q}`, email))
	unknown := w.do("POST", "/v1/passwordResets", "", `{"email":"nobody@contoso.example"}`)
	if known.code != http.StatusOK || unknown.code != known.code || !bytes.Equal(known.body, unknown.body) {
		t.Errorf("reset for a known email: %d %s; for an unknown one: %d %s", known.code, known.body, unknown.code, unknown.body)
	}
	reset := w.mailedToken(email, 2, "/passwordResets/complete")
	const newPassword = "Nanoseconds-are-30-cm"
	secrets = append(secrets, reset, newPassword)
	body, _ := json.Marshal(map[string]string{"token": reset, "newPassword": common})
	if r := w.do("POST", "/v1/passwordResets:complete", "", string(body)); r.code != http.StatusBadRequest || !slices.Contains(fieldViolations(r), "newPassword") {
		t.Errorf("reset to a common password: %d %s, want 400 naming newPassword", r.code, r.body)
	}
	body, _ = json.Marshal(map[string]string{"token": reset, "newPassword": newPassword})
	if r := w.do("POST", "/v1/passwordResets:complete", "", string(body)); r.code != http.StatusOK {
		t.Fatalf("reset: %d %s", r.code, r.body)
	}
	if r := w.withCookie("GET", "/v1/me", beforeReset, "", ""); r.code != http.StatusUnauthorized {
		t.Errorf("a session opened before the reset: %d %s, want 401", r.code, r.body)
	}
	if r := newBrowser(w.suite).signIn(email, password); r.code != http.StatusUnauthorized {
		t.Errorf("the old password after the reset: %d %s, want 401", r.code, r.body)
	}
	after := newBrowser(w.suite)
	after.mustSignIn(email, newPassword)
	secrets = append(secrets, after.token(), after.csrf)

	// An unknown email is answered exactly as a wrong password, in about the same time (the
	// password is checked against a stand-in hash).
	wrong := func(who, pw string) (response, time.Duration) {
		body, _ := json.Marshal(map[string]string{"email": who, "password": pw})
		start := time.Now()
		r := w.do("POST", "/v1/signIn", "", string(body))
		return r, time.Since(start)
	}
	var knownTimes, unknownTimes []time.Duration
	for i := range 4 {
		pw := fmt.Sprintf("not-the-password-%d", i)
		secrets = append(secrets, pw)
		kr, kd := wrong(email, pw)
		ur, ud := wrong(fmt.Sprintf("stranger%d@contoso.example", i), pw)
		knownTimes, unknownTimes = append(knownTimes, kd), append(unknownTimes, ud)
		strip := func(r response) string {
			return strings.ReplaceAll(string(r.body), r.header.Get("X-Request-Id"), "")
		}
		if kr.code != http.StatusUnauthorized || ur.code != kr.code || strip(kr) != strip(ur) {
			t.Errorf("wrong password: %d %s; unknown email: %d %s", kr.code, kr.body, ur.code, ur.body)
		}
	}
	if km, um := median(knownTimes), median(unknownTimes); km > 4*um || um > 4*km {
		t.Errorf("a wrong password takes %v, an unknown email %v: the difference tells them apart", km, um)
	}

	// 100 wrong passwords in a row: throttled, and then the right password does not get through
	// either.
	throttled := 0
	for i := range 100 {
		pw := fmt.Sprintf("guess-%03d-wrong", i)
		r, _ := wrong(email, pw)
		switch r.code {
		case http.StatusTooManyRequests:
			throttled++
			if r.header.Get("Retry-After") == "" {
				t.Errorf("guess %d: 429 without Retry-After", i)
			}
		case http.StatusUnauthorized:
			if throttled > 0 {
				t.Errorf("guess %d: 401 after being throttled", i)
			}
		default:
			t.Fatalf("guess %d: %d %s", i, r.code, r.body)
		}
	}
	if throttled < 90 {
		t.Errorf("%d of 100 wrong passwords were throttled", throttled)
	}
	if r, _ := wrong(email, newPassword); r.code != http.StatusTooManyRequests {
		t.Errorf("the right password while throttled: %d %s, want 429", r.code, r.body)
	}
	// An unknown email is throttled exactly as a known one: five failures, then 429.
	var codes []int
	for i := range 7 {
		r, _ := wrong("stranger-throttled@contoso.example", fmt.Sprintf("guess-%d-unknown", i))
		codes = append(codes, r.code)
	}
	if want := []int{401, 401, 401, 401, 401, 429, 429}; !slices.Equal(codes, want) {
		t.Errorf("an unknown email's seven wrong passwords: %v, want %v as for a known one", codes, want)
	}

	// Nothing secret anywhere: every text and bytea column of every schema, every log line,
	// every event.
	w.settle(a)
	// The closed sessions' digests are gone with them; the open one's is there.
	scanDatabase(t, w.suite, secrets, []string{after.token()})
	all := logs.String()
	if !strings.Contains(all, `"route":"/v1/signIn"`) {
		t.Fatal("the captured log has no access line of a sign-in: it is not the stack's log")
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the logs hold a secret %q", s)
		}
	}
	scanEvents(t, w, secrets, ".user.invited", ".user.password_reset_requested")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// scanDatabase reads every text, json and bytea column of every schema of the stack's database:
// no secret appears in it, and each open session's token is there as its SHA-256 digest (so
// the scan reads where tokens are kept).
func scanDatabase(t *testing.T, s *suite, secrets, sessions []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_schema, table_name, column_name FROM information_schema.columns
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg_%'
		  AND data_type IN ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED')
		ORDER BY 1, 2, 3`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ schema, table, name string }
	var columns []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.schema, &c.table, &c.name); err != nil {
			t.Fatal(err)
		}
		columns = append(columns, c)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	digests := map[string][]byte{}
	for _, tok := range sessions {
		d := sha256.Sum256([]byte(tok))
		digests[tok] = d[:]
	}
	found := map[string]bool{}
	schemas := map[string]bool{}
	hashes := 0
	for _, c := range columns {
		// Binary results: a bytea column's bytes as stored, a text column's text.
		rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s.%s`, pgx.Identifier{c.name}.Sanitize(),
			pgx.Identifier{c.schema}.Sanitize(), pgx.Identifier{c.table}.Sanitize()), pgx.QueryResultFormats{pgx.BinaryFormatCode})
		if err != nil {
			t.Fatalf("%s.%s.%s: %v", c.schema, c.table, c.name, err)
		}
		schemas[c.schema] = true
		for rows.Next() {
			raw := rows.RawValues()[0]
			for _, s := range secrets {
				if bytes.Contains(raw, []byte(s)) {
					t.Errorf("%s.%s.%s holds a secret %q", c.schema, c.table, c.name, s)
				}
			}
			for tok, d := range digests {
				if bytes.Contains(raw, d) {
					found[tok] = true
				}
			}
			if bytes.Contains(raw, []byte("$argon2id$")) {
				hashes++
			}
		}
		rows.Close()
	}
	if !schemas["org"] || !schemas["notification"] {
		t.Errorf("scanned schemas %v: want org and notification among them", schemas)
	}
	// The scan reads where the secrets would be: each session's digest is there, and salted
	// hashes of the passwords.
	for _, tok := range sessions {
		if !found[tok] {
			t.Errorf("no column holds the SHA-256 digest of a session token: the scan missed the sessions")
		}
	}
	if hashes == 0 {
		t.Error("no column holds an argon2id hash: the scan missed the passwords")
	}
}

// scanEvents reads every message of every JetStream stream, and every message the world's tap
// saw: no secret in any payload or header, and events of each subject suffix in want were among
// them (so the scan read where the sign-in's events are).
func scanEvents(t *testing.T, w *world, secrets []string, want ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := adminJetStream(t, w.st)
	check := func(where string, data []byte, header nats.Header) {
		h, _ := json.Marshal(header)
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) || bytes.Contains(h, []byte(s)) {
				t.Errorf("%s holds a secret %q", where, s)
			}
		}
	}
	subjects := map[string]bool{}
	streams := js.ListStreams(ctx)
	n := 0
	for info := range streams.Info() {
		st, err := js.Stream(ctx, info.Config.Name)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			msg, err := st.GetMsg(ctx, seq)
			if err != nil {
				continue // deleted
			}
			n++
			subjects[msg.Subject] = true
			check(info.Config.Name+" "+msg.Subject, msg.Data, msg.Header)
		}
	}
	if streams.Err() != nil {
		t.Fatal(streams.Err())
	}
	w.mu.Lock()
	tapped := slices.Clone(w.events)
	w.mu.Unlock()
	for _, m := range tapped {
		subjects[m.Subject] = true
		check("event "+m.Subject, m.Data, m.Header)
	}
	for _, suffix := range want {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(subjects)), func(s string) bool { return strings.HasSuffix(s, suffix) }) {
			t.Errorf("%d stream messages and no %s event among them (subjects %v)", n, suffix, subjects)
		}
	}
}
