//go:build linux

package proxy

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An acceptor is a TCP listener's socket in one relay loop's epoll set.
// Every loop holds the socket, each woken alone (EPOLLEXCLUSIVE), and
// accepts on it, so a new connection goes from accept to connect to relay
// on one thread, with no goroutine and no hand-off.
type acceptor struct {
	l       *tcpListener
	lp      *loop
	slot    int
	armed   bool          // in the epoll set
	gone    bool          // the listener closed: a pending re-arm does nothing
	backoff time.Duration // after an accept error; 0 when the last accept worked
}

// acceptBatch bounds the accepts of one wake-up, so that a flood of new
// connections leaves the loop's open ones their turn.
const acceptBatch = 16

// listenFD listens on address and returns the socket, out of Go's poller:
// the loops own it.
func listenFD(address string) (int, net.Addr, error) {
	ln, err := listenKeepAlive(address)
	if err != nil {
		return -1, nil, err
	}
	defer ln.Close()
	fd, err := dupSocket(ln.(*net.TCPListener))
	return fd, ln.Addr(), err
}

// arm adds the listening socket to the loop's epoll set.
func (a *acceptor) arm() error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(a.slot), Pad: acceptPad}
	if err := unix.EpollCtl(a.lp.epfd, unix.EPOLL_CTL_ADD, a.l.fd, &ev); err != nil {
		return err
	}
	a.armed = true
	return nil
}

func (a *acceptor) disarm() {
	if a.armed {
		unix.EpollCtl(a.lp.epfd, unix.EPOLL_CTL_DEL, a.l.fd, nil)
		a.armed = false
	}
}

// accept takes what the queue holds, up to a batch; the socket is
// level-triggered, so what is left wakes a loop again.
func (a *acceptor) accept() {
	for range acceptBatch {
		fd, peer, err := sysAccept(a.l.fd)
		switch err {
		case nil:
			a.backoff = 0
			a.l.accepted(a.lp, fd, peer)
		case unix.ECONNABORTED: // a client gone before its accept
		case unix.EAGAIN:
			return
		default:
			a.failed(err)
			return
		}
	}
}

// failed backs off after an accept error (EMFILE and the like): the
// socket leaves the epoll set, which a level-triggered socket with a full
// queue would otherwise spin, and comes back after the back-off. The
// listener never dies of an accept error.
func (a *acceptor) failed(err error) {
	l := a.l
	l.stats.acceptErrors.Add(1)
	a.backoff = min(max(2*a.backoff, acceptBackoffMin), acceptBackoffMax)
	if n, ok := l.acceptLog.allow(); ok {
		l.logger.Error("accept failed; backing off", "error", os.NewSyscallError("accept4", err), "backoff", a.backoff, "suppressed", n)
	}
	a.disarm()
	time.AfterFunc(a.backoff, func() { a.lp.postAcceptor(opRearm, a) })
}

// rearm brings the socket back after a back-off.
func (a *acceptor) rearm() {
	if a.gone || a.armed {
		return
	}
	if err := a.arm(); err != nil {
		a.failed(err)
	}
}

// sysAccept accepts a connection, non-blocking, and decodes its peer's
// address on the stack; it never blocks, so it skips the scheduler's
// hand-off.
func sysAccept(fd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	for {
		alen := uint32(unix.SizeofSockaddrAny)
		n, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == 0 {
			return int(n), sockaddrAddrPort(unsafe.Pointer(&rsa)), nil
		}
		if e != unix.EINTR {
			return -1, netip.AddrPort{}, e
		}
	}
}

// sysLocal is a socket's own address.
func sysLocal(fd int) (netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	alen := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)))
	if e != 0 {
		return netip.AddrPort{}, e
	}
	return sockaddrAddrPort(unsafe.Pointer(&rsa)), nil
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
