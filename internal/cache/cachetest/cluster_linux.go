package cachetest

import (
	"errors"
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the process when the thread that
// started it ends, which at the latest is when the test binary exits, even by
// a panic or a test timeout.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// alive reports whether a process with the pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
