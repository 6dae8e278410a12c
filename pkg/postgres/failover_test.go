package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orgplane/orgplane/deploy/devkit/pgcluster"
	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// A write that reaches a server in recovery (a standby, before or while it is promoted) is
// refused as read-only (25006). That is the failover's window, not the request's fault: it must
// reach the caller as Unavailable, like a lost connection, and not as an internal error.
func TestReadOnlyRefusalIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db := notesDB(t)
	err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := postgres.ScopeTx(ctx, tx, accountA); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO notes (account_id, body) VALUES ($1, 'on a standby')", accountA)
		return err
	})
	if err == nil {
		t.Fatal("a read-only transaction wrote")
	}
	if !postgres.ConnectionLost(err) {
		t.Errorf("ConnectionLost(%v) = false, want true", err)
	}
	if got := postgres.Translate(err); !errors.Is(got, postgres.ErrUnavailable) || apperr.KindOf(got) != apperr.KindUnavailable {
		t.Errorf("Translate(%v) = %v, want ErrUnavailable", err, got)
	}
	// A statement's own error stays the statement's.
	_, err = db.Pool.Exec(ctx, "SELECT no_such_column FROM notes")
	if err == nil || postgres.ConnectionLost(err) {
		t.Errorf("a bad statement counts as a lost connection: %v", err)
	}
}

// silencer is a TCP proxy to a Postgres that can go silent, as a host that vanished from the
// network does: nothing refused or reset, bytes simply no longer arrive either way, and new
// connections are accepted and then never answered. It can also cut its connections.
type silencer struct {
	lis      net.Listener
	target   string
	silent   atomic.Bool
	accepted atomic.Int32
	done     chan struct{}
	stopOnce sync.Once
	conns    sync.WaitGroup

	mu     sync.Mutex
	active map[net.Conn]bool
}

// cut closes every open connection at once, as a server that crashed mid-query does to its
// clients: no error message, the socket just ends.
func (s *silencer) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.active {
		_ = c.Close()
	}
}

// stop hangs up every connection, silent ones included, and stops listening.
func (s *silencer) stop() {
	s.stopOnce.Do(func() {
		close(s.done)
		_ = s.lis.Close()
		s.conns.Wait()
	})
}

func newSilencer(t *testing.T, target string) *silencer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silencer{lis: lis, target: target, done: make(chan struct{}), active: map[net.Conn]bool{}}
	t.Cleanup(s.stop)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.conns.Add(1)
			go func() {
				defer s.conns.Done()
				s.serve(c)
			}()
		}
	}()
	return s
}

func (s *silencer) serve(c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	s.active[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.active, c)
		s.mu.Unlock()
	}()
	if s.silent.Load() {
		<-s.done
		return
	}
	up, err := net.Dial("tcp", s.target)
	if err != nil {
		return
	}
	defer up.Close()
	// Either side hanging up ends both, as it would on a real connection.
	go func() {
		s.pipe(up, c)
		_ = up.Close()
		_ = c.Close()
	}()
	s.pipe(c, up)
}

