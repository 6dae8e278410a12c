package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

const noBinariesMsg = "pgcluster: no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; " +
	"install PostgreSQL server binaries, e.g. `apt-get install postgresql` on Debian/Ubuntu, " +
	"`brew install postgresql` on macOS, or set DATABASE_URL"

// pg_ctl status exit codes.
const (
	statusRunning    = 0
	statusNotRunning = 3
	statusNoDataDir  = 4
)

// cluster is a private PostgreSQL cluster laid out under base as
// data/ (PGDATA), sock/ (unix socket dir), postgres.log and password.
type cluster struct {
	bin  string // directory holding initdb, pg_ctl and postgres
	base string // absolute Options.DataDir
	logf func(string, ...any)
	// unsynced is Options.Unsynced.
	unsynced bool
	// settings are further -c name=value server settings (a replicated pair's roles); Ensure's
	// clusters have none.
	settings []string

	// runuser is set when we are root: initdb and postgres refuse to run as
	// root, so every server-side command is run as the postgres OS user,
	// whose ids are uid and gid.
	runuser  string
	uid, gid int

	// password is the superuser's, generated with the cluster: anyone on the
	// machine can reach 127.0.0.1, so the cluster trusts no one by address.
	password string

	mu      sync.Mutex
	stopped bool
}

func (c *cluster) dataDir() string  { return filepath.Join(c.base, "data") }
func (c *cluster) sockDir() string  { return filepath.Join(c.base, "sock") }
func (c *cluster) logFile() string  { return filepath.Join(c.base, "postgres.log") }
func (c *cluster) lockPath() string { return filepath.Join(c.base, "ensure.lock") }
func (c *cluster) pidFile() string  { return filepath.Join(c.dataDir(), "postmaster.pid") }

// passwordFile holds the superuser's password, readable by its owner only.
func (c *cluster) passwordFile() string { return filepath.Join(c.base, "password") }

func startPrivate(ctx context.Context, base string, allowInstall, unsynced bool, logf func(string, ...any)) (*cluster, string, error) {
	base, err := filepath.Abs(base)
	if err != nil {
		return nil, "", fmt.Errorf("pgcluster: %w", err)
	}
	bin, ok := findBinDir(ctx)
	if !ok && allowInstall {
		if err := install(ctx, logf); err != nil {
			return nil, "", err
		}
		bin, ok = findBinDir(ctx)
	}
	if !ok {
		return nil, "", errors.New(noBinariesMsg)
	}

	c := &cluster{bin: bin, base: base, logf: logf, unsynced: unsynced}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, "", fmt.Errorf("pgcluster: %w", err)
	}
	unlock, err := lockFile(ctx, c.lockPath(), logf)
	if err != nil {
		return nil, "", fmt.Errorf("pgcluster: locking %s: %w", c.lockPath(), err)
	}
	defer unlock()

	if os.Geteuid() == 0 {
		if err := c.prepareRoot(ctx); err != nil {
			return nil, "", err
		}
	} else if err := os.MkdirAll(c.sockDir(), 0o700); err != nil {
		return nil, "", fmt.Errorf("pgcluster: %w", err)
	}

	if err := c.retireTrusting(ctx); err != nil {
		return nil, "", err
	}
	if err := c.loadPassword(); err != nil {
		return nil, "", err
	}
	if err := c.initdb(ctx); err != nil {
		return nil, "", err
	}
	if port, ok := c.reusable(ctx); ok {
		if c.durabilityMatches(ctx, port) {
			logf("postgres: reusing private cluster already running on 127.0.0.1:%d", port)
			return c, c.url(port), nil
		}
		// A cluster started unsynced (by a test, or by a version that always
		// did) would silently lose acknowledged commits in a crash.
		logf("postgres: restarting private cluster on 127.0.0.1:%d to change fsync/synchronous_commit", port)
		if err := c.stop(ctx); err != nil {
			return nil, "", err
		}
	}
	port, err := c.start(ctx)
	if err != nil {
		return nil, "", err
	}
	url := c.url(port)
	if err := withConn(ctx, url, 10*time.Second, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.Ping(ctx)
	}); err != nil {
		_ = c.stop(context.WithoutCancel(ctx))
		return nil, "", fmt.Errorf("pgcluster: private cluster started but does not answer: %w", err)
	}
	return c, url, nil
}

