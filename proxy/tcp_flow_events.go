//go:build linux

package proxy

import (
	"errors"
	"os"

	"github.com/pinlb/pinlb/proxy/reactor"
)

// What reaches a flow from outside its phases: its sockets' readiness and
// its deadline from the reactor, and a shutdown's cut. Each goes to the
// handler of the flow's phase.

// Ready dispatches an event of one of the flow's sockets to its phase.
func (f *tcpFlow) Ready(tag uint32, ev reactor.Events) {
	s := side(tag)
	switch f.phase {
	case awaitingHeader:
		f.headerReady(ev.Hangup())
	case connecting:
		if s == upstreamSide && !f.connectReady(ev) {
			return
		}
		f.note(s, ev)
		if f.phase == relaying {
			f.Resume()
		}
	case relaying:
		f.note(s, ev)
		f.Resume()
	}
}

// Expire takes the deadline of the flow's phase.
func (f *tcpFlow) Expire() {
	switch f.phase {
	case awaitingHeader:
		f.headerLate()
	case connecting:
		f.tryFailed(dialError(f.c.lease.Trying(), os.ErrDeadlineExceeded))
	case relaying:
		if !f.keptAlive {
			setKeepAlive(f.fds[upstreamSide]) // the client's has it from the listening socket; fails only on a failing socket
			f.keptAlive = true
		}
		if f.h2c.ending {
			f.endQuietCalls()
		}
	}
}

// cancelConnects fails l's flows that await a header or connect on r:
// l's Shutdown passed its deadline.
func cancelConnects(r *reactor.Reactor, l *tcpListener) {
	r.Timed(func(e reactor.Expirer) {
		f, ok := e.(*tcpFlow)
		if !ok || f.l != l {
			return
		}
		switch f.phase {
		case awaitingHeader:
			f.headerFailed(outcomeProxyTimeout, errShuttingDown)
		case connecting:
			f.tryFailed(dialError(f.c.lease.Trying(), errShuttingDown))
		}
	})
}

var errShuttingDown = errors.New("the listener is shutting down")
