package nodeagent

import "syscall"

// dieWithParent has the kernel kill the app when the test or demo that
// started it dies, so that no agent outlives a killed run.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
