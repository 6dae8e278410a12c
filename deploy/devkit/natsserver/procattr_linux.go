package natsserver

import "syscall"

// nodeProcAttr has the kernel SIGKILL a process node when the test that started it dies, however
// it dies: a node left running would hold its ports and store. (Strictly, when the thread that
// started it ends; Go ends a thread only when a goroutine locked to it exits, which the goroutines
// starting nodes never are.)
func nodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
