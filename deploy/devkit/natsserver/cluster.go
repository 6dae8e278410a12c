package natsserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	// Processes runs every node in a process of its own (this test binary run again, see
	// RunNodeFromEnv), so that a test can kill one (Kill) the way a machine dies or the kernel
	// kills a pod: no leadership handed over, nothing flushed. A node in this process can only
	// be shut down politely (Stop).
	Processes bool
}

// Cluster is a JetStream cluster of real nats-server nodes, in this process or each in its own,
// each with its own client port, route port and store on loopback, routed to all the others:
// what production runs as three pods, so that a test can stop or kill one (Stop, Kill) and bring
// it back (Restart) while clients carry on.
type Cluster struct {
	mu        sync.Mutex
	auth      *Auth
	user      string
	pass      string
	processes bool
	monitor   *http.Client // asks process nodes how JetStream is doing
	nodes     []*clusterNode
}

type clusterNode struct {
	name            string
	dir             string
	port, routePort int
	httpPort        int            // monitoring, for process nodes only
	srv             *server.Server // a node in this process; nil while stopped
	proc            *nodeProcess   // a node in its own process; nil while stopped
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
		c, err := startCluster(o, n)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func startCluster(o ClusterOptions, n int) (*Cluster, error) {
	// Every node lists every route (its own included, which it skips), so each knows the
	// cluster's full size from its first start: JetStream sizes its meta group from the routes.
	// The ports are therefore chosen before any node starts, and kept across restarts.
	perNode := 2
	if o.Processes {
		perNode = 3
	}
	ports, err := freePorts(perNode * n)
	if err != nil {
		return nil, fmt.Errorf("nats cluster: %w", err)
	}
	c := &Cluster{auth: o.Auth, user: "route", pass: randomSecret(), processes: o.Processes,
		monitor: &http.Client{Timeout: 2 * time.Second}}
	for i := range n {
		node := &clusterNode{
			name: fmt.Sprintf("%s-n%d", ClusterName, i+1), dir: filepath.Join(o.Dir, fmt.Sprintf("n%d", i+1)),
			port: ports[perNode*i], routePort: ports[perNode*i+1],
		}
		if o.Processes {
			node.httpPort = ports[perNode*i+2]
		}
		c.nodes = append(c.nodes, node)
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

// Server is node i's server, nil while it is stopped, and always nil for a node in a process of
// its own (ClusterOptions.Processes): ask IsMetaLeader and WaitJetStream instead.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Stop shuts node i down as nats-server does when its pod is deleted (a process node is sent
// SIGTERM): it hands the leaderships it holds (streams, consumers, the meta group) to the other
// nodes, then drops every connection, and its clients move to the other nodes.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	s, p := n.srv, n.proc
	n.srv, n.proc = nil, nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
	if p != nil {
		p.stop(30 * time.Second)
	}
}

// Kill SIGKILLs node i's process and waits for it to be gone, as when its machine dies: it steps
// down from nothing and flushes nothing, its peers learn of it from missed heartbeats and elect
// new leaders once raft's election timeout has passed (seconds), and its clients see their
// connections reset. It needs ClusterOptions.Processes, and reports a node that had already
// died by itself.
func (c *Cluster) Kill(i int) error {
	if !c.processes {
		return errors.New("nats cluster: only a node in a process of its own can be killed (ClusterOptions.Processes)")
	}
	c.mu.Lock()
	n := c.nodes[i]
	p := n.proc
	n.proc = nil
	c.mu.Unlock()
	if p == nil {
		return fmt.Errorf("nats cluster: node %s is not running", n.name)
	}
	if err := p.kill(); err != nil {
		return fmt.Errorf("nats cluster node %s: %w", n.name, err)
	}
	return nil
}

// Restart brings node i back on its ports and store (stopping it first if it runs) and waits
// until JetStream on it has caught up with the meta leader.
func (c *Cluster) Restart(i int) error {
	c.Stop(i)
	if err := c.start(i); err != nil {
		return err
	}
	return c.WaitJetStream(60 * time.Second)
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for i := range c.nodes {
		c.Stop(i)
	}
}

// WaitJetStream waits until the running nodes have a JetStream meta leader and every one of them
// is current with it. A process node must also pass nats-server's own health check (/healthz),
// which requires every stream and consumer it keeps to be current too.
func (c *Cluster) WaitJetStream(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		why := c.jetStreamNotReady()
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats cluster: JetStream not ready after %s: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jetStreamNotReady says why the running nodes are not all following one meta leader ("" when
// they are).
func (c *Cluster) jetStreamNotReady() string {
	if c.processes {
		return c.processesNotReady()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	leader, current := false, true
	for _, n := range c.nodes {
		if n.srv == nil {
			continue
		}
		leader = leader || n.srv.JetStreamIsLeader()
		current = current && n.srv.JetStreamIsCurrent()
	}
	if !leader || !current {
		return "no JetStream meta leader followed by every running node"
	}
	return ""
}

// IsMetaLeader reports whether node i leads the JetStream meta group (false while it is down).
func (c *Cluster) IsMetaLeader(i int) bool {
	c.mu.Lock()
	n := c.nodes[i]
	s, p := n.srv, n.proc
	c.mu.Unlock()
	switch {
	case s != nil:
		return s.JetStreamIsLeader()
	case p != nil:
		leader, err := c.metaLeader(n.httpPort)
		return err == nil && leader == n.name
	}
	return false
}

// spec is what node i runs with.
func (c *Cluster) spec(i int) nodeSpec {
	n := c.nodes[i]
	sp := nodeSpec{Name: n.name, Dir: n.dir, Port: n.port, RoutePort: n.routePort, HTTPPort: n.httpPort,
		RouteUser: c.user, RoutePassword: c.pass}
	for _, r := range c.nodes {
		sp.RoutePorts = append(sp.RoutePorts, r.routePort)
	}
	return sp
}

func (c *Cluster) start(i int) error {
	n := c.nodes[i]
	sp := c.spec(i)
	if c.processes {
		p, err := startProcess(sp, c.auth, c.monitor)
		if err != nil {
			return fmt.Errorf("nats cluster node %s: %w", n.name, err)
		}
		c.mu.Lock()
		n.proc = p
		c.mu.Unlock()
		return nil
	}
	opts, err := sp.serverOptions(c.auth)
	if err != nil {
		return err
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

// nodeSpec is everything a cluster node runs with. A process node gets it as JSON in its
// environment, with the public JWTs its Auth is rebuilt from: a server verifies credentials, it
// signs none, so no seed ever leaves this process.
type nodeSpec struct {
	Name          string `json:"name"`
	Dir           string `json:"dir"`
	Port          int    `json:"port"`
	RoutePort     int    `json:"route_port"`
	HTTPPort      int    `json:"http_port,omitempty"`
	RoutePorts    []int  `json:"route_ports"`
	RouteUser     string `json:"route_user"`
	RoutePassword string `json:"route_password"`
	OperatorJWT   string `json:"operator_jwt,omitempty"`
	AccountJWT    string `json:"account_jwt,omitempty"`
	SystemJWT     string `json:"system_jwt,omitempty"`
}

// serverOptions are a lone server's (Options.serverOptions) plus the node's name, its routes to
// every node and, for a process node, monitoring on loopback.
func (sp nodeSpec) serverOptions(auth *Auth) (*server.Options, error) {
	opts, err := Options{Dir: sp.Dir, Port: sp.Port, Auth: auth}.serverOptions()
	if err != nil {
		return nil, err
	}
	opts.ServerName = sp.Name
	opts.Cluster = server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: sp.RoutePort,
		Username: sp.RouteUser, Password: sp.RoutePassword}
	for _, port := range sp.RoutePorts {
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", User: url.UserPassword(sp.RouteUser, sp.RoutePassword),
			Host: fmt.Sprintf("127.0.0.1:%d", port)})
	}
	if sp.HTTPPort != 0 {
		opts.HTTPHost, opts.HTTPPort = "127.0.0.1", sp.HTTPPort
	}
	return opts, nil
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
