//go:build linux

package proxy

import (
	"time"

	"github.com/pinlb/pinlb/proxy/h2c"
)

// An h2c flow's moves, on its reactor (tcp_moves.go decides them):
//   - A GOAWAY goes in at most once, at the server's first safe point from
//     the ask on: at once when the server's stream is at one, else inside
//     the read that reaches one.
//   - Calls are ended only after the GOAWAY went in (the client then
//     opens its next call on a new connection), each at a safe point,
//     once no DATA of the client's came on it for a quiet window: what it
//     sent has reached the server, and little is on its way.
//   - An ended call is forgotten: the server's later frames on it pass
//     on, and the client ignores them, as HTTP/2 lets it for a closed
//     stream.

// quietWindow is how long a call must have had no DATA of its client's
// before pinlb ends it. Pinpoint's agents send a span per traced request,
// so a busy agent's stream has gaps this long between its messages.
const quietWindow = 20 * time.Millisecond

// goAway asks the client to move, with frame as pinlb's GOAWAY, and with
// endCalls ends its calls once quiet; false when the connection cannot
// take a GOAWAY (not h2c, or not yet), and nothing was done.
func (f *tcpFlow) goAway(frame []byte, endCalls bool) bool {
	if !f.h2c.askable.Load() {
		return false
	}
	f.r.Post(func() {
		f.putGoAway(frame)
		if endCalls {
			f.startEndingCalls()
		}
	})
	return true
}

// calls is how many calls the connection carries; -1 when unknown.
func (f *tcpFlow) calls() int { return int(f.h2c.open.Load()) }

// putGoAway puts the GOAWAY in now if the server's stream is at a safe
// point, or has the next read that reaches one put it in.
func (f *tcpFlow) putGoAway(frame []byte) {
	h := &f.h2c
	switch {
	case f.phase != relaying || !h.on || h.sent:
	case h.server.Safe():
		f.inject(frame)
	default:
		h.want = frame
	}
}

// inject writes pinlb's GOAWAY to the client after every server byte the
// tracker has seen.
func (f *tcpFlow) inject(frame []byte) bool {
	f.h2c.want, f.h2c.sent = nil, true
	f.l.stats.goAwaySent.Add(1)
	return f.send(upstreamSide, frame)
}

// startEndingCalls has the flow's timer look for quiet calls, a quiet
// window from now.
func (f *tcpFlow) startEndingCalls() {
	h := &f.h2c
	if f.phase != relaying || !h.on || !h.callsKnown || h.ending {
		return
	}
	h.calls.Quiet() // the first look: quiet from now on
	h.ending = true
	f.r.SetTimer(&f.timer, time.Now().Add(quietWindow).UnixNano(), f)
}

// endQuietCalls ends the calls that had no client DATA since the last look,
// if the GOAWAY went in and the server's stream is at a safe point, and
// looks again a quiet window later while calls remain.
func (f *tcpFlow) endQuietCalls() {
	h := &f.h2c
	if !h.on || !h.callsKnown {
		h.ending = false
		return
	}
	if h.sent && h.server.Safe() {
		for _, q := range h.calls.Quiet() {
			h.calls.Ended(q.Stream)
			f.l.stats.callsEnded.Add(1)
			f.c.move.Store(uint32(movedEndedCall))
			if !f.send(upstreamSide, h2c.EndCall(q.Stream, q.Answered)) {
				return
			}
		}
		h.update()
	}
	if h.ending = h.calls.Open() > 0; h.ending {
		f.r.SetTimer(&f.timer, time.Now().Add(quietWindow).UnixNano(), f)
	}
}
