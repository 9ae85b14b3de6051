//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A flow that a loop accepted connects on the loop: each try is a
// non-blocking connect whose socket waits in the epoll set, with a
// deadline in the loop's timers; the client's bytes wait in its socket
// meanwhile, and the relay starts when a try connects.

// dialNext starts the next try that gets as far as a connect in progress,
// or gives up.
func (f *tcpFlow) dialNext() {
	t := &f.tries
	for b, timeout := t.next(); b != nil; b, timeout = t.next() {
		err := f.startTry(b.addr, timeout)
		if err == nil {
			return
		}
		if status, again := t.failed(err); !again {
			f.gaveUp(status)
			return
		}
	}
	f.gaveUp(t.exhausted())
}

// startTry opens the upstream socket and starts its connect.
func (f *tcpFlow) startTry(addr netip.AddrPort, timeout time.Duration) error {
	fd, err := startConnect(addr)
	if err != nil {
		return err
	}
	f.fds[upstreamSide] = fd
	if err := f.lp.watch(f, upstreamSide); err != nil {
		unix.Close(fd)
		f.fds[upstreamSide] = -1
		return dialError(addr, os.NewSyscallError("epoll_ctl", err))
	}
	f.lp.timers.add(f, time.Now().Add(timeout).UnixNano())
	return nil
}

// startConnect opens a non-blocking socket toward addr and starts its
// connect.
func startConnect(addr netip.AddrPort) (int, error) {
	family, sa := sockaddrOf(addr)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, dialError(addr, os.NewSyscallError("socket", err))
	}
	if err := setNoDelay(fd); err != nil { // keep-alive comes later: keepAliveAfter
		unix.Close(fd)
		return -1, dialError(addr, os.NewSyscallError("setsockopt", err))
	}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		unix.Close(fd)
		return -1, dialError(addr, os.NewSyscallError("connect", err))
	}
	return fd, nil
}

func sockaddrOf(addr netip.AddrPort) (int, unix.Sockaddr) {
	if a := addr.Addr(); a.Is4() || a.Is4In6() {
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: a.Unmap().As4()}
	}
	return unix.AF_INET6, &unix.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
}

// dialError is a failed try as Go's dialer words it: "dial tcp
// 10.0.0.7:9991: connect: connection refused".
func dialError(addr netip.AddrPort, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(addr), Err: err}
}

// connectDone takes the upstream socket's event while it connects: the
// connect's outcome. True when the flow relays from now on; the event
// then counts for the relay too, as it may say the backend has spoken
// already, and no new edge would tell. EPOLLOUT alone is a connect that
// worked; only an error or a hang-up asks the socket what happened.
func (f *tcpFlow) connectDone(events uint32) bool {
	switch {
	case events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0:
		return false
	case events&(unix.EPOLLERR|unix.EPOLLHUP) == 0:
		return f.connected()
	}
	errno, err := unix.GetsockoptInt(f.fds[upstreamSide], unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && errno != 0 {
		err = unix.Errno(errno)
	}
	if err != nil {
		f.tryFailed(dialError(f.tries.cur.addr, os.NewSyscallError("connect", err)))
		return false
	}
	return f.connected()
}

// tryFailed closes the try's socket and goes on to the next try, if any.
func (f *tcpFlow) tryFailed(err error) {
	f.lp.timers.cancel(f)
	unix.Close(f.fds[upstreamSide])
	f.fds[upstreamSide] = -1
	if status, again := f.tries.failed(err); !again {
		f.gaveUp(status)
		return
	}
	f.dialNext()
}

// connected starts the relay, tracked from now on; false when it ended
// at once. The caller resumes it: the client's bytes that came meanwhile
// go first.
func (f *tcpFlow) connected() bool {
	c, l := f.c, f.l
	f.lp.timers.cancel(f)
	f.lp.timers.add(f, time.Now().Add(keepAliveAfter).UnixNano())
	f.connecting = false
	c.backend = f.tries.connected()
	c.setLifetime()
	if c.cfg.Balance == LeastTime {
		f.observe = c.backend
	}
	c.flow.Store(f)
	if !l.track(c) {
		c.reason.Store(int32(closedShutdown))
		f.close()
		return false
	}
	if v := c.cfg.SendProxyProtocol; v != "" {
		if err := f.sendHeader(v); err != nil {
			f.fail(err)
			return false
		}
	}
	return true
}

// errHeaderShort: a fresh socket's buffer takes a PROXY header whole; one
// that does not is failing.
var errHeaderShort = errors.New("the backend's socket did not take the PROXY header whole")

// sendHeader writes the PROXY header that starts the backend's stream.
func (f *tcpFlow) sendHeader(version string) error {
	h, err := proxyHeader(version, f.c.peers)
	if err != nil {
		return err
	}
	w, err := sysSend(f.fds[upstreamSide], h)
	switch {
	case err != nil:
		return fmt.Errorf("PROXY header: %w", err)
	case w < len(h):
		return errHeaderShort
	}
	return nil
}

// gaveUp ends a flow that no try connected: recorded with its status, the
// client closed.
func (f *tcpFlow) gaveUp(status string) {
	c, l := f.c, f.l
	addr := netip.AddrPort{}
	if b := f.tries.last; b != nil {
		addr = b.addr
	}
	l.record(c.cfg, c.peers, addr, c.start, 0, 0, status)
	f.lp.timers.cancel(f)
	f.closed = true
	unix.Close(f.fds[clientSide])
	f.lp.remove(f)
	l.done(c)
}

// cancelConnects fails the tries in progress of l's flows, and their
// headers awaited: its Shutdown passed its deadline.
func (lp *loop) cancelConnects(l *tcpListener) {
	var cut []*tcpFlow
	for _, f := range lp.timers.h {
		if f.l == l {
			cut = append(cut, f)
		}
	}
	for _, f := range cut {
		switch {
		case f.closed:
		case f.header:
			f.headerFailed(statusProxyTimeout, errShuttingDown)
		case f.connecting:
			f.tryFailed(dialError(f.tries.cur.addr, errShuttingDown))
		}
	}
}

var errShuttingDown = errors.New("the listener is shutting down")
