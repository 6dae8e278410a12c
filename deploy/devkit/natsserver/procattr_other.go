//go:build !linux

package natsserver

import "syscall"

// nodeProcAttr is nil where the kernel cannot tie a process to its parent's life: a process node
// notices its parent's death by its stdin closing instead.
func nodeProcAttr() *syscall.SysProcAttr { return nil }
