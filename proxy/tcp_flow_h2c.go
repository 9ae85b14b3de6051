//go:build linux

package proxy

import (
	"sync/atomic"

	"github.com/pinlb/pinlb/proxy/h2c"
)

// A flow on a listener with http2_goaway follows its connection while it
// may be h2c (plaintext HTTP/2 with prior knowledge, as Pinpoint's agents
// speak gRPC): the client's preface, then both sides' frames, header by
// header, so that pinlb can ask the client to move (a GOAWAY of its own)
// and end its calls that would never end (tcp_flow_h2c_moves.go). The
// rules (h2c's doc.go has the protocol's):
//   - The server's direction, the light one in Pinpoint, never splices
//     while it is followed: the tracker must see every byte.
//   - The client's direction is followed while its reads are small, as
//     Pinpoint's messages are; a read that fills the buffer hands it to
//     splice, and its calls are unknown from then on (nothing is ended).
//   - Anything that is not HTTP/2 (Thrift, TLS passed through, HTTP/1.1,
//     a protocol error) or the server's own GOAWAY ends the following for
//     good, and the connection is relayed byte for byte as any other.
//   - askable and open are what other goroutines read.
type h2cFollow struct {
	on         bool // following: the connection may still be h2c
	clientOK   bool // the client's preface matched
	callsKnown bool // every client frame was seen: calls is the truth
	client     h2c.Preface
	clientSide h2c.Tracker
	server     h2c.Tracker
	calls      h2c.Calls

	want    []byte // the GOAWAY to put in at the server's next safe point
	sent    bool   // the GOAWAY went in
	ending  bool   // ending quiet calls, on the flow's timer
	askable atomic.Bool
	open    atomic.Int32 // open calls; -1 when unknown
}

// start follows a new connection, when its listener asks for it.
func (h *h2cFollow) start(on bool) {
	h.on = on
	h.open.Store(-1)
	h.clientSide.Feeds(&h.calls, true)
	h.server.Feeds(&h.calls, false)
}

// follows says whether side s's bytes must all be read, never spliced.
func (h *h2cFollow) follows(s side) bool {
	return h.on && (s == upstreamSide || !h.clientOK)
}

// heard takes bytes read from side s (full: they filled the buffer), and
// returns where in them a wanted GOAWAY goes: -1 for nowhere.
func (h *h2cFollow) heard(s side, b []byte, full bool) int {
	at := -1
	if s == clientSide {
		h.heardClient(b, full)
	} else {
		at = h.heardServer(b)
	}
	h.update()
	return at
}

func (h *h2cFollow) heardClient(b []byte, full bool) {
	if !h.clientOK {
		n, done, ok := h.client.Match(b)
		if !done {
			return
		}
		h.clientOK, h.callsKnown, h.on = ok, ok, ok
		b = b[n:]
	}
	if h.callsKnown {
		h.clientSide.Feed(b, false)
		h.callsKnown = !full && !h.clientSide.Broken()
	}
}

func (h *h2cFollow) heardServer(b []byte) int {
	at, fed := -1, 0
	if h.want != nil {
		fed = h.server.Feed(b, true)
		if h.server.Safe() {
			at = fed
		}
	}
	h.server.Feed(b[fed:], false)
	return at
}

// update ends the following once the connection is not HTTP/2, or the
// server asked the client to go itself, and publishes what the watchdog
// reads.
func (h *h2cFollow) update() {
	if !h.server.Usable() {
		h.on = false
	}
	h.askable.Store(h.on && h.clientOK && h.server.Ready())
	open := int32(-1)
	if h.on && h.callsKnown {
		open = int32(h.calls.Open())
	}
	h.open.Store(open)
}
