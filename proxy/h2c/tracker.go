package h2c

import "encoding/binary"

// Tracker follows the frames of one side of an HTTP/2 connection (a
// server's, where Safe tells where pinlb may write; or a client's, after
// its preface, to keep Calls), fed every byte in order, in pieces of any
// size. It reads the 9-byte headers and skips every payload: a frame's
// type, flags and stream say enough.
type Tracker struct {
	head     [headerLen]byte
	have     int    // bytes of the current frame's header read so far
	skip     uint32 // payload bytes of the current frame still to come
	started  bool   // a whole header has been read
	settings bool   // the server's first SETTINGS has passed whole
	inBlock  bool   // a header block is open: only CONTINUATION may come
	goneAway bool   // the server sent a GOAWAY of its own
	broken   bool   // the stream is not HTTP/2 as a server speaks it
	calls    *Calls // fed every frame header, when set
	client   bool   // the frames are the client's
}

// Feeds has the tracker tell calls of every frame header, as the
// client's frames when client, else the server's.
func (t *Tracker) Feeds(calls *Calls, client bool) { t.calls, t.client = calls, client }

// Safe says whether a frame may be put in the server's stream here.
func (t *Tracker) Safe() bool {
	return t.have == 0 && t.skip == 0 && t.settings && !t.inBlock && !t.goneAway && !t.broken
}

// Usable says whether injection may still become safe: not once the server
// sent its own GOAWAY or stopped looking like HTTP/2.
func (t *Tracker) Usable() bool { return !t.goneAway && !t.broken }

// Broken says whether the stream stopped looking like HTTP/2.
func (t *Tracker) Broken() bool { return t.broken }

// Ready says whether the server's connection preface has passed and the
// stream still looks like HTTP/2.
func (t *Tracker) Ready() bool { return t.settings && !t.broken }

// Feed takes the side's next bytes. With stopAtSafe it stops at the first
// point where Safe holds (0 when it already does) and returns how many
// bytes it took; otherwise it takes them all.
func (t *Tracker) Feed(b []byte, stopAtSafe bool) int {
	n := 0
	for n < len(b) {
		if stopAtSafe && t.Safe() {
			return n
		}
		if t.broken {
			return len(b)
		}
		if t.skip > 0 {
			k := int(min(uint32(len(b)-n), t.skip))
			t.skip -= uint32(k)
			n += k
			continue
		}
		k := copy(t.head[t.have:], b[n:])
		t.have += k
		n += k
		if t.have == headerLen {
			t.header()
		}
	}
	return n
}

// header takes a whole frame header. What a frame changes is set as its
// header is read: Safe needs a boundary, so it holds only once the frame
// has passed whole.
func (t *Tracker) header() {
	h := t.head[:]
	length := uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	typ, flags := h[3], h[4]
	stream := binary.BigEndian.Uint32(h[5:]) & maxStreamID
	t.have, t.skip = 0, length
	first := !t.started
	t.started = true
	switch {
	case first && (typ != frameSettings || flags&flagAck != 0):
		t.broken = true // a server's connection preface is a SETTINGS frame
	case t.inBlock != (typ == frameContinuation):
		t.broken = true // a header block cut, or a stray CONTINUATION: never touch it again
	case first:
		t.settings = true
	case typ == frameHeaders || typ == framePushPromise || typ == frameContinuation:
		t.inBlock = flags&flagEndHeaders == 0
	case typ == frameGoAway:
		t.goneAway = true
	}
	switch {
	case t.broken || t.calls == nil:
	case t.client:
		t.calls.client(typ, flags, stream)
	default:
		t.calls.server(typ, flags, stream)
	}
}
