//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// takeTerminal moves the dev stack into a process group of its own and makes it the terminal's
// foreground group, as a shell does for a job. Ctrl-C then reaches only the dev stack, which
// stops everything cleanly and exits 0, instead of also killing `make`, which would report the
// run as interrupted. The returned function gives the terminal back. Without a controlling
// terminal (CI, tests, a service manager) it does nothing.
func takeTerminal() (restore func()) {
	fd := int(os.Stdin.Fd())
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || fg != unix.Getpgrp() {
		return func() {}
	}
	// A background group touching the terminal's settings gets SIGTTOU, which would stop us.
	signal.Ignore(syscall.SIGTTOU)
	if err := unix.Setpgid(0, 0); err != nil {
		return func() {}
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, unix.Getpid()); err != nil {
		_ = unix.Setpgid(0, fg)
		return func() {}
	}
	return func() { _ = unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, fg) }
}