// pipe copies until the proxy goes silent; from then on it swallows what arrives.
func (s *silencer) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if s.silent.Load() {
			<-s.done
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// The failover timeouts are defaults: a URL's own connect_timeout and pool_ping_timeout win, and
// a single host (whose sslmode=prefer fallback is the same host without TLS) keeps pgx's
// unbounded connect, bounded by the caller's context as before.
func TestFailoverTimeoutDefaults(t *testing.T) {
	ctx := context.Background()
	db := notesDB(t)
	u, err := url.Parse(db.Config.URL)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(host string, query map[string]string) string {
		v := *u
		v.Host = host
		q := v.Query()
		for k, val := range query {
			q.Set(k, val)
		}
		v.RawQuery = q.Encode()
		return v.String()
	}
	port := u.Port()
	twoHosts := "127.0.0.1:" + port + ",localhost:" + port
	for _, tc := range []struct {
		name        string
		url         string
		connect     time.Duration
		pingTimeout time.Duration
	}{
		{"single host, sslmode=prefer", variant(u.Host, map[string]string{"sslmode": "prefer"}), 0, postgres.PingTimeout},
		{"two hosts", variant(twoHosts, nil), postgres.HostConnectTimeout, postgres.PingTimeout},
		{"two hosts, the URL's own", variant(twoHosts, map[string]string{"connect_timeout": "2", "pool_ping_timeout": "7s"}), 2 * time.Second, 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := db.Config
			cfg.URL = tc.url
			pool, err := postgres.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			got := pool.Config()
			if got.ConnConfig.ConnectTimeout != tc.connect || got.PingTimeout != tc.pingTimeout {
				t.Errorf("connect timeout %s, ping timeout %s; want %s and %s", got.ConnConfig.ConnectTimeout, got.PingTimeout, tc.connect, tc.pingTimeout)
			}
		})
	}
}

// A server that dies mid-query ends the socket without a word; pgx reports that as a bare
// "unexpected EOF", which ConnectionLost must still know for the database's (Unavailable, 503),
// not leave as an internal error.
func TestServerHangingUpMidQueryIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db := notesDB(t)
	u, err := url.Parse(db.Config.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newSilencer(t, u.Host)
	u.Host = proxy.lis.Addr().String()
	cfg := db.Config
	cfg.URL = u.String()
	pool, err := postgres.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	done := make(chan error, 1)
	go func() {
		done <- postgres.InTenantTx(ctx, pool, accountA, func(tx pgx.Tx) error {
			var slept string
			return tx.QueryRow(ctx, "SELECT pg_sleep(30)::text").Scan(&slept)
		})
	}()
	time.Sleep(500 * time.Millisecond) // the query is running
	proxy.cut()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the query did not end when its connection did")
	}
	if err == nil {
		t.Fatal("the query succeeded on a cut connection")
	}
	if !postgres.ConnectionLost(err) || apperr.KindOf(postgres.Translate(err)) != apperr.KindUnavailable {
		t.Fatalf("a connection cut mid-query gave %v, want a lost connection (Unavailable)", err)
	}
	// A reader's EOF that is not the database's stays what it is.
	if postgres.ConnectionLost(fmt.Errorf("read upload: %w", io.ErrUnexpectedEOF)) {
		t.Error("a truncated upload counts as a lost database connection")
	}
}

// A host of a multi-host URL that goes silent (a machine down, not a process: no reset, no
// refusal) must not hold the pool: a ping of a pooled connection to it gives up after
// PingTimeout, a new connection moves on to the next host after HostConnectTimeout, and the
// caller, whose context has no deadline at all, is served by the next host.
func TestPoolLeavesASilentHostForTheNextOne(t *testing.T) {
	ctx := context.Background()
	db := notesDB(t)
	u, err := url.Parse(db.Config.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newSilencer(t, u.Host)
	u.Host = proxy.lis.Addr().String() + "," + u.Host
	cfg := db.Config
	cfg.URL = u.String()
	// pgx keeps a destroyed connection's slot until it has said goodbye to the server, up to 15 s
	// when the server is silent; the second slot is the one the new connection takes meanwhile.
	cfg.MaxConns = 2
	pool, err := postgres.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if n, err := countNotes(ctx, pool); err != nil || n != 0 {
		t.Fatalf("through the first host: %d notes, %v", n, err)
	}
	if proxy.accepted.Load() == 0 {
		t.Fatal("the pool did not use the first host of the URL")
	}

	// Idle long enough for the pool to ping the connection before handing it out again.
	time.Sleep(1100 * time.Millisecond)
	proxy.silent.Store(true)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := countNotes(ctx, pool)
		done <- err
	}()
	limit := postgres.PingTimeout + postgres.HostConnectTimeout + 5*time.Second
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after the first host went silent: %v", err)
		}
	case <-time.After(limit):
		proxy.stop() // or the pool's Close would wait for the stuck query forever
		t.Fatalf("a query with no deadline still waits on the silent host after %s", limit)
	}
	t.Logf("served by the second host after %s", time.Since(start).Round(10*time.Millisecond))
	// Hanging up ends pgx's goodbye to the silent host at once, so the pool closes quickly.
	proxy.stop()
}