// url is the superuser's connection string; the password is hex, so it needs no escaping.
func (c *cluster) url(port int) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", c.password, port)
}

// loadPassword reads the cluster's password, or makes one for a cluster yet to be created.
func (c *cluster) loadPassword() error {
	b, err := os.ReadFile(c.passwordFile())
	if errors.Is(err, fs.ErrNotExist) {
		var random [32]byte
		if _, err := rand.Read(random[:]); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		c.password = hex.EncodeToString(random[:])
		// A password without its cluster is harmless; a cluster without its password is not
		// reachable, so the file is written first.
		if err := os.WriteFile(c.passwordFile(), []byte(c.password+"\n"), 0o600); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	c.password = strings.TrimSpace(string(b))
	if len(c.password) != 64 {
		return fmt.Errorf("pgcluster: %s does not hold a password this package wrote; remove %s to start afresh", c.passwordFile(), c.base)
	}
	// Whatever happened to the file since, it is the superuser's password.
	return os.Chmod(c.passwordFile(), 0o600)
}

// retireTrusting removes a cluster this package made before it used passwords (trust
// authentication, no password file): it admitted any local user as superuser, and its data is
// throwaway by definition. The next steps create a cluster with a password in its place.
func (c *cluster) retireTrusting(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err != nil {
		return nil
	}
	if _, err := os.Stat(c.passwordFile()); err == nil && !c.trusts() {
		return nil
	}
	c.logf("postgres: replacing the private cluster in %s, which let anyone on this machine in without a password (its data is throwaway)", c.dataDir())
	if c.status(ctx) == statusRunning {
		if err := c.stop(ctx); err != nil {
			return err
		}
	}
	if err := os.Remove(c.passwordFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := os.RemoveAll(c.dataDir()); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// trusts reports whether the cluster's pg_hba.conf lets anyone in on trust.
func (c *cluster) trusts() bool {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "pg_hba.conf"))
	if err != nil {
		return true // cannot tell: treat it as the old kind
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line, _, _ = strings.Cut(line, "#"); slices.Contains(strings.Fields(line), "trust") {
			return true
		}
	}
	return false
}

// findBinDir prefers pg_config because it names the installation the user
// deliberately put on PATH. Its answer is checked, though: Debian's libpq-dev
// ships a pg_config that points at server binaries that may not be installed.
func findBinDir(ctx context.Context) (string, bool) {
	if p, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.CommandContext(ctx, p, "--bindir").Output(); err == nil {
			if d := strings.TrimSpace(string(out)); hasServerBinaries(d) {
				return d, true
			}
		}
	}

	// Debian/Ubuntu keep server binaries off PATH, one directory per major.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(dirs[j])), filepath.Base(filepath.Dir(dirs[i])))
	})
	for _, d := range dirs {
		if hasServerBinaries(d) {
			return d, true
		}
	}

	if p, err := exec.LookPath("initdb"); err == nil {
		// initdb on PATH is often a symlink; pg_ctl and postgres live next to
		// its target, not necessarily next to the link.
		if real, err := filepath.EvalSymlinks(p); err == nil && hasServerBinaries(filepath.Dir(real)) {
			return filepath.Dir(real), true
		}
		if hasServerBinaries(filepath.Dir(p)) {
			return filepath.Dir(p), true
		}
	}
	return "", false
}

