//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package pgcluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// crash SIGKILLs a postmaster and its processes at once, as a machine that dies takes them: no
// backend gets to tell its client anything. Stopped first, the postmaster can neither notice its
// children dying (and start crash recovery) nor fork new ones, and its children do not see it
// die before they do. Backends lead sessions of their own (PostgreSQL calls setsid in each), so
// they are found by parent, not by process group; where /proc is missing only the postmaster is
// killed, and its backends end on their own when they notice.
func crash(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	for _, child := range children(pid) {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// children lists the processes whose parent is pid, from /proc.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if fields := procStat(child); len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// procStat is /proc/<pid>/stat after the command name: state, ppid, ... (nil without /proc).
func procStat(pid int) []string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// pid (comm) state ppid ...; comm may hold spaces, so read after the last ')'.
	return strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
}

// alive reports whether pid still runs. A killed postmaster belongs to whoever adopted it when
// pg_ctl exited, and a container's init may be slow to reap it, so a zombie counts as dead.
func alive(pid int) bool {
	if fields := procStat(pid); len(fields) > 0 {
		return fields[0] != "Z"
	}
	return syscall.Kill(pid, 0) == nil
}
