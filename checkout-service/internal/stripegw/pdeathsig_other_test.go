//go:build !linux

package stripegw_test

import "os/exec"

// dieWithParent is a no-op where the kernel cannot tie a child's life to
// its parent; TestMain's cleanup stops stripe-mock.
func dieWithParent(*exec.Cmd) {}
