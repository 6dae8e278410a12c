package natsserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ClusterOptions configure a cluster of embedded servers.
type ClusterOptions struct {
	// Dir holds one JetStream store per node (Dir/n1, Dir/n2, ...); a node restarted on its
	// folder brings its copy of the streams back and catches up with the others.
	Dir string
	// Nodes is the cluster's size; 0 means 3.
	Nodes int
	// Auth decides who may connect, as for Start. Every node trusts the same operator and
	// account, so a credential works on any node.
	Auth *Auth
}

// Cluster is a JetStream cluster of real nats-server nodes in this process, each with its own
// client port, route port and store on loopback, routed to all the others: what production runs
// as three pods, so that a test can stop one (Stop) and bring it back (Restart) while clients
// carry on.
type Cluster struct {
	mu    sync.Mutex
	auth  *Auth
	user  string
	pass  string
	nodes []*clusterNode
}

type clusterNode struct {
	name            string
	dir             string
	port, routePort int
	srv             *server.Server // nil while stopped
}

// ClusterName is the name the nodes form their cluster under (NATS's cluster name).
const ClusterName = "orgplane"

// StartCluster starts o.Nodes servers and returns once JetStream has a meta leader that every
// node follows, so streams can be created at once.
func StartCluster(o ClusterOptions) (*Cluster, error) {
	if o.Auth == nil {
		return nil, errors.New("nats cluster: an Auth is required; every connection is authenticated")
	}
	n := o.Nodes
	if n == 0 {
		n = 3
	}
	if n < 1 {
		return nil, fmt.Errorf("nats cluster: %d nodes", n)
	}
	// A port found free can be taken by another process before its node binds it (tests run
	// side by side): a cluster that fails to start is tried again on other ports.
	var errs []error
	for range 3 {
		c, err := startCluster(o.Dir, n, o.Auth)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func startCluster(dir string, n int, auth *Auth) (*Cluster, error) {
	// Every node lists every route (its own included, which it skips), so each knows the
	// cluster's full size from its first start: JetStream sizes its meta group from the routes.
	// The ports are therefore chosen before any node starts, and kept across restarts.
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, fmt.Errorf("nats cluster: %w", err)
	}
	c := &Cluster{auth: auth, user: "route", pass: randomSecret()}
	for i := range n {
		c.nodes = append(c.nodes, &clusterNode{
			name: fmt.Sprintf("%s-n%d", ClusterName, i+1), dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			port: ports[2*i], routePort: ports[2*i+1],
		})
	}
	for i := range c.nodes {
		if err := c.start(i); err != nil {
			c.discard()
			return nil, err
		}
	}
	if err := c.WaitJetStream(30 * time.Second); err != nil {
		c.discard()
		return nil, err
	}
	return c, nil
}

// discard stops a cluster that failed to start and removes its stores, for a fresh attempt.
func (c *Cluster) discard() {
	c.Shutdown()
	for _, n := range c.nodes {
		_ = os.RemoveAll(n.dir)
	}
}

// URL lists every node's client URL, comma-separated: what ORGPLANE_NATS_URL takes for a
// cluster.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	}
	return strings.Join(urls, ",")
}

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.nodes) }

// NodeName is node i's server name, as JetStream reports stream leaders and replicas.
func (c *Cluster) NodeName(i int) string { return c.nodes[i].name }

// Node is the index of the node named name (a stream's leader), or -1.
func (c *Cluster) Node(name string) int {
	for i, n := range c.nodes {
		if n.name == name {
			return i
		}
	}
	return -1
}

// Server is node i's server, nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Stop shuts node i down as nats-server does when its pod is deleted: it hands the leaderships it
// holds (streams, consumers, the meta group) to the other nodes, then drops every connection, and
// its clients move to the other nodes.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	s := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart brings node i back on its ports and store and waits until JetStream on it has caught
// up with the meta leader.
func (c *Cluster) Restart(i int) error {
	c.Stop(i)
	if err := c.start(i); err != nil {
		return err
	}
	return c.WaitJetStream(30 * time.Second)
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for i := range c.nodes {
		c.Stop(i)
	}
}

// WaitJetStream waits until the running nodes have a JetStream meta leader and every one of them
// is current with it.
func (c *Cluster) WaitJetStream(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		leader, current := false, true
		for _, n := range c.nodes {
			if n.srv == nil {
				continue
			}
			leader = leader || n.srv.JetStreamIsLeader()
			current = current && n.srv.JetStreamIsCurrent()
		}
		c.mu.Unlock()
		if leader && current {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats cluster: no JetStream meta leader followed by every running node after %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) start(i int) error {
	n := c.nodes[i]
	opts, err := Options{Dir: n.dir, Port: n.port, Auth: c.auth}.serverOptions()
	if err != nil {
		return err
	}
	opts.ServerName = n.name
	opts.Cluster = server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: n.routePort, Username: c.user, Password: c.pass}
	for _, r := range c.nodes {
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", User: url.UserPassword(c.user, c.pass),
			Host: fmt.Sprintf("127.0.0.1:%d", r.routePort)})
	}
	s, err := run(opts, c.auth)
	if err != nil {
		return fmt.Errorf("nats cluster node %s: %w", n.name, err)
	}
	c.mu.Lock()
	n.srv = s
	c.mu.Unlock()
	return nil
}

// freePorts finds n distinct free ports on loopback. They are held open together, so none is
// returned twice, and released just before the nodes bind them.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// randomSecret is the routes' password: the nodes listen on loopback, where any local process
// could otherwise join the cluster and read every stream.
func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
