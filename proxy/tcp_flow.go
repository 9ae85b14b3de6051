//go:build linux

package proxy

import (
	"sync/atomic"

	"github.com/pinlb/pinlb/proxy/reactor"
	"golang.org/x/sys/unix"
)

// phase is where a connection on a reactor is in its life. Each readiness
// event and each deadline goes to the one handler of the flow's phase:
//
//	awaitingHeader → connecting → relaying → closed
//	      ↓ (TLS)        ↓ (gave up)   (its peers, or the watchdog)
//	  handed off      closed
//
// The rules of a flow:
//   - Only its reactor's goroutine touches it, but for its byte counters
//     (half.bytes), which the watchdog and the status read. Other
//     goroutines reach it through the driver methods, which post.
//   - It has at most one deadline, its phase's: the PROXY header's, the
//     connect's, or, once it relays, turning keep-alive on and the next
//     look for quiet calls to end (tcp_flow_h2c_moves.go).
//   - It ends once, through end, which closes what it holds and settles
//     the connection; a flow handed off to a TLS goroutine is the
//     goroutine's from then on, and the goroutine settles it.
//   - Lock order: a reactor's goroutine may take tcpListener.mu (track);
//     nothing holding tcpListener.mu waits for a reactor (it posts).
type phase uint8

const (
	awaitingHeader phase = iota // the client's PROXY header: only its socket is open (tcp_flow_header.go)
	connecting                  // a try's connect in progress; the client's bytes wait in its socket (tcp_flow_connect.go)
	relaying                    // bytes move both ways (tcp_flow_relay.go)
	closed                      // ended, or handed off to a TLS goroutine
)

// side is one socket of a flow; a direction is named by the side it reads.
type side int32

const (
	clientSide side = iota
	upstreamSide
)

// tcpFlow is a connection on a reactor: its two sockets, which Go's poller
// never sees, its phase, and the state of each direction.
type tcpFlow struct {
	r     *reactor.Reactor
	l     *tcpListener
	c     *tcpConn
	slot  reactor.Slot
	phase phase
	fds   [2]int  // by side; -1 when not open
	dirs  [2]half // dirs[s] reads side s and writes the other
	timer reactor.Timer
	err   error // the first error of either direction

	h2c       h2cFollow // what it knows of an h2c connection (tcp_flow_h2c.go)
	observe   bool      // least_time: tell the pool the time to the backend's first byte
	keptAlive bool      // keep-alive is on for the backend's socket
	queued    bool      // asked the reactor for another turn
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
	p      *reactor.Pipe // the pipe a bulk direction splices through, while it holds bytes
	inPipe int

	bytes atomic.Uint64 // written to the destination
}

// end closes the flow's sockets, gives back what it holds (a pipe with
// bytes that can no longer go anywhere is closed, never reused), and
// settles the connection with o.
func (f *tcpFlow) end(o outcome) {
	if f.phase == closed {
		return
	}
	f.phase = closed
	f.r.StopTimer(&f.timer)
	for _, fd := range f.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	for i := range f.dirs {
		f.dirs[i].free(f.r)
	}
	f.r.Release(f.slot)
	f.l.settle(f.c, o, f.dirs[clientSide].bytes.Load(), f.dirs[upstreamSide].bytes.Load(), f.err)
}

// fail ends the flow on the first error of either direction.
func (f *tcpFlow) fail(err error) {
	if f.err == nil {
		f.err = err
	}
	f.end(outcomeOK)
}

// The flow is its connection's driver from the connect on: the watchdog's
// calls post to its reactor.

func (f *tcpFlow) bytes() (in, out uint64) {
	return f.dirs[clientSide].bytes.Load(), f.dirs[upstreamSide].bytes.Load()
}

func (f *tcpFlow) closeWrite() { f.r.Post(f.shutdownClient) }

func (f *tcpFlow) abort() { f.r.Post(f.abortNow) }

func (f *tcpFlow) abortNow() { f.end(outcomeOK) } // the watchdog set the outcome

// shutdownClient sends the client a FIN.
func (f *tcpFlow) shutdownClient() {
	if f.phase == relaying {
		unix.Shutdown(f.fds[clientSide], unix.SHUT_WR)
	}
}

// free gives back what the direction holds, once its flow ended: a pipe
// with bytes that can no longer go anywhere is closed, never reused.
func (d *half) free(r *reactor.Reactor) {
	switch {
	case d.p != nil && d.inPipe == 0:
		r.PutPipe(d.p)
	case d.p != nil:
		d.p.Close()
	}
	if d.pend != nil {
		r.PutSpare(d.pend)
	}
	d.p, d.pend = nil, nil
}
