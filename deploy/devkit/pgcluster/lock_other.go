//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package pgcluster

import (
	"context"
	"os"
	"os/exec"
)

// lockFile is a no-op where flock is unavailable; concurrent Ensure calls on
// one DataDir are then the caller's problem.
func lockFile(context.Context, string, func(string, ...any)) (func(), error) {
	return func() {}, nil
}

// fileOwner cannot tell here, so callers chown unconditionally.
func fileOwner(os.FileInfo) (int, bool) { return 0, false }

func ownProcessGroup(*exec.Cmd) {}
