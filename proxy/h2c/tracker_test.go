package h2c

import (
	"bytes"
	"slices"
	"testing"
)

// frame builds a frame with a payload of n bytes.
func frame(typ, flags byte, stream uint32, n int) []byte {
	b := make([]byte, headerLen+n)
	putHeader(b, n, typ, flags, stream)
	for i := range n {
		b[headerLen+i] = byte(i)
	}
	return b
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// safePoints feeds b whole-piece by piece and lists every offset where the
// tracker stops as safe.
func safePoints(b []byte, piece int) []int {
	var t Tracker
	var at []int
	pos := 0
	for pos < len(b) {
		end := min(pos+piece, len(b))
		for pos < end {
			pos += t.Feed(b[pos:end], true)
			if t.Safe() {
				if len(at) == 0 || at[len(at)-1] != pos {
					at = append(at, pos)
				}
				if pos < end {
					pos += t.Feed(b[pos:pos+1], false)
				}
			}
		}
	}
	if t.Safe() && (len(at) == 0 || at[len(at)-1] != pos) {
		at = append(at, pos)
	}
	return at
}

func TestTracker_SafeOnlyAtBoundariesAfterSettings(t *testing.T) {
	settings := frame(frameSettings, 0, 0, 12)
	ack := frame(frameSettings, flagAck, 0, 0)
	win := frame(0x8, 0, 0, 4)
	data := frame(frameData, 0, 1, 40)
	b := cat(settings, ack, win, data)
	want := []int{21, 30, 43, 92}
	for piece := 1; piece <= len(b); piece++ {
		if got := safePoints(b, piece); !slices.Equal(got, want) {
			t.Fatalf("pieces of %d: safe at %v, want %v", piece, got, want)
		}
	}
}

func TestTracker_NeverInsideAHeaderBlock(t *testing.T) {
	settings := frame(frameSettings, 0, 0, 0)
	open := frame(frameHeaders, 0, 1, 10) // no END_HEADERS
	cont := frame(frameContinuation, 0, 1, 5)
	last := frame(frameContinuation, flagEndHeaders, 1, 5)
	b := cat(settings, open, cont, last)
	want := []int{9, len(b)}
	for piece := 1; piece <= len(b); piece++ {
		if got := safePoints(b, piece); !slices.Equal(got, want) {
			t.Fatalf("pieces of %d: safe at %v, want %v", piece, got, want)
		}
	}
}

func TestTracker_NeverAfterTheServersGoAway(t *testing.T) {
	b := cat(frame(frameSettings, 0, 0, 6), frame(frameGoAway, 0, 0, 8), frame(frameData, 0, 1, 3))
	if got, want := safePoints(b, 1), []int{15}; !slices.Equal(got, want) {
		t.Fatalf("safe at %v, want %v (before the server's GOAWAY only)", got, want)
	}
}

func TestTracker_NotHTTP2(t *testing.T) {
	for name, b := range map[string][]byte{
		"HTTP/1.1":           []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
		"TLS ServerHello":    {0x16, 0x03, 0x03, 0x00, 0x31, 0x02, 0x00, 0x00, 0x2d, 0x03, 0x03},
		"SETTINGS ACK":       frame(frameSettings, flagAck, 0, 0),
		"data first":         frame(frameData, 0, 1, 4),
		"a cut block":        cat(frame(frameSettings, 0, 0, 0), frame(frameHeaders, 0, 1, 2), frame(frameData, 0, 1, 2)),
		"stray CONTINUATION": cat(frame(frameSettings, 0, 0, 0), frame(frameContinuation, flagEndHeaders, 1, 2)),
	} {
		var tr Tracker
		tr.Feed(b, false)
		if tr.Usable() || tr.Safe() {
			t.Errorf("%s: still taken for HTTP/2", name)
		}
	}
}

func TestTracker_CountsEndedStreams(t *testing.T) {
	var tr Tracker
	tr.Feed(cat(frame(frameSettings, 0, 0, 0),
		frame(frameHeaders, flagEndHeaders, 1, 3), frame(frameData, flagEndStream, 1, 5), // a response
		frame(frameHeaders, flagEndHeaders|flagEndStream, 3, 3), // trailers only
		frame(frameRSTStream, 0, 5, 4),
		frame(frameData, flagEndStream, 0, 0), // stream 0 is not a stream
	), false)
	if tr.Ended() != 3 {
		t.Fatalf("ended %d streams, want 3", tr.Ended())
	}
}

func TestPreface(t *testing.T) {
	for _, tc := range []struct {
		in       []string
		done, ok bool
	}{
		{[]string{ClientPreface}, true, true},
		{[]string{ClientPreface + "\x00\x00\x00\x04"}, true, true},
		{[]string{"PRI * HTTP/2.0\r\n", "\r\nSM\r\n\r\n"}, true, true},
		{[]string{"PRI * HTTP/2"}, false, false},
		{[]string{"PRI * HTTP/1.1"}, true, false},
		{[]string{"GET / HTTP/1.1\r\n"}, true, false},
		{[]string{"\x16\x03\x01"}, true, false},
	} {
		var p Preface
		var done, ok bool
		for _, b := range tc.in {
			done, ok = p.Match([]byte(b))
		}
		if done != tc.done || ok != tc.ok {
			t.Errorf("%q: done %v ok %v, want %v %v", tc.in, done, ok, tc.done, tc.ok)
		}
	}
}

func TestGoAway(t *testing.T) {
	f := GoAway("pinlb")
	want := []byte{0, 0, 13, frameGoAway, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 'p', 'i', 'n', 'l', 'b'}
	if !bytes.Equal(f, want) {
		t.Fatalf("GoAway = % x, want % x", f, want)
	}
}
