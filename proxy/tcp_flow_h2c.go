//go:build linux

package proxy

import (
	"sync/atomic"

	"github.com/pinlb/pinlb/proxy/h2c"
)

// A flow on a listener with http2_goaway follows its connection while it
// may be h2c (plaintext HTTP/2 with prior knowledge, as Pinpoint's agents
// speak gRPC): the client's first bytes against HTTP/2's preface, and the
// server's frames, header by header, so that a GOAWAY of pinlb's can ask
// the client to move. The rules (h2c's doc.go has the protocol's):
//   - Only the server's direction is followed, and it never splices while
//     it is: the tracker must see every byte. The client's direction, the
//     heavy one in Pinpoint, is read only for its preface and keeps
//     splice.
//   - Anything that is not HTTP/2 (Thrift, TLS passed through, HTTP/1.1,
//     a server's protocol error) ends the following for good, and the
//     connection is relayed byte for byte as any other.
//   - A GOAWAY goes in at most once per connection, at the server's first
//     safe point from the ask on: at once when the server's stream is at
//     one, else inside the read that reaches one.
//   - askable is the one field other goroutines read: the watchdog asks
//     only connections that can take a GOAWAY, and moves the others as
//     before.
type h2cFollow struct {
	on       bool // following: the connection may still be h2c
	clientOK bool // the client's preface matched
	client   h2c.Preface
	server   h2c.Tracker
	want     []byte // the GOAWAY to put in at the next safe point
	sent     bool
	askable  atomic.Bool // the client spoke HTTP/2 and the server's SETTINGS passed
}

// follows says whether side s's bytes must all be read, never spliced.
func (h *h2cFollow) follows(s side) bool {
	return h.on && (s == upstreamSide || !h.clientOK)
}

// heard takes bytes read from side s, and returns where in them a GOAWAY
// goes: -1 for nowhere.
func (h *h2cFollow) heard(s side, b []byte) int {
	if s == clientSide {
		if done, ok := h.client.Match(b); done {
			h.clientOK, h.on = ok, ok
		}
		h.update()
		return -1
	}
	at, fed := -1, 0
	if h.want != nil {
		fed = h.server.Feed(b, true)
		if h.server.Safe() {
			at = fed
		}
	}
	h.server.Feed(b[fed:], false)
	h.update()
	return at
}

// update ends the following once the connection is not HTTP/2, and tells
// the watchdog when it can take a GOAWAY.
func (h *h2cFollow) update() {
	if !h.server.Usable() {
		h.on = false // not HTTP/2, or the server asked the client to go itself
	}
	h.askable.Store(h.on && h.clientOK && h.server.Ready())
}

// goAway asks the client to move, with frame as pinlb's GOAWAY; false
// when the connection cannot take one (not h2c, or not yet).
func (f *tcpFlow) goAway(frame []byte) bool {
	if !f.h2c.askable.Load() {
		return false
	}
	f.r.Post(func() { f.putGoAway(frame) })
	return true
}

// putGoAway puts the GOAWAY in now if the server's stream is at a safe
// point, or has the next read that reaches one put it in. A server that
// sent a GOAWAY of its own has asked already.
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
