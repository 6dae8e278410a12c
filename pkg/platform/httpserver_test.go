package platform_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/pkg/platform"
)

// serve runs h with limits on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler, limits platform.HTTPLimits) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = platform.ServeHTTPWith(ctx, lis, h, limits) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

func fastLimits() platform.HTTPLimits {
	l := platform.DefaultHTTPLimits()
	l.ReadHeaderTimeout, l.ReadTimeout, l.WriteTimeout, l.IdleTimeout = 300*time.Millisecond, 600*time.Millisecond, time.Second, 400*time.Millisecond
	l.ShutdownTimeout = time.Second
	return l
}

// The limits every server gets are set, and in the order that makes sense.
func TestDefaultHTTPLimitsAreAllSet(t *testing.T) {
	for name, l := range map[string]platform.HTTPLimits{"default": platform.DefaultHTTPLimits(), "gateway": platform.GatewayHTTPLimits()} {
		if l.ReadHeaderTimeout <= 0 || l.ReadTimeout < l.ReadHeaderTimeout || l.WriteTimeout <= 30*time.Second ||
			l.IdleTimeout <= 0 || l.MaxHeaderBytes <= 0 || l.ShutdownTimeout < 30*time.Second {
			t.Errorf("%s limits incomplete: %+v", name, l)
		}
	}
	if platform.GatewayHTTPLimits().MaxConnsPerClient <= 0 {
		t.Error("the gateway has no per-client connection cap")
	}
}

// A slowloris body (headers on time, then a byte now and then) is cut by the read deadline: the
// handler's read fails and the connection is closed, instead of being held for as long as the
// client likes.
func TestSlowBodyIsCutByTheReadDeadline(t *testing.T) {
	readErr := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), fastLimits())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	closed := make(chan time.Duration, 1)
	go func() {
		for i := 0; i < 100; i++ {
			if _, err := c.Write([]byte("a")); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		closed <- time.Since(start)
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the handler read the whole slow body")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("slow body held for %s with a 600ms read deadline", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow body still being read after 5s")
	}
	if d := <-closed; d > 3*time.Second {
		t.Fatalf("connection kept open %s", d)
	}
}

// An idle keep-alive connection is closed by the server; oversized headers are refused.
func TestIdleConnectionsAndLargeHeadersAreBounded(t *testing.T) {
	limits := fastLimits()
	limits.MaxHeaderBytes = 4 << 10
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }), limits)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want closed by the server", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("idle connection closed after %s, idle timeout 400ms", d)
	}

	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: %d, want 431", resp.StatusCode)
	}
}

// One address gets at most MaxConnsPerClient connections; the next is answered 503 with
// Retry-After and closed, and a freed slot can be used again.
func TestConnectionsPerClientAreCapped(t *testing.T) {
	limits := fastLimits()
	limits.IdleTimeout = 10 * time.Second
	limits.MaxConnsPerClient = 3
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }), limits)
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // accepted
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	fmt.Fprintf(extra, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = extra.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "too many connections") {
		t.Fatalf("connection over the cap: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	held[0].Close()
	time.Sleep(100 * time.Millisecond)
	again, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	fmt.Fprintf(again, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = again.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(again), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a slot was freed: %v %v", resp, err)
	}
}

// A load balancer's address (Uncapped) is not capped: its connections carry many clients.
func TestUncappedAddressesPassTheConnectionCap(t *testing.T) {
	limits := fastLimits()
	limits.MaxConnsPerClient = 1
	limits.Uncapped = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }), limits)
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d from an uncapped address: %v %v", i, resp, err)
		}
	}
}
