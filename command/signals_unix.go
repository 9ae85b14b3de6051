//go:build !windows

package command

import "syscall"

// The agent dumps its metrics on SIGUSR1 and reopens its access log on
// SIGUSR2.
var (
	sigDumpMetrics = syscall.SIGUSR1
	sigReopenLog   = syscall.SIGUSR2
)
