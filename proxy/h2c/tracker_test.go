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

// Calls opens a call at the client's HEADERS and ends it at the server's
// END_STREAM or either side's RST_STREAM; Quiet lists the calls with no
// DATA of the client's since the last look.
func TestCalls(t *testing.T) {
	var calls Calls
	var client, server Tracker
	client.Feeds(&calls, true)
	server.Feeds(&calls, false)
	client.Feed(frame(frameSettings, 0, 0, 6), false)
	server.Feed(frame(frameSettings, 0, 0, 0), false)
	c := func(fs ...[]byte) { client.Feed(cat(fs...), false) }
	s := func(fs ...[]byte) { server.Feed(cat(fs...), false) }

	c(frame(frameHeaders, flagEndHeaders, 1, 5), frame(frameData, 0, 1, 20)) // a long client stream
	c(frame(frameHeaders, 0, 3, 5), frame(frameContinuation, flagEndHeaders, 3, 2),
		frame(frameData, flagEndStream, 3, 9)) // a unary call, sent whole
	c(frame(frameHeaders, flagEndHeaders, 5, 5)) // a bidi stream
	s(frame(frameHeaders, flagEndHeaders, 5, 3)) // answered
	c(frame(frameHeaders, flagEndHeaders, 7, 5))
	must(t, calls.Open() == 4, "open %d, want 4", calls.Open())

	s(frame(frameHeaders, flagEndHeaders, 3, 3), frame(frameData, 0, 3, 5), frame(frameHeaders, flagEndHeaders|flagEndStream, 3, 2))
	c(frame(frameRSTStream, 0, 7, 4))
	s(frame(frameData, flagEndStream, 99, 0)) // never opened
	must(t, calls.Open() == 2, "open %d after the unary call's answer and a reset, want 2", calls.Open())

	q := calls.Quiet()
	must(t, len(q) == 1 && q[0] == QuietCall{Stream: 5, Answered: true}, "quiet %v, want stream 5 only (1 sent DATA)", q)
	c(frame(frameData, 0, 5, 4))
	q = calls.Quiet()
	must(t, len(q) == 1 && q[0] == QuietCall{Stream: 1}, "quiet %v, want stream 1 only (5 sent DATA)", q)

	calls.Ended(1)
	s(frame(frameData, flagEndStream, 5, 0))
	must(t, calls.Open() == 0, "open %d, want 0", calls.Open())
}

func must(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
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
			_, done, ok = p.Match([]byte(b))
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
