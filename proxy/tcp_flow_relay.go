//go:build linux

package proxy

import (
	"time"

	"github.com/pinlb/pinlb/proxy/reactor"
	"golang.org/x/sys/unix"
)

// The relaying phase: each direction reads its source until EAGAIN, a
// short read or the end of its turn, and writes what it read on; what the
// destination does not take waits in a spare buffer until its EPOLLOUT. A
// direction whose reads fill the buffer splices kernel-side through a
// pipe instead. A source's end goes on as a half-close; the flow ends
// when both directions have.

// flowTurn bounds the reads a direction makes before the reactor's other
// flows have their turn.
const flowTurn = 16

// note takes what an event says of one socket.
func (f *tcpFlow) note(s side, ev reactor.Events) {
	if ev.In() {
		f.dirs[s].readable = true
	}
	if ev.Hangup() {
		f.dirs[s].hangup = true
	}
	if ev.Out() {
		f.dirs[1-s].blocked = false
	}
}

// Resume moves what both directions can move now.
func (f *tcpFlow) Resume() {
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
		if f.phase != relaying || d.blocked || !f.flush(s) || !d.readable || d.ended {
			return
		}
		if d.bulk {
			f.spliceIn(s)
		} else {
			f.readIn(s)
		}
	}
	if !f.queued && f.phase == relaying {
		f.queued = true
		f.r.Again(f)
	}
}

// readIn reads what the source has into the reactor's buffer and writes it
// on; what the destination does not take waits in a spare buffer.
func (f *tcpFlow) readIn(s side) {
	d, buf := &f.dirs[s], f.r.Buf()
	n, err := reactor.Read(f.fds[s], buf)
	if !f.took(s, n, err) {
		return
	}
	d.bulk = n == len(buf) && !f.h2c.follows(s)
	// A read short of the buffer emptied the socket: the next bytes raise
	// an edge of their own, so the read that would say EAGAIN is saved
	// (one system call of three per small message). An end or error that
	// came with the bytes raised no new edge: hangup reads on for it.
	if n < len(buf) && !d.hangup {
		d.readable = false
	}
	if !f.h2c.on {
		f.send(s, buf[:n])
		return
	}
	at := f.h2c.heard(s, buf[:n], n == len(buf))
	if at < 0 {
		f.send(s, buf[:n])
		return
	}
	if f.send(s, buf[:at]) && f.inject(f.h2c.want) {
		f.send(s, buf[at:n])
	}
}

// send writes b toward the other side of s, after what waits there; what
// the destination does not take waits in a spare buffer, and flush tries
// again (only its EAGAIN says the socket is full). False when the flow
// failed.
func (f *tcpFlow) send(s side, b []byte) bool {
	d := &f.dirs[s]
	if d.pend == nil {
		w, err := reactor.Send(f.fds[1-s], b)
		if err != nil && err != unix.EAGAIN {
			f.fail(err)
			return false
		}
		d.bytes.Add(uint64(w))
		if b = b[w:]; len(b) == 0 {
			return true
		}
		d.pend, d.pendAt = f.r.GetSpare(), 0
	}
	d.pend = append(d.pend, b...)
	return true
}

// spliceIn moves what the source has into the direction's pipe, kernel-side;
// flush takes it on to the destination. A direction whose splice moved
// little goes back to reading: for small messages, read and write are
// fewer system calls than splice in and out.
func (f *tcpFlow) spliceIn(s side) {
	d := &f.dirs[s]
	if d.p == nil {
		p, err := f.r.GetPipe(f.c.cfg.BufferSize)
		if err != nil { // out of file descriptors: read instead
			d.bulk = false
			return
		}
		d.p = p
	}
	n, err := d.p.Fill(f.fds[s])
	if !f.took(s, n, err) {
		if d.p != nil && d.inPipe == 0 {
			f.r.PutPipe(d.p)
			d.p = nil
		}
		return
	}
	d.inPipe = n
	d.bulk = n >= reactor.BufferSize/4
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
		f.sourceEnded(s)
		return false
	}
	if s == upstreamSide && f.observe {
		f.c.lease.FirstByte(time.Since(f.c.start))
		f.observe = false
	}
	return true
}

// flush writes what the direction holds; false while the destination is
// full, or when the flow failed.
func (f *tcpFlow) flush(s side) bool {
	d, dst := &f.dirs[s], f.fds[1-s]
	for d.pendAt < len(d.pend) {
		w, err := reactor.Send(dst, d.pend[d.pendAt:])
		if !f.wrote(d, w, err) {
			return false
		}
		d.pendAt += w
	}
	if d.pend != nil {
		f.r.PutSpare(d.pend)
		d.pend, d.pendAt = nil, 0
	}
	for d.inPipe > 0 {
		w, err := d.p.Drain(dst, d.inPipe)
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

// sourceEnded passes a source's end on as a half-close, and ends the flow
// once both directions have ended.
func (f *tcpFlow) sourceEnded(s side) {
	d := &f.dirs[s]
	d.ended, d.readable = true, false
	if d.p != nil {
		f.r.PutPipe(d.p)
		d.p = nil
	}
	if f.dirs[1-s].ended {
		f.end(outcomeOK) // its FIN: every byte of the other end was read, so no reset
		return
	}
	unix.Shutdown(f.fds[1-s], unix.SHUT_WR)
}

//END
