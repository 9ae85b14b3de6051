//go:build linux

package proxy

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/pinlb/pinlb/proxy/reactor"
	"golang.org/x/sys/unix"
)

// An acceptor is a TCP listener's socket in one reactor's epoll set.
// Every reactor holds the socket, each woken alone (reactor.Exclusive), and
// accepts on it, so a new connection goes from accept to connect to relay
// on one thread, with no goroutine and no hand-off.
type acceptor struct {
	l       *tcpListener
	r       *reactor.Reactor
	slot    reactor.Slot
	armed   bool          // in the epoll set
	gone    bool          // the listener closed: a pending re-arm does nothing
	backoff time.Duration // after an accept error; 0 when the last accept worked
}

// acceptBatch bounds the accepts of one wake-up, so that a flood of new
// connections leaves the reactor's open ones their turn.
const acceptBatch = 16

// listenFD listens on address and returns the socket, out of Go's poller:
// the reactors own it.
func listenFD(address string, bufferSize int) (int, net.Addr, error) {
	ln, err := listenKeepAlive(address, bufferSize)
	if err != nil {
		return -1, nil, err
	}
	defer ln.Close()
	fd, err := dupSocket(ln.(*net.TCPListener))
	return fd, ln.Addr(), err
}

// listen gives the acceptor a slot and arms it; on its reactor.
func (a *acceptor) listen() error {
	a.slot = a.r.Register(a)
	if err := a.arm(); err != nil {
		a.r.Release(a.slot)
		return err
	}
	return nil
}

// unlisten stops accepting for good; on its reactor.
func (a *acceptor) unlisten() error {
	a.disarm()
	a.gone = true
	a.r.Release(a.slot)
	return nil
}

// arm adds the listening socket to the reactor's epoll set.
func (a *acceptor) arm() error {
	if err := a.r.Watch(a.l.fd, a.slot, 0, reactor.Exclusive); err != nil {
		return err
	}
	a.armed = true
	return nil
}

func (a *acceptor) disarm() {
	if a.armed {
		a.r.Unwatch(a.l.fd)
		a.armed = false
	}
}

// Ready takes what the queue holds, up to a batch; the socket is
// level-triggered, so what is left wakes a reactor again.
func (a *acceptor) Ready(uint32, reactor.Events) {
	for range acceptBatch {
		fd, peer, err := reactor.Accept(a.l.fd)
		switch err {
		case nil:
			a.backoff = 0
			a.l.accepted(a.r, fd, peer)
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
	time.AfterFunc(a.backoff, func() { a.r.Post(a.rearm) })
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

// accepted takes a connection a reactor accepted: max_connections first,
// then a flow starts it on r or, when r holds many more, on the reactor
// holding the fewest: the kernel wakes the first idle reactor for each
// accept, so long-lived agent streams that come one at a time would all
// land on one reactor, and one CPU.
func (l *tcpListener) accepted(r *reactor.Reactor, fd int, peer netip.AddrPort) {
	l.stats.accepted.Add(1)
	cfg := l.cfg.Load()
	start := time.Now()
	c := &tcpConn{start: start, lastActive: start, cfg: cfg, peers: l.peersOf(fd, peer)}
	if cfg.MaxConnections > 0 && l.stats.active.Load() >= int64(cfg.MaxConnections) {
		l.stats.rejected.Add(1)
		if n, ok := l.limitLog.allow(); ok {
			l.logger.Warn("max_connections reached; closing new connection",
				"client", peer, "max_connections", cfg.MaxConnections, "suppressed", n)
		}
		l.record(c, netip.AddrPort{}, 0, 0, outcomeRejected)
		unix.Close(fd)
		return
	}
	l.stats.active.Add(1)
	l.handlers.Add(1)
	f := &tcpFlow{r: reactors.Lightest(r), l: l, c: c, fds: [2]int{fd, -1}}
	if f.r != r {
		f.r.Post(f.start)
		return
	}
	f.start()
}

// peersOf is who an accepted connection is between, as its socket says.
func (l *tcpListener) peersOf(fd int, peer netip.AddrPort) peers {
	local := l.localOf(fd)
	return peers{peer: peer, local: local, client: peer, server: local}
}

// localOf is the address a client reached: the listener's, unless it is
// bound to every address of the host, when the socket says which.
func (l *tcpListener) localOf(fd int) netip.AddrPort {
	if l.local.Addr().IsValid() && !l.local.Addr().IsUnspecified() {
		return l.local
	}
	local, err := reactor.LocalAddr(fd)
	if err != nil {
		return l.local
	}
	return local
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
