package stack_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orgplane/orgplane/deploy/devkit/testkit"
	"github.com/orgplane/orgplane/deploy/devstack/stack"
)

// On Ctrl-C the gateway drains first: a request already being received when the stop begins
// is served by services that are still up (not refused by services already gone, naming their
// internal address), and only after the gateway has stopped do the services stop. Afterwards the
// gateway takes no connection at all.
func TestShutdownDrainsTheGatewayBeforeTheServices(t *testing.T) {
	o := stack.Options{
		Log: testLog(), DatabaseURL: testkit.EmptyDB(t), NATSDir: t.TempDir(), Host: "127.0.0.1",
		AdminPort: -1, Keys: testkit.Keyring(t), OperatorToken: operatorToken,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := stack.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-waited
		}
	}()

	addr := strings.TrimPrefix(st.GatewayURL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := accountBody("Late Request MSP")
	half := len(body) / 2
	fmt.Fprintf(c, "POST /v1/accounts HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		addr, operatorToken, len(body), body[:half])
	time.Sleep(200 * time.Millisecond) // the gateway has the request in hand

	cancel() // Ctrl-C
	go func() { waited <- st.Wait() }()
	time.Sleep(500 * time.Millisecond) // long enough for every service to have stopped, were they not waiting
	if _, err := io.WriteString(c, body[half:]); err != nil {
		t.Fatalf("gateway dropped a request in flight: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a request in flight at shutdown: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request in flight at shutdown: %d %s", resp.StatusCode, got)
	}
	if !resp.Close {
		t.Error("a response while draining keeps the connection alive (no Connection: close)")
	}

	select {
	case err := <-waited:
		stopped = true
		if err != nil {
			t.Fatalf("stack stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("stack did not stop")
	}
	// Stopped: no connection is accepted, so nothing can answer with an internal address.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the gateway still accepts connections after the stop")
	}
}
