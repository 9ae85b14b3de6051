//go:build linux

package proxy

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// side is one socket of a flow; a direction is named by the side it reads.
type side int32

const (
	clientSide side = iota
	upstreamSide
)

// tcpFlow is a connection on a loop: its two sockets, which Go's poller
// never sees, and the state of each direction. Only its loop touches it, but
// for the byte counters, which the watchdog and the status read.
type tcpFlow struct {
	lp      *loop
	l       *tcpListener
	c       *tcpConn
	slot    uint32
	fds     [2]int   // by side
	dirs    [2]half  // dirs[s] reads side s and writes the other
	observe *backend // least_time: told the time to the backend's first byte
	queued  bool     // in lp.again
	closed  bool
	err     error

	// A flow the loop accepted reads its PROXY header there, if its peer
	// must send one, and connects there first.
	header     bool
	connecting bool
	tries      tries
	deadline   int64 // of the header, the connect or the keep-alive, Unix nanoseconds (see timeUp)
	timer      int   // one past the flow's place in lp.timers; 0 for none
}

// half is one direction of a flow.
type half struct {
	readable bool // the source has bytes, or its end, not read yet
	hangup   bool // an event said the source's peer ended or failed: read on until that shows
	blocked  bool // the destination was full; its EPOLLOUT clears this
	ended    bool // the source's end was passed on as a half-close
	bulk     bool // the last read filled the buffer: splice from now on

	pend   []byte // bytes read that the destination did not take yet
	pendAt int
	p      *pipe // the pipe a bulk direction splices through, while it holds bytes
	inPipe int

	bytes atomic.Uint64 // written to the destination
}

// flowTurn bounds the reads a direction makes before the loop's other flows
// have their turn.
const flowTurn = 16

// ready takes an event of one of the flow's sockets and moves what it can.
func (f *tcpFlow) ready(s side, events uint32) {
	if f.header { // only the client's socket is open yet
		f.readHeader(events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
		return
	}
	if f.connecting && s == upstreamSide && !f.connectDone(events) {
		return
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		f.dirs[s].readable = true
	}
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		f.dirs[s].hangup = true
	}
	if events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		f.dirs[1-s].blocked = false
	}
	if !f.connecting { // the client's bytes wait for the connect
		f.resume()
	}
}

// resume moves what both directions can move now.
func (f *tcpFlow) resume() {
	f.queued = false
	f.pump(clientSide)
	f.pump(upstreamSide)
}

// pump moves one direction's bytes until its source has none, its
// destination is full, or its turn ends; then it waits for an event, or
// for its next turn.
func (f *tcpFlow) pump(s side) {
	d := &f.dirs[s]
	for range flowTurn {
		if f.closed || d.blocked || !f.flush(s) || !d.readable || d.ended {
			return
		}
		if d.bulk {
			f.spliceIn(s)
		} else {
			f.readIn(s)
		}
	}
	if !f.queued && !f.closed {
		f.queued = true
		f.lp.again = append(f.lp.again, f)
	}
}

// readIn reads what the source has into the loop's buffer and writes it on;
// what the destination does not take waits in a spare buffer.
func (f *tcpFlow) readIn(s side) {
	d, buf := &f.dirs[s], f.lp.buf
	n, err := sysRead(f.fds[s], buf)
	if !f.took(s, n, err) {
		return
	}
	d.bulk = n == len(buf)
	// A read short of the buffer emptied the socket: the next bytes raise
	// an edge of their own, so the read that would say EAGAIN is saved
	// (one system call of three per small message). An end or error that
	// came with the bytes raised no new edge: hangup reads on for it.
	if n < len(buf) && !d.hangup {
		d.readable = false
	}
	w, err := sysSend(f.fds[1-s], buf[:n])
	if err != nil && err != unix.EAGAIN {
		f.fail(err)
		return
	}
	d.bytes.Add(uint64(w))
	if w < n { // flush tries again: only its EAGAIN says the socket is full
		d.pend = append(f.lp.getSpare(), buf[w:n]...)
		d.pendAt = 0
	}
}

// spliceIn moves what the source has into the direction's pipe, kernel-side;
// flush takes it on to the destination. A direction whose splice moved
// little goes back to reading: for small messages, read and write are
// fewer system calls than splice in and out.
func (f *tcpFlow) spliceIn(s side) {
	d := &f.dirs[s]
	if d.p == nil {
		p, err := f.lp.getPipe()
		if err != nil { // out of file descriptors: read instead
			d.bulk = false
			return
		}
		d.p = p
	}
	n, err := sysSplice(f.fds[s], d.p.w, d.p.size)
	if !f.took(s, n, err) {
		if d.p != nil && d.inPipe == 0 {
			f.lp.putPipe(d.p)
			d.p = nil
		}
		return
	}
	d.inPipe = n
	d.bulk = n >= readBufferSize/4
}