func hasServerBinaries(dir string) bool {
	if dir == "" {
		return false
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// versionLess compares "9.6" < "15" numerically, where string order would not.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errX := strconv.Atoi(as[i])
		y, errY := strconv.Atoi(bs[i])
		if errX != nil || errY != nil {
			return a < b
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

func install(ctx context.Context, logf func(string, ...any)) error {
	aptGet, err := exec.LookPath("apt-get")
	if err != nil || os.Geteuid() != 0 {
		return errors.New(noBinariesMsg + " (automatic install needs root and apt-get)")
	}
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, aptGet, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		w := &lineWriter{logf: logf, prefix: "apt-get: "}
		cmd.Stdout, cmd.Stderr = w, w
		err := cmd.Run()
		w.Flush()
		if err != nil {
			return fmt.Errorf("pgcluster: apt-get %s: %w\n%s", strings.Join(args, " "), err, w.Tail())
		}
		return nil
	}
	installArgs := []string{"install", "-y", "--no-install-recommends", "postgresql"}
	logf("postgres: no PostgreSQL binaries found; installing with apt-get")
	if err := run(installArgs...); err != nil {
		// Fresh container images usually ship without package lists.
		logf("postgres: apt-get install failed; running apt-get update and retrying")
		if err := run("update"); err != nil {
			return err
		}
		return run(installArgs...)
	}
	return nil
}

// prepareRoot makes the cluster directories usable by the postgres OS user,
// creating that user if the machine has none.
func (c *cluster) prepareRoot(ctx context.Context) error {
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		return errors.New("pgcluster: running as root, but PostgreSQL refuses to run as root and runuser (util-linux) was not found to drop to the postgres user; run as a normal user or set DATABASE_URL")
	}
	c.runuser = runuser

	u, err := user.Lookup("postgres")
	if err != nil {
		c.logf("postgres: creating system user postgres")
		out, err := exec.CommandContext(ctx, "useradd", "--system", "--no-create-home", "postgres").CombinedOutput()
		if err != nil {
			return fmt.Errorf("pgcluster: useradd postgres: %w\n%s", err, out)
		}
		if u, err = user.Lookup("postgres"); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("pgcluster: postgres user ids: %w", err)
	}
	c.uid, c.gid = uid, gid

	if err := os.MkdirAll(c.sockDir(), 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	// pg_ctl appends to the log and initdb creates data/ from inside base, so
	// both directories and the log must belong to postgres.
	for _, p := range []string{c.base, c.sockDir(), c.logFile()} {
		if err := chownIfNeeded(p, uid, gid); err != nil {
			return err
		}
	}
	// A data dir created by another user (say a non-root run) would make the
	// postmaster refuse to start, so hand over the whole tree.
	if fi, err := os.Lstat(c.dataDir()); err == nil {
		if owner, ok := fileOwner(fi); !ok || owner != uid {
			c.logf("postgres: handing %s over to the postgres user", c.dataDir())
			if err := chownTree(c.dataDir(), uid, gid); err != nil {
				return err
			}
		}
	}
	return c.ensureTraversable(ctx)
}

func chownIfNeeded(path string, uid, gid int) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if owner, ok := fileOwner(fi); ok && owner == uid {
		return nil
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pgcluster: %w", err)
		}
		return nil
	})
}

// ensureTraversable makes sure the postgres user can reach base. Asking the
// kernel (via test -x as that user) is the only reliable check once groups
// and ACLs are involved. Parents are only opened up (o+x, never read) when
// that check fails, e.g. for a repository under a private home directory or a
// 0700 directory from os.MkdirTemp.
func (c *cluster) ensureTraversable(ctx context.Context) error {
	if c.canTraverse(ctx, c.base) {
		return nil
	}
	var dirs []string
	for d := c.base; ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	// Top-down, because a directory is only reachable once its parents are.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if c.canTraverse(ctx, d) {
			continue
		}
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		c.logf("postgres: adding o+x to %s so the postgres user can reach %s", d, c.base)
		mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if err := os.Chmod(d, mode|0o001); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if !c.canTraverse(ctx, d) {
			return fmt.Errorf("pgcluster: the postgres user cannot enter %s even after chmod o+x; choose a DataDir it can reach or set DATABASE_URL", d)
		}
	}
	return nil
}

func (c *cluster) canTraverse(ctx context.Context, dir string) bool {
	cmd := exec.CommandContext(ctx, c.runuser, "-u", "postgres", "--", "test", "-x", dir)
	cmd.Dir = "/"
	return cmd.Run() == nil
}

