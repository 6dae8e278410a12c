package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReplicatedOptions configure StartReplicated.
type ReplicatedOptions struct {
	// Dir holds the pair: Dir/primary and Dir/standby, each laid out like Ensure's DataDir. It
	// must be new or empty; the pair is made afresh every time.
	Dir string
	// Logf receives progress messages; nil means silent.
	Logf func(format string, args ...any)
	// StandbyName is the standby's application_name, which the primary's
	// synchronous_standby_names names; default "standby".
	StandbyName string
}

// ReplicationUser is the role the standby streams WAL as: a login with REPLICATION and nothing
// else, admitted by pg_hba.conf for replication from 127.0.0.1 only.
const ReplicationUser = "replicator"

// Node is one server of a replicated pair.
type Node struct {
	// Name is "primary" or "standby": the role the server started in.
	Name string
	Port int
	// URL is a superuser connection string to this server alone.
	URL string

	c *cluster
}

// Addr is the node's host:port.
func (n *Node) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port)) }

// Replicated is a primary with one synchronous streaming standby, started from the machine's
// PostgreSQL binaries: the failover proof's database. It is durable (fsync, synchronous_commit
// and full_page_writes on), and the primary acknowledges a commit only once the standby has
// flushed its WAL (synchronous_commit=on with the standby named in synchronous_standby_names),
// so no acknowledged commit is missing from the standby when the primary crashes.
type Replicated struct {
	Primary *Node
	Standby *Node
	// StandbyName is the standby's application_name.
	StandbyName string

	password string
	logf     func(string, ...any)
}

// URL is a superuser connection string naming both servers, primary first, that connects only
// to the one accepting writes (target_session_attrs=read-write): what services use to follow a
// failover without a restart.
func (r *Replicated) URL() string {
	return MultiHostURL("postgres", r.password, "postgres", r.Primary.Addr(), r.Standby.Addr())
}

// MultiHostURL is postgres://user:password@addr1,addr2,.../database with sslmode=disable and
// target_session_attrs=read-write: libpq and pgx try the hosts in order and keep the first that
// accepts writes, so a read-only standby (or a promoted one's old primary, were it back) is
// never used, and after a failover new connections find the new primary.
func MultiHostURL(user, password, database string, addrs ...string) string {
	q := url.Values{"sslmode": {"disable"}, "target_session_attrs": {"read-write"}}
	return "postgres://" + url.UserPassword(user, password).String() + "@" + strings.Join(addrs, ",") +
		"/" + url.PathEscape(database) + "?" + q.Encode()
}

