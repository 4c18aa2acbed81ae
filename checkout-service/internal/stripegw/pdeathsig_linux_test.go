package stripegw_test

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill stripe-mock when the test binary dies,
// even by a panic or a test timeout that skips TestMain's cleanup.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
