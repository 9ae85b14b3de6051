//go:build !linux

package proxy

// pinlb's data path is Linux's: splice(2) through pipes, recvmmsg and
// sendmmsg, SO_REUSEPORT socket groups, TCP_INFO and SO_MEMINFO counters.
// On another system the build stops here, with this name in the error.
var _ = pinlb_runs_on_linux_only
