package gatewaysvc_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

// fakeOrg answers AuthenticateApiKey for the keys it was given and counts every call, so a test
// sees which requests cost org a lookup.
type fakeOrg struct {
	orgv1.UnimplementedAuthServiceServer
	valid map[[32]byte]bool
	calls atomic.Int64
}

func (f *fakeOrg) AuthenticateApiKey(_ context.Context, req *orgv1.AuthenticateApiKeyRequest) (*orgv1.AuthenticateApiKeyResponse, error) {
	f.calls.Add(1)
	if f.valid[[32]byte(req.GetDigest())] {
		return &orgv1.AuthenticateApiKeyResponse{AccountId: "00000000-0000-4000-8000-0000000000aa", ApiKeyId: "k"}, nil
	}
	return nil, status.Error(codes.Unauthenticated, "authentication required")
}

// throttled starts a gateway whose only upstream is a fake org accepting the valid keys.
func throttled(t *testing.T, cfg gatewaysvc.AuthThrottle, valid ...string) (http.Handler, *fakeOrg) {
	t.Helper()
	org := &fakeOrg{valid: map[[32]byte]bool{}}
	for _, k := range valid {
		org.valid[sha256.Sum256([]byte(k))] = true
	}
	srv := grpc.NewServer()
	orgv1.RegisterAuthServiceServer(srv, org)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	g, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log: slog.New(slog.DiscardHandler), Keys: testkit.Keyring(t), OperatorToken: operator,
		Upstreams: []gatewaysvc.Upstream{{Name: "org", Addr: lis.Addr().String()}}, AuthFailures: cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g, org
}

const operator = "op_0123456789abcdefghijklmnopqrstuvwxyz"

// hour is an allowance that does not refill while a test runs.
func hour(burst int) gatewaysvc.Allowance {
	return gatewaysvc.Allowance{Burst: burst, Every: time.Hour}
}