// The pool follows a failover of a synchronously replicated pair through a multi-host URL,
// without being reopened: while no server accepts writes every write fails as a lost
// connection (Unavailable, retryable), never as anything else; once the standby is promoted,
// writes succeed on it, and no pooled connection is left on the dead primary or was ever made
// to the standby while it was read-only.
func TestPoolFollowsAFailoverOfAReplicatedPair(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replicated pair of PostgreSQL servers")
	}
	ctx := context.Background()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r, err := pgcluster.StartReplicated(sctx, pgcluster.ReplicatedOptions{Dir: t.TempDir(), Logf: t.Logf})
	if err != nil && strings.Contains(err.Error(), "install PostgreSQL server binaries") {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })

	const maxConns = 4
	pool, err := postgres.Open(ctx, postgres.Config{URL: r.URL(), Schema: "public", MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE TABLE writes (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	// Every connection the pool holds, all at once, and the server each is on.
	ports := func() []int {
		t.Helper()
		conns := make([]*pgxpool.Conn, 0, maxConns)
		defer func() {
			for _, c := range conns {
				c.Release()
			}
		}()
		var got []int
		for range maxConns {
			c, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			var port int
			var recovering bool
			if err := c.QueryRow(ctx, "SELECT inet_server_port(), pg_is_in_recovery()").Scan(&port, &recovering); err != nil {
				t.Fatal(err)
			}
			if recovering {
				t.Errorf("a pooled connection is on a server in recovery (port %d)", port)
			}
			got = append(got, port)
		}
		return got
	}
	for _, p := range ports() {
		if p != r.Primary.Port {
			t.Fatalf("before the failover a pooled connection is on port %d, want the primary's %d", p, r.Primary.Port)
		}
	}

	n := 0
	write := func() error {
		n++
		return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO writes VALUES ($1)", n)
			return err
		})
	}
	acked := 0
	for range 20 {
		if err := write(); err != nil {
			t.Fatal(err)
		}
		acked++
	}

	if err := r.KillPrimary(ctx); err != nil {
		t.Fatal(err)
	}
	// The pool's idle connections to the dead primary, and new connections that find no server
	// accepting writes (the standby is still read-only), all fail as lost connections.
	failed := 0
	for range maxConns + 2 {
		err := write()
		if err == nil {
			t.Fatal("a write succeeded with the primary dead and the standby not promoted")
		}
		if !postgres.ConnectionLost(err) || apperr.KindOf(postgres.Translate(err)) != apperr.KindUnavailable {
			t.Fatalf("a write in the failover window failed with %v, want a lost connection (Unavailable)", err)
		}
		failed++
	}
	if err := r.PromoteStandby(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := write()
		if err == nil {
			acked++
			break
		}
		if !postgres.ConnectionLost(err) {
			t.Fatalf("a write after the promotion failed with %v, want success or a lost connection", err)
		}
		failed++
		if time.Now().After(deadline) {
			t.Fatalf("the pool does not write to the promoted standby: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range ports() {
		if p != r.Standby.Port {
			t.Fatalf("after the failover a pooled connection is on port %d, want the promoted standby's %d", p, r.Standby.Port)
		}
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM writes").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != acked {
		t.Fatalf("%d writes acknowledged, %d rows on the promoted standby", acked, rows)
	}
	t.Logf("acknowledged: %d, found after failover: %d, lost: 0; failed in the window as Unavailable: %d", acked, rows, failed)
}