// StartReplicated initializes a primary in opts.Dir/primary, takes a base backup of it for a
// standby in opts.Dir/standby (pg_basebackup -R, streaming as ReplicationUser), starts the
// standby, and returns once the primary reports it streaming as its synchronous standby. On
// error, whatever was started is stopped again.
func StartReplicated(ctx context.Context, opts ReplicatedOptions) (r *Replicated, err error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: ReplicatedOptions.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	name := opts.StandbyName
	if name == "" {
		name = "standby"
	}
	if err := checkIdentifier("standby name", name); err != nil {
		return nil, err
	}
	bin, ok := findBinDir(ctx)
	if !ok || !hasTool(bin, "pg_basebackup") {
		return nil, errors.New(noBinariesMsg + " (and pg_basebackup beside them)")
	}
	password, err := randomHex(32)
	if err != nil {
		return nil, err
	}
	replPassword, err := randomHex(32)
	if err != nil {
		return nil, err
	}

	r = &Replicated{StandbyName: name, password: password, logf: logf}
	node := func(role string) (*Node, error) {
		base := filepath.Join(dir, role)
		if entries, err := os.ReadDir(base); err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("pgcluster: %s is not empty; StartReplicated makes a new pair", base)
		}
		if err := os.MkdirAll(base, 0o755); err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
		prefixed := func(format string, args ...any) { logf(role+" "+format, args...) }
		c := &cluster{bin: bin, base: base, logf: prefixed, password: password}
		if os.Geteuid() == 0 {
			if err := c.prepareRoot(ctx); err != nil {
				return nil, err
			}
		} else if err := os.MkdirAll(c.sockDir(), 0o700); err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
		return &Node{Name: role, c: c}, nil
	}
	if r.Primary, err = node("primary"); err != nil {
		return nil, err
	}
	if r.Standby, err = node("standby"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = r.Stop()
			r = nil
		}
	}()

	p := r.Primary
	if err := p.c.initdb(ctx); err != nil {
		return nil, err
	}
	if err := writeReplicatedHBA(p.c); err != nil {
		return nil, err
	}
	// Command-line settings, not postgresql.conf: the base backup copies the configuration files,
	// and a standby promoted with synchronous_standby_names naming itself would wait forever for
	// a standby that is not there. Promoted, it runs alone, durable on its own disk.
	p.c.settings = []string{
		"wal_level=replica",
		"max_wal_senders=10",
		"wal_log_hints=on", // lets pg_rewind turn the old primary into a standby afterwards
		"synchronous_standby_names=" + name,
	}
	if err := r.startNode(ctx, p); err != nil {
		return nil, err
	}
	err = withConn(ctx, p.URL, 10*time.Second, func(ctx context.Context, conn *pgx.Conn) error {
		// With the standby not yet there, a commit waiting for it would wait forever; this
		// session's commits are local only.
		if _, err := conn.Exec(ctx, "SET synchronous_commit = local"); err != nil {
			return err
		}
		_, err := conn.Exec(ctx, "CREATE ROLE "+ReplicationUser+" WITH LOGIN REPLICATION PASSWORD '"+replPassword+"'")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgcluster: create the replication role: %w", err)
	}

	s := r.Standby
	if err := r.baseBackup(ctx, s, replPassword); err != nil {
		return nil, err
	}
	s.c.settings = []string{"hot_standby=on"}
	if err := r.startNode(ctx, s); err != nil {
		return nil, err
	}
	if err := r.waitSyncStandby(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	logf("postgres: primary on %s, synchronous standby %q on %s", p.Addr(), name, s.Addr())
	return r, nil
}

// checkIdentifier keeps names that end up in server settings and connection strings plain.
func checkIdentifier(what, s string) error {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("pgcluster: %s %q: want lower-case letters, digits and _", what, s)
		}
	}
	if s == "" {
		return fmt.Errorf("pgcluster: empty %s", what)
	}
	return nil
}