// command runs a PostgreSQL tool, as the postgres user when we are root. The
// working directory is base because a child inheriting an unreadable cwd
// (root's home, say) makes initdb and postgres complain or fail.
func (c *cluster) command(ctx context.Context, tool string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.runuser != "" {
		cmd = exec.CommandContext(ctx, c.runuser, append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.base
	ownProcessGroup(cmd)
	// pg_ctl start leaves a postmaster behind; should it ever hold our output
	// pipes, Wait must not block on it forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (c *cluster) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err == nil {
		return nil
	}
	// PG_VERSION is written last-ish by initdb; without it the directory is a
	// leftover of an interrupted initdb, which initdb itself refuses to reuse.
	if err := os.RemoveAll(c.dataDir()); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	c.logf("postgres: initializing throwaway cluster in %s", c.dataDir())
	// initdb reads the password from a file that the user it runs as can read;
	// it lives only as long as initdb does.
	pwfile := filepath.Join(c.base, "initdb-password")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer os.Remove(pwfile)
	if c.runuser != "" {
		if err := os.Chown(pwfile, c.uid, c.gid); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	// --locale=C keeps initdb independent of whatever LANG the caller has,
	// which on minimal images often names a locale that is not installed.
	// scram-sha-256 everywhere, the unix socket included: no one gets in on
	// who they are or where they connect from, only with the password.
	args := []string{"-D", c.dataDir(), "-A", "scram-sha-256", "--pwfile", pwfile, "-U", "postgres", "-E", "UTF8", "--locale=C"}
	if c.unsynced {
		args = append(args, "--no-sync") // unflushed files are what Unsynced accepts
	}
	out, err := c.command(ctx, "initdb", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: initdb: %w\n%s", err, out)
	}
	return nil
}

// reusable reports the port of a cluster of ours that is already running and
// answering, and otherwise clears whatever stands in the way of a new start.
func (c *cluster) reusable(ctx context.Context) (int, bool) {
	raw, err := os.ReadFile(c.pidFile())
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(raw), "\n")
	pid := 0
	if len(lines) > 0 {
		pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	}
	if pid <= 0 {
		// A torn postmaster.pid (crash while writing) makes postgres refuse
		// to start with "bogus data in lock file".
		c.logf("postgres: removing unreadable %s", c.pidFile())
		_ = os.Remove(c.pidFile())
		return 0, false
	}
	if len(lines) > 3 {
		if port, err := strconv.Atoi(strings.TrimSpace(lines[3])); err == nil && port > 0 {
			// Checking data_directory guards against the port having been
			// taken over by some other server since ours died.
			var dir string
			err := withConn(ctx, c.url(port), 2*time.Second, func(ctx context.Context, conn *pgx.Conn) error {
				return conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dir)
			})
			if err == nil && sameDir(dir, c.dataDir()) {
				return port, true
			}
		}
	}

	if pidIsForeign(pid) {
		// After a reboot or kill -9 the PID may belong to an unrelated live
		// process; postgres would then refuse to start and pg_ctl stop would
		// signal the wrong process.
		c.logf("postgres: removing stale %s (PID %d is not a postgres process)", c.pidFile(), pid)
		_ = os.Remove(c.pidFile())
		return 0, false
	}
	if c.status(ctx) == statusRunning {
		c.logf("postgres: stopping private cluster (PID %d) that does not answer", pid)
		if err := c.stop(ctx); err != nil {
			c.logf("postgres: %v", err)
		}
	}
	// A dead PID is fine: postgres itself overwrites such a stale lock file.
	return 0, false
}

func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

// pidIsForeign reports whether pid is alive but not a postgres process. It
// answers false whenever it cannot tell (no /proc), leaving pg_ctl to judge.
func pidIsForeign(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	name := strings.TrimSpace(string(comm))
	return name != "postgres" && name != "postmaster"
}

func (c *cluster) status(ctx context.Context) int {
	err := c.command(ctx, "pg_ctl", "-D", c.dataDir(), "status").Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return statusRunning
	case errors.As(err, &exitErr):
		return exitErr.ExitCode()
	default:
		return -1
	}
}

