//go:build linux

package proxy

import (
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// accepted takes a connection a loop accepted: max_connections first, then
// the loop opens it, or a goroutine does when the listener terminates TLS.
func (l *tcpListener) accepted(lp *loop, fd int, peer netip.AddrPort) {
	l.stats.accepted.Add(1)
	cfg := l.cfg.Load()
	if cfg.MaxConnections > 0 && l.stats.active.Load() >= int64(cfg.MaxConnections) {
		l.stats.rejected.Add(1)
		if n, ok := l.limitLog.allow(); ok {
			l.logger.Warn("max_connections reached; closing new connection",
				"client", peer, "max_connections", cfg.MaxConnections, "suppressed", n)
		}
		l.record(cfg, l.peersOf(fd, peer), netip.AddrPort{}, time.Now(), 0, 0, "rejected")
		unix.Close(fd)
		return
	}
	l.stats.active.Add(1)
	l.handlers.Add(1)
	if cfg.TLS.Config != nil {
		go l.handleFD(fd, cfg)
		return
	}
	l.open(lp, fd, peer, cfg)
}

// open starts a connection accepted by lp, on lp or, when it holds many
// more, on the loop holding the fewest: the kernel wakes the first idle
// loop for each accept, so long-lived agent streams that come one at a
// time would all land on one loop, and one CPU.
func (l *tcpListener) open(lp *loop, fd int, peer netip.AddrPort, cfg *Config) {
	start := time.Now()
	c := &tcpConn{start: start, lastActive: start, cfg: cfg, peers: l.peersOf(fd, peer)}
	f := &tcpFlow{lp: lp.lightest(), l: l, c: c, fds: [2]int{fd, -1}, connecting: true}
	if f.lp != lp {
		f.lp.post(opOpen, f)
		return
	}
	f.start()
}

// start takes a new flow on its loop: its PROXY header first, when its peer
// must send one, then its admission and connect.
func (f *tcpFlow) start() {
	lp, l, cfg, peer := f.lp, f.l, f.c.cfg, f.c.peers.peer
	lp.place(f)
	if err := lp.watch(f, clientSide); err != nil {
		l.stats.localErrors.Add(1)
		f.gaveUp(statusLocalError)
		return
	}
	if pp := &cfg.ProxyProtocol; pp.Accept && pp.trusted(peer.Addr()) {
		f.awaitHeader(pp.Timeout)
		return
	}
	f.admit()
}

// admit applies allow and deny and the per-source limits to the client,
// and starts the connect of one admitted.
func (f *tcpFlow) admit() {
	c, l := f.c, f.l
	var status string
	if c.src, status = l.admit(c.peers.client, c.cfg, c.start); status != "" {
		f.gaveUp(status)
		return
	}
	l.newTries(&f.tries, c.peers.client, c.cfg)
	f.dialNext()
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
	local, err := sysLocal(fd)
	if err != nil {
		return l.local
	}
	return local
}

// handleFD runs a TLS connection accepted by a loop on a goroutine of its
// own, as a net.TCPConn.
func (l *tcpListener) handleFD(fd int, cfg *Config) {
	f := os.NewFile(uintptr(fd), "")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		l.stats.localErrors.Add(1)
		if n, ok := l.localLog.allow(); ok {
			l.logger.Error("cannot take an accepted connection; closing it", "error", err, "suppressed", n,
				"hint", "raise the open-file limit (ulimit -n, LimitNOFILE) or lower max_connections")
		}
		l.stats.active.Add(-1)
		l.handlers.Done()
		return
	}
	l.handle(conn.(*net.TCPConn), cfg)
}