func hasTool(bin, name string) bool {
	fi, err := os.Stat(filepath.Join(bin, name))
	return err == nil && fi.Mode().IsRegular()
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeReplicatedHBA admits, with a password only, the superuser and the service logins from
// the socket and 127.0.0.1, and replication from 127.0.0.1 for ReplicationUser alone. The
// standby's copy (the base backup carries it) admits the same once it is promoted.
func writeReplicatedHBA(c *cluster) error {
	const hba = `# Written by pgcluster.StartReplicated.
# TYPE  DATABASE     USER        ADDRESS        METHOD
local   all          all                        scram-sha-256
host    all          all         127.0.0.1/32   scram-sha-256
host    replication  ` + ReplicationUser + `  127.0.0.1/32   scram-sha-256
`
	// The file exists (initdb wrote it), so writing it keeps its owner.
	if err := os.WriteFile(filepath.Join(c.dataDir(), "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

func (r *Replicated) startNode(ctx context.Context, n *Node) error {
	port, err := n.c.start(ctx)
	if err != nil {
		return err
	}
	n.Port, n.URL = port, n.c.url(port)
	return withConn(ctx, n.URL, 10*time.Second, func(ctx context.Context, conn *pgx.Conn) error { return conn.Ping(ctx) })
}

// baseBackup copies the primary into the standby's data directory. -R writes standby.signal
// and a primary_conninfo from the connection pg_basebackup used, application_name included,
// which is how the primary recognises its synchronous standby.
func (r *Replicated) baseBackup(ctx context.Context, s *Node, replPassword string) error {
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=%s application_name=%s", r.Primary.Port, ReplicationUser, r.StandbyName)
	cmd := s.c.command(ctx, "pg_basebackup", "-D", s.c.dataDir(), "-d", conninfo, "-R", "-X", "stream", "-c", "fast", "--no-password")
	// The password travels in the environment, never on a command line that ps shows; -R
	// writes it into the standby's postgresql.auto.conf (mode 0600, owned by the server's user).
	cmd.Env = append(os.Environ(), "PGPASSWORD="+replPassword)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: pg_basebackup: %w\n%s", err, out)
	}
	auto, err := os.ReadFile(filepath.Join(s.c.dataDir(), "postgresql.auto.conf"))
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if !strings.Contains(string(auto), "application_name="+r.StandbyName) || !strings.Contains(string(auto), "password=") {
		return errors.New("pgcluster: pg_basebackup -R wrote a primary_conninfo without the standby's application_name or password")
	}
	return nil
}

// waitSyncStandby waits until the primary reports the standby streaming and synchronous.
func (r *Replicated) waitSyncStandby(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no row in pg_stat_replication"
	for {
		var state, syncState string
		err := withConn(ctx, r.Primary.URL, 5*time.Second, func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = $1",
				r.StandbyName).Scan(&state, &syncState)
		})
		switch {
		case err == nil && state == "streaming" && syncState == "sync":
			return nil
		case err == nil:
			last = "state " + state + ", sync_state " + syncState
		case !errors.Is(err, pgx.ErrNoRows):
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgcluster: the standby is not a streaming synchronous standby after %s (%s); %s (tail):\n%s",
				timeout, last, r.Standby.c.logFile(), fileTail(r.Standby.c.logFile(), 15))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// KillPrimary crashes the primary: SIGKILL to its postmaster and every process it started, with
// no shutdown checkpoint and no goodbye to clients or the standby, as when its machine dies. It
// returns once the postmaster is gone and its port refuses connections.
func (r *Replicated) KillPrimary(ctx context.Context) error {
	return r.Primary.kill(ctx)
}

func (n *Node) kill(ctx context.Context) error {
	pid, err := postmasterPID(n.c.pidFile())
	if err != nil {
		return err
	}
	if err := crash(pid); err != nil {
		return fmt.Errorf("pgcluster: kill the %s (PID %d): %w", n.Name, pid, err)
	}
	for {
		if !alive(pid) {
			c, err := net.DialTimeout("tcp", n.Addr(), time.Second)
			if err != nil {
				n.c.logf("postgres: killed (SIGKILL, PID %d)", pid)
				return nil
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: the %s (PID %d) did not die: %w", n.Name, pid, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func postmasterPID(pidFile string) (int, error) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("pgcluster: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pgcluster: %s names no PID", pidFile)
	}
	return pid, nil
}

// PromoteStandby promotes the standby (pg_ctl promote, which waits for the end of recovery) and
// returns once it accepts writes. It runs on its own from then on: nothing names a synchronous
// standby on it.
func (r *Replicated) PromoteStandby(ctx context.Context) error {
	s := r.Standby
	out, err := s.c.command(ctx, "pg_ctl", "-D", s.c.dataDir(), "promote", "-w", "-t", "60").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: pg_ctl promote: %w\n%s", err, out)
	}
	for {
		// A transaction id is given out only by a server that accepts writes.
		err := withConn(ctx, s.URL, 5*time.Second, func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, "SELECT pg_current_xact_id()")
			return err
		})
		if err == nil {
			s.c.logf("postgres: promoted; accepts writes on %s", s.Addr())
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: the promoted standby does not accept writes: %w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops both servers (pg_ctl stop -m fast; a killed one is already stopped). It is safe to
// call more than once.
func (r *Replicated) Stop() error {
	var errs []error
	// The standby first: stopping a primary waits for its synchronous standby to receive the
	// shutdown checkpoint, which a gone standby never would; a standby leaves at once.
	for _, n := range []*Node{r.Standby, r.Primary} {
		if n == nil || n.Port == 0 {
			continue
		}
		errs = append(errs, n.c.Stop())
	}
	return errors.Join(errs...)
}