// took handles a read's outcome; true when it brought bytes.
func (f *tcpFlow) took(s side, n int, err error) bool {
	d := &f.dirs[s]
	switch {
	case err == unix.EAGAIN:
		d.readable = false
		return false
	case err != nil:
		f.fail(err)
		return false
	case n == 0:
		f.ended(s)
		return false
	}
	if s == upstreamSide && f.observe != nil {
		f.observe.observe(time.Since(f.c.start))
		f.observe = nil
	}
	return true
}

// flush writes what the direction holds; false while the destination is
// full, or when the flow failed.
func (f *tcpFlow) flush(s side) bool {
	d, dst := &f.dirs[s], f.fds[1-s]
	for d.pendAt < len(d.pend) {
		w, err := sysSend(dst, d.pend[d.pendAt:])
		if !f.wrote(d, w, err) {
			return false
		}
		d.pendAt += w
	}
	if d.pend != nil {
		f.lp.putSpare(d.pend)
		d.pend, d.pendAt = nil, 0
	}
	for d.inPipe > 0 {
		w, err := sysSplice(d.p.r, dst, d.inPipe)
		if !f.wrote(d, w, err) {
			return false
		}
		d.inPipe -= w
	}
	return true
}

// wrote counts a write; false when it took nothing (the flow waits for
// EPOLLOUT) or failed.
func (f *tcpFlow) wrote(d *half, w int, err error) bool {
	switch {
	case err == unix.EAGAIN:
		d.blocked = true
		return false
	case err != nil:
		f.fail(err)
		return false
	}
	d.bytes.Add(uint64(w))
	return true
}

// ended passes a source's end on as a half-close, and closes the flow once
// both directions have ended.
func (f *tcpFlow) ended(s side) {
	d := &f.dirs[s]
	d.ended, d.readable = true, false
	if d.p != nil {
		f.lp.putPipe(d.p)
		d.p = nil
	}
	if f.dirs[1-s].ended {
		f.close() // its FIN: every byte of the other end was read, so no reset
		return
	}
	unix.Shutdown(f.fds[1-s], unix.SHUT_WR)
}

// shutdownClient sends the client a FIN, for tcpConn.move.
func (f *tcpFlow) shutdownClient() {
	if !f.closed {
		unix.Shutdown(f.fds[clientSide], unix.SHUT_WR)
	}
}

// fail closes both sockets on the first error of either direction.
func (f *tcpFlow) fail(err error) {
	if f.err == nil {
		f.err = err
	}
	f.close()
}

// close closes both sockets, gives back what the flow holds (a pipe with
// bytes that can no longer go anywhere is closed, never reused), and ends
// the connection's accounting.
func (f *tcpFlow) close() {
	if f.closed {
		return
	}
	f.closed = true
	f.lp.timers.cancel(f)
	unix.Close(f.fds[0])
	unix.Close(f.fds[1])
	for i := range f.dirs {
		d := &f.dirs[i]
		if d.p != nil && d.inPipe == 0 {
			f.lp.putPipe(d.p)
		} else if d.p != nil {
			d.p.close()
		}
		if d.pend != nil {
			f.lp.putSpare(d.pend)
		}
		d.p, d.pend = nil, nil
	}
	f.lp.remove(f)
	f.l.finish(f.c, int64(f.dirs[0].bytes.Load()), int64(f.dirs[1].bytes.Load()), f.err)
}

// The loop's system calls never block (the sockets and pipes are
// non-blocking), so they skip the scheduler's hand-off that a blocking
// call needs. EINTR is retried at once: an edge-triggered flow that took it
// for "nothing left" would wait for an event that never comes.

func sysRead(fd int, p []byte) (int, error) {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e != unix.EINTR {
			return retval(n, e)
		}
	}
}

// sysSend writes without SIGPIPE: a peer's reset is an error, not a signal.
func sysSend(fd int, p []byte) (int, error) {
	return sockIO(unix.SYS_SENDTO, fd, p, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
}

// sockIO is sendto(2) or recvfrom(2), with flags and no address.
func sockIO(trap uintptr, fd int, p []byte, flags int) (int, error) {
	for {
		n, _, e := unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(flags), 0, 0)
		if e != unix.EINTR {
			return retval(n, e)
		}
	}
}

func sysSplice(in, out, n int) (int, error) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n),
			unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		if e != unix.EINTR {
			return retval(r, e)
		}
	}
}

func retval(n uintptr, e unix.Errno) (int, error) {
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
