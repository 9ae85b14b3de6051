//go:build linux

package proxy

import (
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// A connection from a peer that must send a PROXY header reads it on the
// loop too: its socket waits in the epoll set with the header's timeout in
// the loop's timers, and is peeked at until the header is whole; then the
// header alone is taken, so the client's first bytes stay in the socket
// for the relay, and the connection is admitted and connects as any other.

// The loop's buffer holds the largest header pinlb takes.
var _ [readBufferSize - maxHeader]struct{}

// awaitHeader starts waiting for the flow's PROXY header, within timeout.
func (f *tcpFlow) awaitHeader(timeout time.Duration) {
	f.header = true
	f.lp.timers.add(f, f.c.start.Add(timeout).UnixNano())
	f.readHeader(false) // it often came with the connection
}

// readHeader takes the header once the client's bytes hold it whole.
// ended says an event told of the client's end (or error), after which
// no byte comes: a header still short of whole then never will be.
func (f *tcpFlow) readHeader(ended bool) {
	buf, fd := f.lp.buf, f.fds[clientSide]
	n, err := sysPeek(fd, buf)
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
		f.headerFailed(statusProxyInvalid, fmt.Errorf("PROXY header: %w", err))
		return
	}
	f.header = false
	f.lp.timers.cancel(f)
	// The bytes past the header raised their edge already.
	f.dirs[clientSide].readable, f.dirs[clientSide].hangup = n > size || ended, ended
	f.admit()
}

// takeHeader reads the size bytes of the header, which the peek saw, and
// takes the client's and server's addresses from it.
func (f *tcpFlow) takeHeader(size int) error {
	raw := f.lp.buf[:size]
	n, err := sysRead(f.fds[clientSide], raw)
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

// headerFailed ends a flow whose header did not come whole, or not in time.
func (f *tcpFlow) headerFailed(status string, err error) {
	f.l.proxyHeaderFailed(f.c.peers, err)
	f.gaveUp(status)
}

// headerLate is the error of a header whose timeout passed.
func (f *tcpFlow) headerLate() {
	f.headerFailed(statusProxyTimeout, fmt.Errorf("no whole PROXY header within %v", f.c.cfg.ProxyProtocol.Timeout))
}

// sysPeek reads what the socket holds without taking it.
func sysPeek(fd int, p []byte) (int, error) {
	return sockIO(unix.SYS_RECVFROM, fd, p, unix.MSG_PEEK|unix.MSG_DONTWAIT)
}
