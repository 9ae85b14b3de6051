//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pinlb/pinlb/proxy/reactor"
	"golang.org/x/sys/unix"
)

// The connecting phase: each try is a non-blocking connect whose socket
// waits in the epoll set, with the try's timeout as the flow's deadline;
// the client's bytes wait in its socket meanwhile, and the relay starts
// when a try connects.

// connect enters the phase.
func (f *tcpFlow) connect() {
	f.phase = connecting
	f.l.pool.Lease(&f.c.lease, f.c.peers.client)
	f.dialNext()
}

// dialNext starts the next try that gets as far as a connect in progress,
// or gives up.
func (f *tcpFlow) dialNext() {
	c := f.c
	for addr, timeout, ok := c.lease.Next(); ok; addr, timeout, ok = c.lease.Next() {
		err := f.startTry(addr, timeout)
		if err == nil {
			return
		}
		if o, again := f.l.tryFailed(c, err); !again {
			f.end(o)
			return
		}
	}
	f.end(f.l.exhausted(c))
}

// startTry opens the upstream socket and starts its connect.
func (f *tcpFlow) startTry(addr netip.AddrPort, timeout time.Duration) error {
	fd, err := startConnect(addr, f.c.cfg.BufferSize)
	if err != nil {
		return err
	}
	f.fds[upstreamSide] = fd
	if err := f.r.Watch(fd, f.slot, uint32(upstreamSide), reactor.Edge); err != nil {
		unix.Close(fd)
		f.fds[upstreamSide] = -1
		return dialError(addr, os.NewSyscallError("epoll_ctl", err))
	}
	f.r.SetTimer(&f.timer, time.Now().Add(timeout).UnixNano(), f)
	return nil
}

// startConnect opens a non-blocking socket toward addr, its buffers fixed
// at bufferSize, and starts its connect.
func startConnect(addr netip.AddrPort, bufferSize int) (int, error) {
	family, sa := sockaddrOf(addr)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, dialError(addr, os.NewSyscallError("socket", err))
	}
	if err := setUpstreamOptions(fd, bufferSize); err != nil {
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

// connectReady takes the upstream socket's event while it connects: the
// connect's outcome. True when the flow relays from now on; the event
// then counts for the relay too, as it may say the backend has spoken
// already, and no new edge would tell. An event without Out or Failed is
// not the connect's; Out alone is a connect that worked; only a failure
// asks the socket what happened.
func (f *tcpFlow) connectReady(ev reactor.Events) bool {
	switch {
	case !ev.Out():
		return false
	case !ev.Failed():
		return f.connected()
	}
	errno, err := unix.GetsockoptInt(f.fds[upstreamSide], unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && errno != 0 {
		err = unix.Errno(errno)
	}
	if err != nil {
		f.tryFailed(dialError(f.c.lease.Trying(), os.NewSyscallError("connect", err)))
		return false
	}
	return f.connected()
}

// tryFailed closes the try's socket and goes on to the next try, if any.
func (f *tcpFlow) tryFailed(err error) {
	f.r.StopTimer(&f.timer)
	unix.Close(f.fds[upstreamSide])
	f.fds[upstreamSide] = -1
	if o, again := f.l.tryFailed(f.c, err); !again {
		f.end(o)
		return
	}
	f.dialNext()
}

// connected starts the relay, tracked from now on; false when it ended
// at once. The caller resumes it: the client's bytes that came meanwhile
// go first.
func (f *tcpFlow) connected() bool {
	c := f.c
	f.phase = relaying
	f.r.SetTimer(&f.timer, time.Now().Add(keepAliveAfter).UnixNano(), f)
	c.lease.Connected()
	c.setLifetime()
	f.observe = c.cfg.Balance == LeastTime
	f.h2c.start(c.cfg.HTTP2GoAway)
	c.drv = f
	if !f.l.track(c) {
		f.end(outcomeShutdown)
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
	w, err := reactor.Send(f.fds[upstreamSide], h)
	switch {
	case err != nil:
		return fmt.Errorf("PROXY header: %w", err)
	case w < len(h):
		return errHeaderShort
	}
	return nil
}

//END
