//go:build linux

package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/pinlb/pinlb/proxy/h2c"
	"github.com/shoenig/test/must"
)

// The h2c moves at the byte level: a raw server writes HTTP/2 frames (and
// things that are not), pinlb's endpoint leaves the pool, and what the
// client reads is held to what the server wrote.

// h2cConfig asks h2c clients to move and looks often; no connection is
// closed for being quiet.
func h2cConfig() Config {
	cfg := tcpConfig()
	cfg.HTTP2GoAway = true
	cfg.Rebalance = RebalanceConfig{Enabled: true, MinIdle: time.Hour}
	return cfg
}

// rawBackend accepts one connection and hands it over.
func rawBackend(t *testing.T) (netip.AddrPort, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	conns := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			t.Cleanup(func() { c.Close() })
			conns <- c
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), conns
}

// h2frame is an HTTP/2 frame with an n-byte payload.
func h2frame(typ, flags byte, stream uint32, n int) []byte {
	b := make([]byte, 9+n)
	b[0], b[1], b[2], b[3], b[4] = byte(n>>16), byte(n>>8), byte(n), typ, flags
	binary.BigEndian.PutUint32(b[5:], stream)
	return b
}

// Frame types and flags, as the tests write them.
const (
	tData, tHeaders, tSettings, tGoAway, tContinuation = 0, 1, 4, 7, 9
	fEndHeaders                                        = 4
)

// Between its writes, the server's stream is always inside a header block,
// or inside a frame, so that an ask must wait; its safe points fall inside
// its writes. What the client reads is the server's stream with one GOAWAY
// of pinlb's put in at a frame boundary outside every header block.
func TestH2C_GoAwayOnlyAtASafePoint(t *testing.T) {
	data := h2frame(tData, 0, 1, 30)
	for name, round := range map[string][]byte{
		"inside a header block": bytes.Join([][]byte{h2frame(tContinuation, fEndHeaders, 1, 4), data, h2frame(tHeaders, 0, 3, 8)}, nil),
		"inside a frame":        append(data[12:], data[:12]...),
	} {
		t.Run(name, func(t *testing.T) {
			first := h2frame(tHeaders, 0, 1, 20)
			if name == "inside a frame" {
				first = data[:12]
			}
			goAwayAtASafePoint(t, first, round)
		})
	}
}

// goAwayAtASafePoint has the server write SETTINGS and first, then round
// after round until pinlb asks, and checks what the client read.
func goAwayAtASafePoint(t *testing.T, first, round []byte) {
	addr, accepted := rawBackend(t)
	l := startTCP(t, h2cConfig(), addr)
	c := dial(t, l)
	_, err := c.Write([]byte(h2c.ClientPreface))
	must.NoError(t, err)
	srv := <-accepted
	_, err = io.ReadFull(srv, make([]byte, len(h2c.ClientPreface)))
	must.NoError(t, err)

	var sent bytes.Buffer
	write := func(b []byte) {
		sent.Write(b)
		_, err := srv.Write(b)
		must.NoError(t, err)
	}
	write(append(h2frame(tSettings, 0, 0, 6), first...))
	got := make(chan []byte)
	go func() { got <- []byte(readAll(t, c)) }()
	l.SetEndpoints([]Endpoint{{Addr: addr, Draining: true}})
	for rounds := 0; l.Stats().GoAwaySent == 0; rounds++ {
		must.Less(t, 1000, rounds, must.Sprint("no GOAWAY after 1000 rounds"))
		time.Sleep(2 * time.Millisecond) // pacing: the ask finds the stream where a round leaves it
		write(round)
	}
	srv.Close()

	b := <-got
	frame := h2c.GoAway("pinlb: endpoint left the pool")
	at := bytes.Index(b, frame)
	must.Positive(t, at, must.Sprint("no GOAWAY of pinlb's in what the client read"))
	must.Eq(t, sent.Bytes(), append(b[:at:at], b[at+len(frame):]...), must.Sprint("the server's bytes, unchanged"))
	must.True(t, safeAt(sent.Bytes(), at), must.Sprintf("GOAWAY put in at %d, not a safe point", at))
	must.Eq(t, 1, l.Stats().GoAwaySent)
}

// safeAt says whether offset at of a server's stream is a frame boundary
// after its first SETTINGS and outside any header block.
func safeAt(b []byte, at int) bool {
	inBlock := false
	for pos := 0; pos < at; {
		n := int(b[pos])<<16 | int(b[pos+1])<<8 | int(b[pos+2])
		if typ := b[pos+3]; typ == tHeaders || typ == tContinuation {
			inBlock = b[pos+4]&fEndHeaders == 0
		}
		if pos += 9 + n; pos == at {
			return !inBlock
		}
	}
	return false
}

// Nothing is put in a stream that is not h2c on both sides, nor after the
// server's own GOAWAY: the client reads the server's bytes exactly, until
// drain_timeout closes the connection.
func TestH2C_NeverWrittenInto(t *testing.T) {
	settings := h2frame(tSettings, 0, 0, 6)
	serverGoAway := append(append([]byte{}, settings...), h2frame(tGoAway, 0, 0, 8)...)
	for name, tc := range map[string]struct{ client, server []byte }{
		"HTTP/1.1 client":         {[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), settings},
		"TLS ClientHello":         {[]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, settings},
		"garbage":                 {[]byte("\x00\x01\x02PRI * HTTP/2.0"), settings},
		"a server that is not h2": {[]byte(h2c.ClientPreface), []byte("HTTP/1.1 400 Bad Request\r\n\r\n")},
		"the server's own GOAWAY": {[]byte(h2c.ClientPreface), serverGoAway},
	} {
		t.Run(name, func(t *testing.T) {
			addr, accepted := rawBackend(t)
			cfg := h2cConfig()
			cfg.DrainTimeout = 300 * time.Millisecond
			l := startTCP(t, cfg, addr)
			c := dial(t, l)
			_, err := c.Write(tc.client)
			must.NoError(t, err)
			srv := <-accepted
			_, err = io.ReadFull(srv, make([]byte, len(tc.client)))
			must.NoError(t, err)
			_, err = srv.Write(tc.server)
			must.NoError(t, err)
			got := make(chan []byte)
			go func() { got <- []byte(readAll(t, c)) }()
			l.SetEndpoints([]Endpoint{{Addr: addr, Draining: true}})
			testsupport.WaitFor(t, "the drain timeout", func() bool { return l.Stats().DrainClosed == 1 })
			must.Eq(t, tc.server, <-got)
			must.Eq(t, 0, l.Stats().GoAwaySent)
		})
	}
}
