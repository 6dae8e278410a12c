//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package pgcluster

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// lockFile serializes Ensure and Stop across processes sharing a DataDir
// (say two make targets started at once), which would otherwise race on
// initdb and on pg_ctl start. flock is released by the kernel if the holder
// dies, so a crashed run cannot wedge the next one.
func lockFile(ctx context.Context, path string, logf func(string, ...any)) (func(), error) {
	// Read-only suffices for flock and keeps working if the file belongs to
	// another user from an earlier run.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	waiting := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, err
		}
		if !waiting {
			logf("postgres: waiting for another process using %s", path)
			waiting = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func fileOwner(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// ownProcessGroup puts a PostgreSQL tool (and the postmaster pg_ctl leaves behind) in a process
// group of its own, so the Ctrl-C a terminal sends to `make run` reaches only the dev stack,
// which then stops the cluster after the services have drained.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
