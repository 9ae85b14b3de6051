package h2c

import (
	"slices"
	"testing"
)

// FuzzTracker builds a server's stream of frames from the input (valid
// ones and, by its bytes, stray and cut ones), feeds it split at points the
// input chooses, and holds every point the tracker calls safe to a
// reference reading of the whole stream: a frame boundary, after the first
// SETTINGS, outside any header block, before any GOAWAY of the server's
// and before anything that is not HTTP/2. Every such boundary must be
// found, too.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{4, 0, 6, 1, 0, 4, 1, 1, 4, 9, 0, 3, 9, 4, 2}, []byte{1, 5, 2})
	f.Add([]byte{4, 0, 0, 7, 0, 8, 0, 0, 1}, []byte{3})
	f.Add([]byte{1, 4, 3}, []byte{1})
	f.Fuzz(func(t *testing.T, spec, cuts []byte) {
		stream := build(spec)
		want := reference(stream)
		asClient(stream)
		for _, piece := range pieceSizes(cuts) {
			if got := safePoints(stream, piece); !slices.Equal(got, want) {
				t.Fatalf("pieces of %d: safe at %v, want %v (stream % x)", piece, got, want, stream)
			}
		}
	})
}

// build makes frames from triples of the spec: type (0-9, or a byte of
// garbage above), flags, payload length (0-31).
func build(spec []byte) []byte {
	var out []byte
	for i := 0; i+2 < len(spec); i += 3 {
		typ, flags, n := spec[i], spec[i+1], int(spec[i+2]%32)
		if typ > 9 {
			out = append(out, typ) // garbage: the stream is cut out of frame
			continue
		}
		out = append(out, frame(typ, flags, uint32(i%7), n)...)
	}
	return out
}

// asClient feeds the stream to Calls as a client's and a server's frames
// both, looking for quiet calls and ending them as it goes: whatever the
// frames, Calls must neither panic nor count a call twice.
func asClient(stream []byte) {
	var calls Calls
	var client, server Tracker
	client.Feeds(&calls, true)
	server.Feeds(&calls, false)
	for i := 0; i < len(stream); i += 7 {
		piece := stream[i:min(i+7, len(stream))]
		client.Feed(piece, false)
		server.Feed(piece, false)
		for _, q := range calls.Quiet() {
			calls.Ended(q.Stream)
		}
	}
	if calls.Open() < 0 {
		panic("a negative count of calls")
	}
}

func pieceSizes(cuts []byte) []int {
	sizes := []int{1, 1 << 20}
	for _, c := range cuts {
		sizes = append(sizes, int(c)%40+1)
	}
	return sizes
}

// reference lists the safe points of a whole stream, frame by frame.
func reference(b []byte) []int {
	var at []int
	inBlock := false
	for pos := 0; pos+headerLen <= len(b); {
		length := int(b[pos])<<16 | int(b[pos+1])<<8 | int(b[pos+2])
		typ, flags := b[pos+3], b[pos+4]
		first := pos == 0
		switch {
		case first && (typ != frameSettings || flags&flagAck != 0),
			inBlock != (typ == frameContinuation),
			typ == frameGoAway:
			return at
		case typ == frameHeaders || typ == framePushPromise || typ == frameContinuation:
			inBlock = flags&flagEndHeaders == 0
		}
		pos += headerLen + length
		if pos > len(b) {
			return at
		}
		if !inBlock {
			at = append(at, pos)
		}
	}
	return at
}
