package rpc_test

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	notificationv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/notification/v1"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/rpc"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in    string
		uri   string
		addrs []string
		err   string // in the error; "" for none
	}{
		{in: "127.0.0.1:9101", uri: "127.0.0.1:9101"},
		{in: " org:9101 ", uri: "org:9101"},
		{in: "[::1]:9101", uri: "[::1]:9101"},
		{in: "dns:///org-headless.orgplane.svc.cluster.local:9101", uri: "dns:///org-headless.orgplane.svc.cluster.local:9101"},
		{in: "dns://10.96.0.10:53/org-headless:9101", uri: "dns://10.96.0.10:53/org-headless:9101"},
		{in: "unix:///run/org.sock", uri: "unix:///run/org.sock"},
		{in: "10.0.0.5:9101,10.0.0.6:9101", addrs: []string{"10.0.0.5:9101", "10.0.0.6:9101"}},
		{in: "org-0.org:9101, org-1.org:9101 ,org-2.org:9101", addrs: []string{"org-0.org:9101", "org-1.org:9101", "org-2.org:9101"}},
		{in: "", err: "empty address"},
		{in: "   ", err: "empty address"},
		{in: "org", err: `"org" is not host:port`},
		{in: "org:", err: "the port must be a number"},
		{in: "org:http", err: "the port must be a number"},
		{in: "org:0", err: "the port must be a number"},
		{in: "org:70000", err: "the port must be a number"},
		{in: "a:1,", err: "replica 2 of"},
		{in: "a:1,,b:2", err: "replica 2 of"},
		{in: "a:1,b", err: `replica 2 of "a:1,b": "b" is not host:port`},
		{in: "a:1,b:2,a:1", err: "lists a:1 twice"},
		{in: "consul:///org", err: `unknown scheme "consul"`},
		{in: "orgplane-replicas:///org", err: "unknown scheme"},
		{in: "dns:///a:1,b:2", err: "a target URI names one service"},
	} {
		got, err := rpc.ParseTarget(c.in)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseTarget(%q) = %+v, %v; want an error with %q", c.in, got, err, c.err)
			}
		case err != nil:
			t.Errorf("ParseTarget(%q): %v", c.in, err)
		case got.URI != c.uri || !slices.Equal(got.Addrs, c.addrs):
			t.Errorf("ParseTarget(%q) = %+v, want URI %q addrs %v", c.in, got, c.uri, c.addrs)
		}
	}
}

var validCreate = &orgv1.CreateAccountRequest{Account: &orgv1.Account{DisplayName: "Contoso"},
	Administrator: &orgv1.User{FirstName: "Ada", LastName: "Admin", Email: "ada@example.com"}}

// counting answers CreateAccount and counts the calls it served.
type counting struct {
	orgv1.UnimplementedAccountServiceServer
	calls atomic.Int64
}

func (c *counting) CreateAccount(context.Context, *orgv1.CreateAccountRequest) (*orgv1.CreateAccountResponse, error) {
	c.calls.Add(1)
	return &orgv1.CreateAccountResponse{Account: &orgv1.Account{Id: "a1"}}, nil
}

// replica is one server of a service, stopped with Stop (as a killed process's connections end).
type replica struct {
	addr string
	impl *counting
	srv  *rpc.Server
	stop context.CancelFunc
	done chan struct{}
}