// badKey is a wrong key with its own prefix (the first 12 characters).
func badKey(i int) string { return fmt.Sprintf("opk_%08dxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i) }

func get(h http.Handler, remote, key string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/v1/accounts/00000000-0000-4000-8000-0000000000aa/organizations", nil)
	r.RemoteAddr = remote
	r.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// requireThrottled checks a 429 in the error shape with a Retry-After a client can obey.
func requireThrottled(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("%s: %d %s, want 429", what, w.Code, w.Body)
	}
	if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("%s: Retry-After %q", what, w.Header().Get("Retry-After"))
	}
	var body struct {
		Code    int              `json:"code"`
		Details []map[string]any `json:"details"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Code != int(codes.ResourceExhausted) ||
		len(body.Details) != 1 || body.Details[0]["@type"] != "type.googleapis.com/google.rpc.RetryInfo" {
		t.Fatalf("%s: body %s", what, w.Body)
	}
}

func requirePassed(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	if w.Code == http.StatusUnauthorized || w.Code == http.StatusTooManyRequests {
		t.Fatalf("%s: %d %s, want it through authentication", what, w.Code, w.Body)
	}
}

func TestRefusedKeysAreThrottledPerClientAddress(t *testing.T) {
	const good, unseen = "opk_goodgoodgood-valid-key-used-before", "opk_freshfresh-valid-key-never-used"
	g, org := throttled(t, gatewaysvc.AuthThrottle{PerAddress: hour(5), PerPrefix: hour(100)}, good, unseen)
	requirePassed(t, get(g, "10.0.0.3:1000", good), "the valid key from elsewhere")

	for i := range 5 {
		if w := get(g, "10.0.0.1:1000", badKey(i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("bad key %d within the allowance: %d %s", i, w.Code, w.Body)
		}
	}
	before := org.calls.Load()
	for i := 5; i < 50; i++ {
		requireThrottled(t, get(g, "10.0.0.1:"+strconv.Itoa(2000+i), badKey(i)), "bad key past the allowance")
	}
	if n := org.calls.Load() - before; n != 0 {
		t.Errorf("throttled requests cost org %d lookups", n)
	}
	// The throttled address cannot tell a valid guess from a bad one...
	requireThrottled(t, get(g, "10.0.0.1:3000", unseen), "an unseen valid key from the throttled address")
	// ...while a key org accepted recently keeps working there (a client behind the same NAT).
	requirePassed(t, get(g, "10.0.0.1:3001", good), "the recently accepted key from the throttled address")
	// Other addresses keep their own allowance.
	if w := get(g, "10.0.0.2:1000", badKey(99)); w.Code != http.StatusUnauthorized {
		t.Errorf("another address: %d %s", w.Code, w.Body)
	}
}

func TestValidKeysNeverSpendTheAllowance(t *testing.T) {
	var valid []string
	for i := range 40 {
		valid = append(valid, fmt.Sprintf("opk_valid%03d-key-secret-part", i))
	}
	g, _ := throttled(t, gatewaysvc.AuthThrottle{PerAddress: hour(5), PerPrefix: hour(5)}, valid...)
	// Each valid key is new to the gateway: checking it holds a place until org answers, then
	// gives it back.
	for round := range 3 {
		for _, k := range valid {
			requirePassed(t, get(g, "10.0.0.4:1000", k), fmt.Sprintf("valid key, round %d", round))
		}
	}
	for i := range 5 {
		if w := get(g, "10.0.0.4:1000", badKey(i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("bad key %d after 120 valid requests: %d %s; valid keys spent the allowance", i, w.Code, w.Body)
		}
	}
	requireThrottled(t, get(g, "10.0.0.4:1000", badKey(5)), "the sixth bad key")
}

func TestRefusedKeysAreThrottledPerKeyPrefix(t *testing.T) {
	// An attacker spread over many addresses guessing at one published prefix.
	const victim = "opk_VICTIMPXthe-rest-of-the-victims-key"
	g, org := throttled(t, gatewaysvc.AuthThrottle{PerAddress: hour(100), PerPrefix: hour(3)}, victim)
	requirePassed(t, get(g, "192.0.2.1:1000", victim), "the victim's key before the attack")
	for i := range 3 {
		if w := get(g, fmt.Sprintf("10.1.0.%d:1000", i), "opk_VICTIMPXguess"+strconv.Itoa(i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
		}
	}
	before := org.calls.Load()
	for i := 3; i < 40; i++ {
		requireThrottled(t, get(g, fmt.Sprintf("10.1.0.%d:1000", i), "opk_VICTIMPXguess"+strconv.Itoa(i)), "a guess at the prefix from a new address")
	}
	if n := org.calls.Load() - before; n != 0 {
		t.Errorf("throttled guesses cost org %d lookups", n)
	}
	requirePassed(t, get(g, "192.0.2.1:1000", victim), "the victim's own key during the attack")
	if w := get(g, "10.1.0.200:1000", badKey(1)); w.Code != http.StatusUnauthorized {
		t.Errorf("another prefix: %d %s", w.Code, w.Body)
	}
}

func TestAConcurrentBurstGetsNoMoreThanTheAllowance(t *testing.T) {
	const fresh = "opk_burstburst-valid-key-opening-with-a-burst"
	g, org := throttled(t, gatewaysvc.AuthThrottle{PerAddress: hour(5), PerPrefix: hour(100)}, fresh)
	got := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			w := get(g, "10.2.0.1:1000", badKey(i))
			mu.Lock()
			got[w.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got[http.StatusUnauthorized] != 5 || got[http.StatusTooManyRequests] != 295 || org.calls.Load() != 5 {
		t.Fatalf("300 concurrent bad keys: %v, org asked %d times; want 5 refused, 295 throttled, 5 lookups", got, org.calls.Load())
	}
	// A client opening with a burst on one valid key is not mistaken for it.
	var refused atomic.Int64
	for range 50 {
		wg.Go(func() {
			if w := get(g, "10.2.0.2:1000", fresh); w.Code == http.StatusUnauthorized || w.Code == http.StatusTooManyRequests {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if refused.Load() != 0 {
		t.Fatalf("%d of 50 concurrent requests with a valid key were refused", refused.Load())
	}
}

func TestForwardedForCountsOnlyFromTrustedProxies(t *testing.T) {
	g, _ := throttled(t, gatewaysvc.AuthThrottle{PerAddress: hour(2), PerPrefix: hour(100),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}})
	n := 0
	bad := func() string { n++; return badKey(n) }
	// A client cannot choose its address by writing the header itself.
	get(g, "203.0.113.9:1000", bad(), "X-Forwarded-For", "198.51.100.1")
	get(g, "203.0.113.9:1000", bad(), "X-Forwarded-For", "198.51.100.2")
	requireThrottled(t, get(g, "203.0.113.9:1000", bad(), "X-Forwarded-For", "198.51.100.3"), "a spoofed X-Forwarded-For")

	// Behind the load balancer, the client is the last hop the proxies did not write.
	viaProxy := func(xff string) *httptest.ResponseRecorder {
		return get(g, "10.9.0.1:1000", bad(), "X-Forwarded-For", xff)
	}
	for range 2 {
		if w := viaProxy("198.51.100.7"); w.Code != http.StatusUnauthorized {
			t.Fatalf("client behind the proxy: %d", w.Code)
		}
	}
	requireThrottled(t, viaProxy("198.51.100.7"), "the same client behind the proxy")
	requireThrottled(t, viaProxy("192.0.2.66, 198.51.100.7"), "the client prepending a made-up hop")
	requireThrottled(t, viaProxy("198.51.100.7, 10.9.3.3"), "the client through two proxies")
	if w := viaProxy("198.51.100.8"); w.Code != http.StatusUnauthorized {
		t.Errorf("another client behind the proxy: %d", w.Code)
	}
}

func TestIPv6ClientsCountByTheirSlash64(t *testing.T) {
	g, _ := throttled(t, gatewaysvc.AuthThrottle{PerAddress: hour(2), PerPrefix: hour(100)})
	get(g, "[2001:db8:1:2::1]:1000", badKey(1))
	get(g, "[2001:db8:1:2::2]:1000", badKey(2))
	requireThrottled(t, get(g, "[2001:db8:1:2:ffff:ffff:ffff:ffff]:1000", badKey(3)), "another address of the same /64")
	if w := get(g, "[2001:db8:1:3::1]:1000", badKey(4)); w.Code != http.StatusUnauthorized {
		t.Errorf("another /64: %d", w.Code)
	}
}
