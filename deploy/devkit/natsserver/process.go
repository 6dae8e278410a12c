package natsserver

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/jwt/v2"
)

// nodeEnv carries a process node's nodeSpec (JSON) to the test binary run again as that node.
const nodeEnv = "ORGPLANE_NATS_NODE"

// logEnv, when set, lets process nodes log to stderr, as it lets the services log in tests.
const logEnv = "ORGPLANE_TEST_LOG"

// RunNodeFromEnv runs this process as a node of a Cluster started with ClusterOptions.Processes
// when it was started as one, and then exits: it never returns. Otherwise it returns false at
// once. A test binary hosting process nodes calls it first thing in TestMain (testkit.Main
// does), before anything else a test run would do.
func RunNodeFromEnv() bool {
	raw, ok := os.LookupEnv(nodeEnv)
	if !ok {
		return false
	}
	if err := runNode(raw); err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// runNode serves until its parent sends SIGTERM (Stop) or SIGINT, or closes its stdin: the
// parent is gone (where the kernel does not kill the node with it) or asks it to stop.
func runNode(raw string) error {
	var sp nodeSpec
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		return fmt.Errorf("%s: %w", nodeEnv, err)
	}
	auth, err := publicAuth(sp)
	if err != nil {
		return err
	}
	opts, err := sp.serverOptions(auth)
	if err != nil {
		return err
	}
	opts.NoLog = os.Getenv(logEnv) == ""
	s, err := run(opts, auth)
	if err != nil {
		return err
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	orphaned := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(orphaned)
	}()
	// The one line the parent waits for. Stdout is closed after it, so that nothing written
	// there later can hit the pipe the parent closed (and die of SIGPIPE).
	fmt.Println("ready")
	_ = os.Stdout.Close()
	select {
	case <-signals:
	case <-orphaned:
	}
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// publicAuth is the Auth a process node verifies credentials with: the operator, account and
// system account JWTs, without any key (it can mint nothing).
func publicAuth(sp nodeSpec) (*Auth, error) {
	oc, err := jwt.DecodeOperatorClaims(sp.OperatorJWT)
	if err != nil {
		return nil, fmt.Errorf("operator JWT: %w", err)
	}
	ac, err := jwt.DecodeAccountClaims(sp.AccountJWT)
	if err != nil {
		return nil, fmt.Errorf("account JWT: %w", err)
	}
	sc, err := jwt.DecodeAccountClaims(sp.SystemJWT)
	if err != nil {
		return nil, fmt.Errorf("system account JWT: %w", err)
	}
	return &Auth{operatorClaims: oc, operatorJWT: sp.OperatorJWT, accountPub: ac.Subject, accountJWT: sp.AccountJWT,
		sysPub: sc.Subject, sysJWT: sp.SystemJWT}, nil
}

// nodeProcess is a running process node, seen from the test that started it.
type nodeProcess struct {
	cmd    *exec.Cmd
	stdin  *os.File // closing it stops the node where signals cannot
	stderr *tail
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// startProcess runs this test binary again as the node sp, and returns once the node accepts
// clients, has loaded the account and answers its health check.
func startProcess(sp nodeSpec, auth *Auth, monitor *http.Client) (*nodeProcess, error) {
	sp.OperatorJWT, sp.AccountJWT, sp.SystemJWT = auth.operatorJWT, auth.accountJWT, auth.sysJWT
	spec, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, err
	}
	// -test.run=^$: a binary whose TestMain forgets RunNodeFromEnv runs no test and exits (and
	// is reported as such below), instead of running the tests again, and their clusters.
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+string(spec))
	cmd.Stdin, cmd.Stdout = stdinR, readyW
	p := &nodeProcess{cmd: cmd, stdin: stdinW, stderr: &tail{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if os.Getenv(logEnv) != "" {
		cmd.Stderr = io.MultiWriter(os.Stderr, p.stderr)
	}
	cmd.SysProcAttr = nodeProcAttr()
	err = cmd.Start()
	stdinR.Close()
	readyW.Close()
	if err != nil {
		stdinW.Close()
		readyR.Close()
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(readyR, readyTimeout+15*time.Second); err != nil {
		_ = p.kill()
		return nil, err
	}
	// The server is ready before its monitoring port is: both are bound in Start, the latter
	// without being part of ReadyForConnections.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := healthz(monitor, sp.HTTPPort, "js-server-only=true")
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			_ = p.kill()
			return nil, fmt.Errorf("health check: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReady waits for the node's "ready" line, or its death.
func (p *nodeProcess) waitReady(r *os.File, timeout time.Duration) error {
	line := make(chan string, 1)
	go func() {
		defer r.Close()
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case s := <-line:
		if s == "ready\n" {
			return nil
		}
		<-p.exited
		return p.died()
	case <-p.exited:
		return p.died()
	case <-timer.C:
		return fmt.Errorf("not ready after %s; its output: %s", timeout, p.stderr)
	}
}

// died describes a node that exited by itself.
func (p *nodeProcess) died() error {
	out := p.stderr.String()
	if out == "" {
		out = "(nothing; does the test binary's TestMain call natsserver.RunNodeFromEnv, or testkit.Main?)"
	}
	return fmt.Errorf("node process exited (%v); its output: %s", p.err, out)
}

// kill SIGKILLs the node and waits for it to be gone. A node that had died before is reported.
func (p *nodeProcess) kill() error {
	defer p.stdin.Close()
	select {
	case <-p.exited:
		return p.died()
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.exited
	return nil
}

// stop asks the node to shut down (SIGTERM, or its stdin closing where there are no signals)
// and kills it if it has not within timeout.
func (p *nodeProcess) stop(timeout time.Duration) {
	defer p.stdin.Close()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = p.stdin.Close()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// processesNotReady says why the running process nodes are not all healthy and following one
// meta leader ("" when they are).
func (c *Cluster) processesNotReady() string {
	c.mu.Lock()
	var running []*clusterNode
	for _, n := range c.nodes {
		if n.proc != nil {
			running = append(running, n)
		}
	}
	c.mu.Unlock()
	leader := ""
	for _, n := range running {
		select {
		case <-n.proc.exited:
			return fmt.Sprintf("%s: %v", n.name, n.proc.died())
		default:
		}
		if err := healthz(c.monitor, n.httpPort, ""); err != nil {
			return fmt.Sprintf("%s: %v", n.name, err)
		}
		l, err := c.metaLeader(n.httpPort)
		switch {
		case err != nil:
			return fmt.Sprintf("%s: %v", n.name, err)
		case l == "":
			return n.name + " knows no meta leader"
		case leader != "" && l != leader:
			return fmt.Sprintf("%s follows meta leader %s, another node %s", n.name, l, leader)
		}
		leader = l
	}
	if leader == "" {
		return "no node is running"
	}
	return ""
}

// metaLeader is the JetStream meta leader the node monitored on port follows ("" for none).
func (c *Cluster) metaLeader(port int) (string, error) {
	resp, err := c.monitor.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var jsz struct {
		Meta *struct {
			Leader string `json:"leader"`
		} `json:"meta_cluster"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/jsz: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return "", fmt.Errorf("/jsz: %w", err)
	}
	if jsz.Meta == nil {
		return "", nil
	}
	return jsz.Meta.Leader, nil
}

// healthz is nats-server's health check of the node monitored on port: by default, JetStream
// current with its meta leader and every stream and consumer the node keeps current.
func healthz(monitor *http.Client, port int, query string) error {
	resp, err := monitor.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz?%s", port, query))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var status struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&status)
	return fmt.Errorf("/healthz: %s: %s", resp.Status, status.Error)
}

// tail keeps the last few KiB a node wrote to stderr, for the error that reports its death.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 8 << 10

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > tailSize {
		t.buf = t.buf[len(t.buf)-tailSize:]
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
