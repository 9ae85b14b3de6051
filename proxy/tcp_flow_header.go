//go:build linux

package proxy

import (
	"fmt"
	"io"

	"github.com/pinlb/pinlb/proxy/reactor"
	"golang.org/x/sys/unix"
)

// The awaitingHeader phase: a connection from a peer that must send a
// PROXY header waits for it with only its client's socket in the epoll set
// and the header's timeout as its deadline. The socket is peeked at until
// the header is whole; then the header alone is taken, so that the
// client's first bytes stay in the socket for the relay (or the TLS
// handshake), and the connection is admitted.

// The reactor's buffer holds the largest header pinlb takes.
var _ [reactor.BufferSize - maxHeader]struct{}

// awaitHeader enters the phase.
func (f *tcpFlow) awaitHeader() {
	f.phase = awaitingHeader
	f.r.SetTimer(&f.timer, f.c.start.Add(f.c.cfg.ProxyProtocol.Timeout).UnixNano(), f)
	f.headerReady(false) // it often came with the connection
}

// headerReady takes the header once the client's bytes hold it whole.
// ended says an event told of the client's end (or error), after which
// no byte comes: a header still short of whole then never will be.
func (f *tcpFlow) headerReady(ended bool) {
	buf, fd := f.r.Buf(), f.fds[clientSide]
	n, err := reactor.Peek(fd, buf)
	if err == unix.EAGAIN {
		return
	}
	size := 0
	if err == nil {
		size, err = headerLength(buf[:n])
	}
	short := err == nil && (size == 0 || size > n) // not whole yet
	switch {
	case short && (n == 0 || ended):
		err = io.ErrUnexpectedEOF
	case short:
		return // the next segment raises an edge
	}
	if err == nil {
		err = f.takeHeader(size)
	}
	if err != nil {
		f.headerFailed(outcomeProxyInvalid, fmt.Errorf("PROXY header: %w", err))
		return
	}
	f.r.StopTimer(&f.timer)
	// The bytes past the header raised their edge already.
	f.dirs[clientSide].readable, f.dirs[clientSide].hangup = n > size || ended, ended
	f.admit()
}

// takeHeader reads the size bytes of the header, which the peek saw, and
// takes the client's and server's addresses from it.
func (f *tcpFlow) takeHeader(size int) error {
	raw := f.r.Buf()[:size]
	n, err := reactor.Read(f.fds[clientSide], raw)
	switch {
	case err != nil:
		return err
	case n < size:
		return fmt.Errorf("read %d of the %d bytes peeked", n, size)
	}
	h, err := parseHeader(raw)
	if err != nil {
		return err
	}
	f.c.peers.fromHeader(h)
	return nil
}

// headerLate is the phase's deadline.
func (f *tcpFlow) headerLate() {
	f.headerFailed(outcomeProxyTimeout, fmt.Errorf("no whole PROXY header within %v", f.c.cfg.ProxyProtocol.Timeout))
}

// headerFailed ends a flow whose header did not come whole, or not in time.
func (f *tcpFlow) headerFailed(o outcome, err error) {
	f.l.proxyHeaderFailed(f.c.peers, err)
	f.end(o)
}