func startReplica(t *testing.T, keys *identity.Keyring, opts ...grpc.ServerOption) *replica {
	t.Helper()
	srv, err := rpc.NewServer(slog.New(slog.DiscardHandler), keys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{impl: &counting{}, srv: srv, done: make(chan struct{})}
	orgv1.RegisterAccountServiceServer(srv, r.impl)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	srv.StopTimeout = time.Millisecond
	go func() {
		defer close(r.done)
		_ = srv.Serve(ctx, lis)
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// Calls on a listed target reach every replica, and when one replica goes away the calls that
// follow go to the others and succeed.
func TestListedReplicasShareCallsAndADeadOneIsSkipped(t *testing.T) {
	t.Parallel()
	keys := testkit.Keyring(t)
	a, b, c := startReplica(t, keys), startReplica(t, keys), startReplica(t, keys)
	conn, err := rpc.Dial(strings.Join([]string{a.addr, b.addr, c.addr}, ","), keys, rpc.Audience("org"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	// The replicas were started without ServiceName, so they take the unnamed audience only: a
	// call with tokens for "org" is refused, which shows the audience option took effect.
	client := orgv1.NewAccountServiceClient(conn)
	ctx := identity.With(context.Background(), identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"})
	if _, err := client.CreateAccount(ctx, validCreate); err == nil {
		t.Fatal("a token for org was accepted by a server for the unnamed audience")
	}

	conn, err = rpc.Dial(strings.Join([]string{a.addr, b.addr, c.addr}, ","), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client = orgv1.NewAccountServiceClient(conn)
	call := func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := client.CreateAccount(cctx, validCreate, grpc.WaitForReady(false))
		return err
	}
	// The first calls may find some replicas still connecting; all three take calls soon after.
	deadline := time.Now().Add(10 * time.Second)
	for a.impl.calls.Load() == 0 || b.impl.calls.Load() == 0 || c.impl.calls.Load() == 0 {
		if err := call(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls per replica %d %d %d: round robin does not reach every replica", a.impl.calls.Load(), b.impl.calls.Load(), c.impl.calls.Load())
		}
	}
	before := []int64{a.impl.calls.Load(), b.impl.calls.Load(), c.impl.calls.Load()}
	for range 30 {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range []*replica{a, b, c} {
		if n := r.impl.calls.Load() - before[i]; n < 5 {
			t.Errorf("replica %d served %d of 30 calls once all were connected; round robin gives each about 10", i+1, n)
		}
	}

	b.stop()
	<-b.done
	served := b.impl.calls.Load()
	// The connection to b is gone; once the client has seen it go (at once on loopback), every
	// call lands on a or c.
	time.Sleep(100 * time.Millisecond)
	for i := range 40 {
		if err := call(); err != nil {
			t.Fatalf("call %d after one replica stopped: %v", i+1, err)
		}
	}
	if b.impl.calls.Load() != served {
		t.Errorf("the stopped replica served calls")
	}
}

// A dns:/// target, the form a Kubernetes headless Service takes, dials through gRPC's resolver.
func TestDNSTargetDials(t *testing.T) {
	t.Parallel()
	keys := testkit.Keyring(t)
	r := startReplica(t, keys)
	_, port, _ := net.SplitHostPort(r.addr)
	conn, err := rpc.Dial("dns:///localhost:"+port, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(identity.With(context.Background(), identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"}), 5*time.Second)
	defer cancel()
	if _, err := orgv1.NewAccountServiceClient(conn).CreateAccount(ctx, validCreate); err != nil {
		t.Fatal(err)
	}
	if r.impl.calls.Load() != 1 {
		t.Fatalf("the replica served %d calls, want 1", r.impl.calls.Load())
	}
}

// Replicas added behind a name take calls from clients already connected: a server ends each
// connection at its age limit, and the client, reconnecting, looks the name up again. The name
// here is a dns:/// target whose lookups the test answers, first with one replica, then two.
func TestAConnectionsAgeLimitMakesClientsFindNewReplicas(t *testing.T) {
	t.Parallel()
	keys := testkit.Keyring(t)
	age := rpc.ConnectionAge(300*time.Millisecond, 5*time.Second)
	a, b := startReplica(t, keys, age), startReplica(t, keys, age)
	dns := manual.NewBuilderWithScheme("dns")
	dns.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: a.addr}}})
	var lookups atomic.Int64
	dns.ResolveNowCallback = func(resolver.ResolveNowOptions) {
		// Scaled out since the first lookup; answered asynchronously, as the real resolver does.
		if lookups.Add(1) == 1 {
			go dns.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: a.addr}, {Addr: b.addr}}})
		}
	}
	conn, err := rpc.Dial("dns:///org-headless:9101", keys, grpc.WithResolvers(dns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := orgv1.NewAccountServiceClient(conn)
	ctx := identity.With(context.Background(), identity.Identity{Kind: identity.KindOperator, PrincipalID: "op"})
	deadline := time.Now().Add(20 * time.Second)
	for b.impl.calls.Load() == 0 {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := client.CreateAccount(cctx, validCreate)
		cancel()
		if err != nil {
			t.Fatalf("a call while connections age: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the added replica took no call in 20 s (%d lookups, %d calls on the first)", lookups.Load(), a.impl.calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the added replica took calls after %d lookup(s); the first served %d", lookups.Load(), a.impl.calls.Load())
}

// A server stream open past the connection's age limit goes on: the limit asks the client to
// reconnect for new calls, and the grace lets calls in flight finish.
func TestAStreamOutlivesTheConnectionsAgeLimit(t *testing.T) {
	t.Parallel()
	keys := testkit.Keyring(t)
	srv, err := rpc.NewServer(slog.New(slog.DiscardHandler), keys, rpc.ConnectionAge(200*time.Millisecond, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	feed := &ticker{}
	notificationv1.RegisterNotificationServiceServer(srv, feed)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(sctx, lis) }()
	t.Cleanup(func() { stop(); <-done })

	conn, err := rpc.Dial(lis.Addr().String(), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	const account = "00000000-0000-4000-8000-000000000001"
	member := identity.Identity{Kind: identity.KindUser, PrincipalID: "u1", UserID: "u1", AccountID: account, SessionID: "s1"}
	ctx, cancel := context.WithTimeout(identity.With(context.Background(), member), 10*time.Second)
	defer cancel()
	stream, err := notificationv1.NewNotificationServiceClient(conn).StreamNotifications(ctx,
		&notificationv1.StreamNotificationsRequest{AccountId: account})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n := 0
	for time.Since(start) < 1500*time.Millisecond { // seven times the age limit
		if _, err := stream.Recv(); err != nil {
			t.Fatalf("the stream ended after %v and %d messages: %v", time.Since(start), n, err)
		}
		n++
	}
}

// ticker streams a notification every 50 ms until the call ends.
type ticker struct {
	notificationv1.UnimplementedNotificationServiceServer
}

func (ticker) StreamNotifications(_ *notificationv1.StreamNotificationsRequest, s grpc.ServerStreamingServer[notificationv1.Notification]) error {
	for {
		select {
		case <-s.Context().Done():
			return nil
		case <-time.After(50 * time.Millisecond):
			if err := s.Send(&notificationv1.Notification{Title: "tick"}); err != nil {
				return err
			}
		}
	}
}
