// Package pgcluster finds or starts a PostgreSQL server for the dev stack
// (make run) and the test suite (make test), so that a fresh machine needs no
// manual database setup.
//
// Ensure prefers, in order: $DATABASE_URL, a trust-auth server already on
// 127.0.0.1:5432, and finally a private throwaway cluster started from the
// machine's PostgreSQL binaries under Options.DataDir. The private cluster
// trades durability for speed and must never hold data anyone cares about; it
// admits only its superuser, with a password generated when it is created and
// kept beside it (DataDir/password, mode 0600) and carried in Server.URL.
//
// A DataDir has one logical owner at a time. Concurrent Ensure calls on the
// same DataDir are serialized and end up sharing one running cluster, but Stop
// stops it for all of them. Processes running in parallel (for example test
// binaries of different packages) should either share a single Ensure through
// DATABASE_URL or use distinct DataDirs.
//
// StartReplicated is the other way in: a durable primary with a synchronous
// streaming standby, made afresh in a directory of the caller's, with the means
// to crash the primary and promote the standby. It is the database of the
// failover proof, not of make run.
package pgcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	sourceEnv         = "env"
	sourceDefaultPort = "default-port"
	sourcePrivate     = "private"

	defaultPortURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
)

// Options tune Ensure. Zero value is usable.
type Options struct {
	// DataDir is where a private cluster lives. Default "<repo root or
	// cwd>/.run/postgres"; callers normally pass it explicitly.
	DataDir string
	// Logf receives progress messages; nil means silent.
	Logf func(format string, args ...any)
	// SkipDefaultPort disables probing 127.0.0.1:5432, so tests can exercise
	// the private path on machines that also run a system PostgreSQL.
	SkipDefaultPort bool
	// AllowInstall lets Ensure run `apt-get install -y postgresql` (as root,
	// where apt-get exists) when no PostgreSQL binaries are found.
	AllowInstall bool
	// Unsynced starts a private cluster with fsync, synchronous_commit and
	// full_page_writes off, for tests only: a crash of the machine or of
	// Postgres then loses commits already acknowledged and can corrupt the
	// cluster, a price worth the speed only for throwaway test databases.
	// The default, what make run uses, is durable.
	Unsynced bool
}

// Server is a reachable PostgreSQL with superuser access.
type Server struct {
	// URL is a superuser connection string, e.g.
	// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, or for a
	// private cluster postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable.
	URL string
	// Source is "env", "default-port" or "private".
	Source string

	cluster *cluster // non-nil only for Source "private"
}

// Ensure returns a server, in this order: $DATABASE_URL if set (verified to
// answer within 3 s, error if not); else a server already accepting
// connections at 127.0.0.1:5432 as superuser postgres without a password
// (1 s timeout, skipped if it fails); else a private throwaway cluster started
// from the machine's PostgreSQL binaries under opts.DataDir, which takes only
// its generated password (a cluster from before passwords is replaced).
func Ensure(ctx context.Context, opts Options) (*Server, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}

	if url := os.Getenv("DATABASE_URL"); url != "" {
		// An explicit DATABASE_URL is a decision by the user; silently
		// falling back to another server would hide their misconfiguration.
		// The URL is not echoed because it may carry a password.
		if err := withConn(ctx, url, 3*time.Second, func(ctx context.Context, conn *pgx.Conn) error {
			return conn.Ping(ctx)
		}); err != nil {
			return nil, fmt.Errorf("pgcluster: DATABASE_URL is set but its server does not answer: %w", err)
		}
		logf("postgres: using DATABASE_URL")
		return &Server{URL: url, Source: sourceEnv}, nil
	}

	if !opts.SkipDefaultPort {
		var super string
		err := withConn(ctx, defaultPortURL, time.Second, func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, "SELECT current_setting('is_superuser')").Scan(&super)
		})
		if err == nil && super == "on" {
			logf("postgres: using the server on 127.0.0.1:5432")
			return &Server{URL: defaultPortURL, Source: sourceDefaultPort}, nil
		}
	}

	dataDir := opts.DataDir
	if dataDir == "" {
		var err error
		if dataDir, err = defaultDataDir(); err != nil {
			return nil, err
		}
	}
	c, url, err := startPrivate(ctx, dataDir, opts.AllowInstall, opts.Unsynced, logf)
	if err != nil {
		return nil, err
	}
	return &Server{URL: url, Source: sourcePrivate, cluster: c}, nil
}

// Stop stops the private cluster behind s (pg_ctl stop -m fast, waiting for
// it to exit). It is a no-op for "env" and "default-port" servers, because
// those belong to someone else, and safe to call more than once. A Server
// that reused an already running private cluster stops it too: the cluster
// belongs to the DataDir, not to the process that happened to start it.
func (s *Server) Stop() error {
	if s == nil || s.cluster == nil {
		return nil
	}
	return s.cluster.Stop()
}

// withConn runs fn on a fresh connection, bounding connect and fn together by
// timeout so that a dead or firewalled host cannot stall Ensure.
func withConn(ctx context.Context, url string, timeout time.Duration, fn func(context.Context, *pgx.Conn) error) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(ctx, conn)
}

// defaultDataDir anchors the cluster at the repository root so that every
// command run from any subdirectory (go test runs in package dirs) shares it.
func defaultDataDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	for dir := wd; ; {
		for _, marker := range []string{"go.work", ".git"} {
			if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
				return filepath.Join(dir, ".run", "postgres"), nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return filepath.Join(wd, ".run", "postgres"), nil
}

// lineWriter turns a child's output stream into Logf lines and remembers the
// last few for error messages, since Logf may be silent.
type lineWriter struct {
	logf   func(string, ...any)
	prefix string
	buf    []byte
	tail   []string
}

const lineWriterTail = 20

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) Flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *lineWriter) emit(b []byte) {
	// apt-get redraws progress with \r; only the final state is worth a line.
	s := string(b)
	if i := strings.LastIndexByte(strings.TrimRight(s, "\r"), '\r'); i >= 0 {
		s = s[i+1:]
	}
	line := strings.TrimSpace(s)
	if line == "" {
		return
	}
	w.logf("%s%s", w.prefix, line)
	w.tail = append(w.tail, line)
	if len(w.tail) > lineWriterTail {
		w.tail = w.tail[len(w.tail)-lineWriterTail:]
	}
}

func (w *lineWriter) Tail() string { return strings.Join(w.tail, "\n") }
