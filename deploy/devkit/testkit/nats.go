package testkit

import (
	"net"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
)

// NATS is a test's own JetStream server.
type NATS struct {
	URL  string
	srv  *server.Server
	dir  string
	port int
}

// StartNATS runs an embedded JetStream server for t, shut down when t ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	dir := t.TempDir()
	s, err := natsserver.Start(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := &NATS{URL: s.ClientURL(), srv: s, dir: dir, port: s.Addr().(*net.TCPAddr).Port}
	t.Cleanup(n.Stop)
	return n
}

// Stop shuts the server down (an outage, as far as clients can tell).
func (n *NATS) Stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// Restart brings the server back on the same address with the same streams.
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	n.Stop()
	s, err := natsserver.Start(n.dir, n.port)
	if err != nil {
		t.Fatal(err)
	}
	n.srv = s
}
