package testsupport

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel kill the peer if the test binary dies before
// its cleanup (a panic, a timeout), so that no peer outlives it holding a
// port.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
