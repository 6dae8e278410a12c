package testkit

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/orgplane/orgplane/deploy/devkit/natsserver"
	"github.com/orgplane/orgplane/pkg/events"
)

// NATS is a test's own JetStream server. Like production NATS it refuses clients without a
// credential: a test connects with Admin (allowed everything) to inspect streams, and runs a
// service with Service, the credential of exactly that service's rights.
type NATS struct {
	URL string
	// Auth mints more users (a tenant, an attacker with some other service's rights).
	Auth *natsserver.Auth

	srv   *server.Server
	dir   string
	creds string
	port  int
	admin string
}

// StartNATS runs an embedded JetStream server for t, shut down when t ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	auth, err := natsserver.NewAuth()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := natsserver.Start(natsserver.Options{Dir: dir, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	n := &NATS{URL: s.ClientURL(), Auth: auth, srv: s, dir: dir, creds: t.TempDir(), port: s.Addr().(*net.TCPAddr).Port}
	t.Cleanup(n.Stop)
	n.admin = n.Creds(t, "test-admin", natsserver.Everything())
	return n
}

// Creds mints a user with permissions p and returns its creds file.
func (n *NATS) Creds(t testing.TB, name string, p events.Permissions) string {
	t.Helper()
	path := filepath.Join(n.creds, name+".creds")
	if err := n.Auth.WriteCreds(path, name, p, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return path
}

// Admin is a connection allowed everything, for a test's own inspection of the bus.
func (n *NATS) Admin() events.NATSConfig {
	return events.NATSConfig{URL: n.URL, CredsFile: n.admin}
}

// As is a connection as a user with permissions p.
func (n *NATS) As(t testing.TB, name string, p events.Permissions) events.NATSConfig {
	t.Helper()
	return events.NATSConfig{URL: n.URL, CredsFile: n.Creds(t, name, p)}
}

// Stop shuts the server down (an outage, as far as clients can tell).
func (n *NATS) Stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// Restart brings the server back on the same address with the same streams and users.
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	n.Stop()
	s, err := natsserver.Start(natsserver.Options{Dir: n.dir, Port: n.port, Auth: n.Auth})
	if err != nil {
		t.Fatal(err)
	}
	n.srv = s
}
