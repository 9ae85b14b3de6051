//go:build linux

package proxy

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// handoff gives an established connection to a relay loop: each socket is
// duplicated, and the original closed, which takes it out of Go's poller
// (a socket left there would wake the runtime on every message too). It
// returns false, with the connection as it was, when a socket cannot be
// duplicated (no file descriptor left): the caller relays it on its own
// goroutines then.
func (l *tcpListener) handoff(c *tcpConn) bool {
	cfd, err := dupSocket(c.client)
	if err != nil {
		return false
	}
	ufd, err := dupSocket(c.upstream)
	if err != nil {
		unix.Close(cfd)
		return false
	}
	c.closeBoth()
	lp := pickLoop()
	f := &tcpFlow{lp: lp, l: l, c: c, fds: [2]int{cfd, ufd}}
	if c.cfg.Balance == LeastTime {
		f.observe = c.backend
	}
	c.flow.Store(f)
	lp.post(opAdd, f)
	// The watchdog may have acted on the connection while it moved: it saw
	// no flow then, and closed or shut down sockets that are gone now.
	switch closeReason(c.reason.Load()) {
	case closedByPeer:
	case closedRebalance, closedLifetime:
		lp.post(opMove, f)
	default:
		lp.post(opAbort, f)
	}
	return true
}

// dupSocket duplicates a socket of Go's, non-blocking as Go made it.
func dupSocket(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	return fd, derr
}
