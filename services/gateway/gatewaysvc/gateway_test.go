package gatewaysvc_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
	"github.com/orgplane/orgplane/services/gateway/gatewaysvc"
)

func serve(t *testing.T, keys *identity.Keyring) string {
	t.Helper()
	srv, err := rpc.NewServer(slog.New(slog.DiscardHandler), keys)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.ServeGRPC(t, srv)
}

func closedAddr(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// hungAddr is a service that takes connections and never answers on them, as a process stuck
// in a deadlock or a full garbage collection would.
func hungAddr(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return lis.Addr().String()
}

func readyGateway(t *testing.T, keys *identity.Keyring, up []gatewaysvc.Upstream) *gatewaysvc.Gateway {
	t.Helper()
	g, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log: slog.New(slog.DiscardHandler), Keys: keys, Upstreams: up,
		OperatorToken: "op_0123456789abcdefghijklmnopqrstuvwxyz",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// readyz asks g for /readyz with query and decodes the JSON answer.
func readyz(t *testing.T, g http.Handler, query string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz"+query, nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("/readyz%s: %v: %s", query, err, rec.Body)
	}
	return rec.Code, body
}

var serviceNames = []string{"org", "mapping", "integration-sync", "notification", "billing"}

// upstreams serves every service of the suite, at the address down gives for those it names.
func upstreams(t *testing.T, keys *identity.Keyring, down map[string]string) []gatewaysvc.Upstream {
	var out []gatewaysvc.Upstream
	for _, name := range serviceNames {
		addr, ok := down[name]
		if !ok {
			addr = serve(t, keys)
		}
		out = append(out, gatewaysvc.Upstream{Name: name, Addr: addr})
	}
	return out
}

func servicesOf(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	services, ok := body["services"].(map[string]any)
	if !ok || len(services) != len(serviceNames) {
		t.Fatalf("services: %v, want every service reported", body)
	}
	return services
}

func TestReadyzNeedsEveryServiceServing(t *testing.T) {
	// Not parallel: gatewaysvc.New sets grpc-gateway's package-wide query parser.
	keys := testkit.Keyring(t)
	all := upstreams(t, keys, nil)
	if code, body := readyz(t, readyGateway(t, keys, all), ""); code != http.StatusOK || body["ready"] != true {
		t.Fatalf("all up: %d %v", code, body)
	}
	oneDown := slices.Clone(all)
	oneDown[4].Addr = closedAddr(t)
	code, body := readyz(t, readyGateway(t, keys, oneDown), "")
	if code != http.StatusServiceUnavailable || body["ready"] != false {
		t.Fatalf("billing down: %d %v", code, body)
	}
	if s := servicesOf(t, body)["billing"]; s != "UNREACHABLE" {
		t.Errorf("billing reported as %v", s)
	}
	if ex, ok := body["excluded"].([]any); !ok || len(ex) != 0 {
		t.Errorf("excluded = %v, want an empty list", body["excluded"])
	}
}

// TestReadyzExcludedServicesAreReportedButDoNotDecide: kube-apiserver's exclude parameter, which
// the Helm chart's probe uses so that one service's outage does not take every gateway pod out
// of its Service.
func TestReadyzExcludedServicesAreReportedButDoNotDecide(t *testing.T) {
	keys := testkit.Keyring(t)
	allUp := readyGateway(t, keys, upstreams(t, keys, nil))
	notificationDown := readyGateway(t, keys, upstreams(t, keys, map[string]string{"notification": closedAddr(t)}))
	for _, c := range []struct {
		name     string
		g        http.Handler
		query    string
		want     int
		excluded []any
	}{
		{"a service down decides", notificationDown, "", http.StatusServiceUnavailable, []any{}},
		{"excluding it", notificationDown, "?exclude=notification", http.StatusOK, []any{"notification"}},
		{"excluding it with kube's verbose", notificationDown, "?verbose&exclude=notification", http.StatusOK, []any{"notification"}},
		{"excluding two, in the gateway's order", notificationDown, "?exclude=billing&exclude=notification&exclude=billing", http.StatusOK, []any{"notification", "billing"}},
		{"excluding another one", notificationDown, "?exclude=billing", http.StatusServiceUnavailable, []any{"billing"}},
		{"excluding one that is up", allUp, "?exclude=billing", http.StatusOK, []any{"billing"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := readyz(t, c.g, c.query)
			if code != c.want || body["ready"] != (c.want == http.StatusOK) {
				t.Errorf("%d %v, want %d", code, body, c.want)
			}
			if ex, _ := body["excluded"].([]any); !slices.Equal(ex, c.excluded) {
				t.Errorf("excluded = %v, want %v", body["excluded"], c.excluded)
			}
			services := servicesOf(t, body)
			for _, name := range serviceNames {
				want := "SERVING"
				if c.g == notificationDown && name == "notification" {
					want = "UNREACHABLE"
				}
				if services[name] != want {
					t.Errorf("%s reported as %v, want %s", name, services[name], want)
				}
			}
		})
	}
}

// TestReadyzRefusesWhatItDoesNotKnow: a misspelt exclusion in a probe would silently change what
// readiness requires, so it is a 400 naming the parameter, in the API's error shape.
func TestReadyzRefusesWhatItDoesNotKnow(t *testing.T) {
	keys := testkit.Keyring(t)
	g := readyGateway(t, keys, upstreams(t, keys, nil))
	for _, c := range []struct{ query, field, says string }{
		{"?exclude=notifcation", "exclude", `"notifcation" is not a service`},
		{"?exclude=notification&exclude=nope", "exclude", `"nope" is not a service`},
		{"?exclude=", "exclude", `"" is not a service`},
		{"?exclude=org,billing", "exclude", `"org,billing" is not a service`},
		{"?exlude=notification", "exlude", "is not a parameter of /readyz"},
		{"?exclude=%zz", "query", "is not a valid query string"},
	} {
		t.Run(c.query, func(t *testing.T) {
			code, body := readyz(t, g, c.query)
			if code != http.StatusBadRequest || body["code"] != float64(codes.InvalidArgument) {
				t.Fatalf("%d %v, want 400 InvalidArgument", code, body)
			}
			if msg, _ := body["message"].(string); !strings.HasPrefix(msg, c.field+": ") || !strings.Contains(msg, c.says) {
				t.Errorf("message %q, want it to name %s and say %s", msg, c.field, c.says)
			}
			details, _ := body["details"].([]any)
			if len(details) != 1 || !strings.Contains(mustJSON(t, details[0]), `"field":"`+c.field+`"`) {
				t.Errorf("details %v, want a BadRequest naming %s", details, c.field)
			}
		})
	}
}

// TestReadyzAHungServiceCostsTheOthersNothing: the services are asked at once within one budget,
// so a service that never answers is reported as such, the others as what they said, and
// /readyz still answers within the budget (the probe's timeout is 3 s in the Helm chart).
func TestReadyzAHungServiceCostsTheOthersNothing(t *testing.T) {
	keys := testkit.Keyring(t)
	up := upstreams(t, keys, map[string]string{"notification": hungAddr(t)})
	// First in the gateway's order: asked in turn, it would spend the budget of all the others.
	i := slices.IndexFunc(up, func(u gatewaysvc.Upstream) bool { return u.Name == "notification" })
	hung := up[i]
	up = append([]gatewaysvc.Upstream{hung}, slices.Delete(up, i, i+1)...)
	g := readyGateway(t, keys, up)
	for _, c := range []struct {
		query string
		want  int
	}{{"", http.StatusServiceUnavailable}, {"?exclude=notification", http.StatusOK}} {
		start := time.Now()
		code, body := readyz(t, g, c.query)
		// The budget is 2 s; the rest is slack for a loaded machine.
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("/readyz%s took %v, want about the 2 s budget", c.query, took)
		}
		if code != c.want {
			t.Errorf("/readyz%s = %d %v, want %d", c.query, code, body, c.want)
		}
		services := servicesOf(t, body)
		for _, name := range serviceNames {
			want := "SERVING"
			if name == "notification" {
				want = "UNREACHABLE: no answer within 2s"
			}
			if services[name] != want {
				t.Errorf("/readyz%s: %s reported as %v, want %s", c.query, name, services[name], want)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOperatorTokenMustBeLong(t *testing.T) {
	_, err := gatewaysvc.New(context.Background(), gatewaysvc.Config{
		Log: slog.New(slog.DiscardHandler), Keys: testkit.Keyring(t), OperatorToken: "short",
		Upstreams: []gatewaysvc.Upstream{{Name: "org", Addr: "127.0.0.1:1"}},
	})
	if err == nil {
		t.Fatal("a short operator token was accepted")
	}
}
