package gatewaysvc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/platform"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// fakeAccounts answers GetAccount for one account.
type fakeAccounts struct {
	orgv1.UnimplementedAccountServiceServer
}

func (fakeAccounts) GetAccount(_ context.Context, req *orgv1.GetAccountRequest) (*orgv1.Account, error) {
	if req.GetAccountId() != feedAccount {
		return nil, status.Error(codes.NotFound, "account not found")
	}
	return &orgv1.Account{Id: feedAccount, DisplayName: "Contoso"}, nil
}

type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// requests are the access-log lines once there are n of them: a line is written when the
// handler returns, which can be just after the client has read the whole response.
func (l *logLines) requests(t *testing.T, n int) []map[string]any {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if out := l.written(t); len(out) >= n || time.Now().After(deadline) {
			return out
		}
	}
}

// written are the access-log lines written so far.
func (l *logLines) written(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "request" {
			out = append(out, rec)
		}
	}
	return out
}

// Issue 17: the gateway wrote no access log. Each request gets one line at info naming the
// route template (not the path with its ids), status, duration, bytes, request id and account,
// and never the caller's credential or query string.
func TestEachRequestWritesOneAccessLogLine(t *testing.T) {
	org := &fakeOrg{valid: map[[32]byte]bool{sha256.Sum256([]byte(feedKey)): true}}
	srv := grpc.NewServer()
	orgv1.RegisterAuthServiceServer(srv, org)
	orgv1.RegisterAccountServiceServer(srv, fakeAccounts{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	var logs logLines
	g, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log:  slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Keys: testkit.Keyring(t), OperatorToken: operator,
		Upstreams: []gatewaysvc.Upstream{{Name: "org", Addr: lis.Addr().String(),
			Routes: []platform.Route{orgv1.RegisterAccountServiceHandler}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	hs := &http.Server{Handler: g}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { _ = hs.Close() })
	base := "http://" + hl.Addr().String()

	get := func(path, requestID string) (int, int) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+feedKey)
		req.Header.Set("X-Request-Id", requestID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, len(body)
	}

	code, size := get("/v1/accounts/"+feedAccount+"?access_token=query-s3cret", "req-access-log-0001")
	if code != http.StatusOK {
		t.Fatalf("GET account: %d", code)
	}
	lines := logs.requests(t, 1)
	if len(lines) != 1 {
		t.Fatalf("%d access-log lines for one request: %v", len(lines), lines)
	}
	want := map[string]any{
		"level": "INFO", "method": "GET", "route": "/v1/accounts/{accountId}", "status": float64(200),
		"bytes": float64(size), "request_id": "req-access-log-0001", "account_id": feedAccount,
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, lines[0][k], v, lines[0])
		}
	}
	if d, ok := lines[0]["duration_ms"].(float64); !ok || d <= 0 {
		t.Errorf("duration_ms = %v", lines[0]["duration_ms"])
	}

	// A refusal and a path no route has are logged too, the latter without the path.
	if code, _ := get("/v1/accounts/00000000-0000-4000-8000-0000000000bb", "req-access-log-0002"); code != http.StatusNotFound {
		t.Fatalf("GET another account: %d", code)
	}
	if code, _ := get("/v1/no/such/"+feedAccount, "req-access-log-0003"); code != http.StatusNotFound {
		t.Fatalf("GET unknown path: %d", code)
	}
	lines = logs.requests(t, 3)
	if len(lines) != 3 || lines[1]["status"] != float64(404) || lines[1]["route"] != "/v1/accounts/{accountId}" ||
		lines[2]["route"] != "unmatched" || lines[2]["request_id"] != "req-access-log-0003" {
		t.Fatalf("lines: %v", lines)
	}

	// A refused credential and the gateway's own routes are requests too.
	req, _ := http.NewRequest("GET", base+"/v1/accounts/"+feedAccount, nil)
	req.Header.Set("Authorization", "Bearer not-a-key-s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lines = logs.requests(t, 5)
	if len(lines) != 5 || lines[3]["status"] != float64(401) || lines[3]["route"] != "/v1/accounts/{accountId}" ||
		lines[3]["account_id"] != nil || lines[4]["route"] != "/openapi.json" || lines[4]["status"] != float64(200) {
		t.Fatalf("lines: %v", lines)
	}

	all := logs.String()
	for _, secret := range []string{feedKey, "Bearer", "query-s3cret", "access_token", "/v1/no/such", "not-a-key-s3cret"} {
		if strings.Contains(all, secret) {
			t.Errorf("the log holds %q:\n%s", secret, all)
		}
	}
}