func (c *cluster) start(ctx context.Context) (int, error) {
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return 0, fmt.Errorf("pgcluster: picking a port: %w", err)
		}
		c.logf("postgres: starting private cluster on 127.0.0.1:%d", port)
		out, err := c.command(ctx, "pg_ctl", "-D", c.dataDir(), "-l", c.logFile(), "-w", "-t", "30",
			"start", "-o", c.serverOptions(port)).CombinedOutput()
		if err == nil {
			return port, nil
		}
		lastErr = fmt.Errorf("pg_ctl start: %w\n%s\n%s (tail):\n%s", err, strings.TrimSpace(string(out)), c.logFile(), fileTail(c.logFile(), 15))
		if ctx.Err() != nil {
			break
		}
		c.logf("postgres: start attempt %d failed: %v", attempt, err)
		// Failures here are usually transient: someone took the port between
		// freePort and the bind, or backends of a kill -9'd postmaster still
		// hold its shared memory for a moment. A postmaster that came up
		// after pg_ctl gave up would block the retry, so stop it first.
		if c.status(ctx) == statusRunning {
			_ = c.stop(ctx)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	return 0, fmt.Errorf("pgcluster: could not start private cluster: %w", lastErr)
}

// serverOptions builds pg_ctl's -o string, which pg_ctl pastes into a shell
// command line, hence the quoting.
//
// fsync, synchronous_commit and full_page_writes stay on (the defaults)
// unless Options.Unsynced: make run's data is what a developer just created
// through the API, and a create acknowledged and then lost in a crash is the
// very bug the suite must not show. Tests turn them off for speed.
// max_connections is high because parallel test packages each open pools.
func (c *cluster) serverOptions(port int) string {
	sock := c.sockDir()
	// Unix socket paths are capped at ~104 bytes. Clients here use TCP and
	// pg_ctl -w watches postmaster.pid, so a deep DataDir just goes without.
	if len(sock)+len("/.s.PGSQL.65535") >= 100 {
		c.logf("postgres: %s is too long for a unix socket; listening on TCP only", sock)
		sock = ""
	}
	opts := []string{
		"-c listen_addresses=127.0.0.1",
		"-p " + strconv.Itoa(port),
		"-k " + shellQuote(sock),
		"-c fsync=" + c.syncSetting(),
		"-c synchronous_commit=" + c.syncSetting(),
		"-c full_page_writes=" + c.syncSetting(),
		"-c max_connections=300",
		"-c shared_buffers=128MB",
	}
	for _, s := range c.settings {
		opts = append(opts, "-c "+shellQuote(s))
	}
	return strings.Join(opts, " ")
}

func (c *cluster) syncSetting() string {
	if c.unsynced {
		return "off"
	}
	return "on"
}

// durabilityMatches reports whether the server on port runs with the fsync
// and synchronous_commit this Ensure asked for.
func (c *cluster) durabilityMatches(ctx context.Context, port int) bool {
	var fsync, syncCommit string
	err := withConn(ctx, c.url(port), 2*time.Second, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &syncCommit)
	})
	return err == nil && fsync == c.syncSetting() && syncCommit == c.syncSetting()
}

func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:=+,@%-", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *cluster) stop(ctx context.Context) error {
	out, err := c.command(ctx, "pg_ctl", "-D", c.dataDir(), "stop", "-m", "fast", "-w", "-t", "60").CombinedOutput()
	if err == nil {
		return nil
	}
	// pg_ctl stop fails when there is nothing to stop; that is success here.
	if s := c.status(ctx); s == statusNotRunning || s == statusNoDataDir {
		return nil
	}
	return fmt.Errorf("pgcluster: pg_ctl stop: %w\n%s", err, out)
}

// Stop is Server.Stop for a private cluster.
func (c *cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	if _, err := os.Stat(c.dataDir()); errors.Is(err, fs.ErrNotExist) {
		c.stopped = true
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	unlock, err := lockFile(ctx, c.lockPath(), c.logf)
	if err != nil {
		return fmt.Errorf("pgcluster: locking %s: %w", c.lockPath(), err)
	}
	defer unlock()
	if err := c.stop(ctx); err != nil {
		return err
	}
	c.stopped = true
	c.logf("postgres: stopped private cluster in %s", c.dataDir())
	return nil
}
