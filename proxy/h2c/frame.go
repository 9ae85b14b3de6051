package h2c

import "encoding/binary"

// ClientPreface is what an HTTP/2 client sends first (RFC 9113, 3.4).
const ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Frame types and flags the tracker reads.
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	frameGoAway       = 0x7
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
)

// headerLen is the length of a frame header.
const headerLen = 9

// maxStreamID is the highest stream identifier: a GOAWAY that names it
// refuses no stream already opened.
const maxStreamID = 1<<31 - 1

// errNoError is GOAWAY's NO_ERROR: the client lets its calls in progress
// finish and opens new ones elsewhere (grpc-js closes its session
// gracefully only on this code).
const errNoError = 0

// GoAway is a GOAWAY frame that refuses no stream (last-stream-id 2^31-1,
// NO_ERROR) with debug as its opaque data, which clients log.
func GoAway(debug string) []byte {
	f := make([]byte, headerLen+8+len(debug))
	putHeader(f, 8+len(debug), frameGoAway, 0, 0)
	binary.BigEndian.PutUint32(f[headerLen:], maxStreamID)
	binary.BigEndian.PutUint32(f[headerLen+4:], errNoError)
	copy(f[headerLen+8:], debug)
	return f
}

// putHeader writes a frame header at the start of b.
func putHeader(b []byte, length int, typ, flags byte, stream uint32) {
	b[0], b[1], b[2] = byte(length>>16), byte(length>>8), byte(length)
	b[3], b[4] = typ, flags
	binary.BigEndian.PutUint32(b[5:], stream&maxStreamID)
}

// Preface tells whether a client's first bytes are HTTP/2's connection
// preface, fed as they come.
type Preface struct{ matched int }

// Match takes the client's next bytes: done once the answer is known, ok
// when the client is HTTP/2; n is how many of b were the preface's.
func (p *Preface) Match(b []byte) (n int, done, ok bool) {
	n = min(len(b), len(ClientPreface)-p.matched)
	if string(b[:n]) != ClientPreface[p.matched:p.matched+n] {
		return n, true, false
	}
	p.matched += n
	return n, p.matched == len(ClientPreface), p.matched == len(ClientPreface)
}
