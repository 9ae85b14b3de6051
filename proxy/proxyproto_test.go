//go:build linux

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/pires/go-proxyproto"
	"github.com/shoenig/test/must"
)

// firstBytes is a backend that hands over what each connection sent until
// it closed its side.
func firstBytes(t *testing.T) (*testsupport.TCP, <-chan []byte) {
	got := make(chan []byte, 8)
	b := testsupport.StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		data, _ := io.ReadAll(c)
		got <- data
	})
	return b, got
}

// acceptingConfig accepts headers from the loopback peers of the tests.
func acceptingConfig(rec Recorder) Config {
	cfg := tcpConfig()
	cfg.ProxyProtocol = ProxyProtocolConfig{Accept: true, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 2 * time.Second}
	cfg.Recorder = rec
	return cfg
}

// v2 is a PROXY v2 header for src and dst, with one TLV.
func v2(t *testing.T, cmd proxyproto.ProtocolVersionAndCommand, src, dst string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	h.Command = cmd
	must.NoError(t, h.SetTLVs([]proxyproto.TLV{{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("collector.example")}}))
	b, err := h.Format()
	must.NoError(t, err)
	return b
}

// sendParts writes the parts to a new connection to l, one write each, then
// closes its side.
func sendParts(t *testing.T, l Listener, parts ...[]byte) *net.TCPConn {
	t.Helper()
	c := dial(t, l)
	for i, p := range parts {
		if i > 0 {
			time.Sleep(20 * time.Millisecond) // so the parts arrive in segments of their own
		}
		_, err := c.Write(p)
		must.NoError(t, err)
	}
	must.NoError(t, c.CloseWrite())
	return c
}

func TestProxyProtocol_AcceptedHeaders(t *testing.T) {
	data := []byte("agent bytes")
	v1 := []byte("PROXY TCP4 192.0.2.1 198.51.100.7 5000 9991\r\n")
	for _, tc := range []struct {
		name           string
		parts          [][]byte
		client, server string // empty: the socket's
	}{
		{"v1, data in the same segment", [][]byte{append(v1, data...)}, "192.0.2.1:5000", "198.51.100.7:9991"},
		{"v1 split across segments", [][]byte{v1[:9], v1[9:], data}, "192.0.2.1:5000", "198.51.100.7:9991"},
		{"v2 with a TLV, IPv6", [][]byte{append(v2(t, proxyproto.PROXY, "[2001:db8::1]:5000", "[2001:db8::7]:9991"), data...)}, "[2001:db8::1]:5000", "[2001:db8::7]:9991"},
		{"v2 v4-mapped addresses are unmapped", [][]byte{v2(t, proxyproto.PROXY, "[::ffff:192.0.2.1]:5000", "[::ffff:198.51.100.7]:9991"), data}, "192.0.2.1:5000", "198.51.100.7:9991"},
		{"v2 split inside its fixed part", func() [][]byte {
			h := v2(t, proxyproto.PROXY, "192.0.2.1:5000", "198.51.100.7:9991")
			return [][]byte{h[:7], h[7:], data}
		}(), "192.0.2.1:5000", "198.51.100.7:9991"},
		{"v2 split after its fixed part", func() [][]byte {
			h := v2(t, proxyproto.PROXY, "192.0.2.1:5000", "198.51.100.7:9991")
			return [][]byte{h[:20], h[20:], data}
		}(), "192.0.2.1:5000", "198.51.100.7:9991"},
		{"v2 LOCAL: a health check keeps the socket's addresses", [][]byte{v2(t, proxyproto.LOCAL, "192.0.2.1:5000", "198.51.100.7:9991"), data}, "", ""},
		{"v1 UNKNOWN keeps the socket's addresses", [][]byte{[]byte("PROXY UNKNOWN\r\n"), data}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, got := firstBytes(t)
			rec := &records{}
			l := startTCP(t, acceptingConfig(rec), b.Addr)
			c := sendParts(t, l, tc.parts...)
			must.Eq(t, data, <-got) // the header is not forwarded, every byte after it is
			c.Close()
			r := rec.wait(t, 1)[0]
			must.Eq(t, "ok", r.Status)
			must.Eq(t, uint64(len(data)), r.BytesIn)
			must.Eq(t, c.LocalAddr().(*net.TCPAddr).AddrPort(), r.Client)
			if tc.client == "" {
				must.False(t, r.ProxyClient.IsValid())
				return
			}
			must.Eq(t, netip.MustParseAddrPort(tc.client), r.ProxyClient)
			must.Eq(t, netip.MustParseAddrPort(tc.server), r.ProxyServer)
		})
	}
}

// A trusted peer must send a header, whole and well-formed, in time: else
// the connection is closed, counted, and no backend is dialled.
func TestProxyProtocol_RefusedHeaders(t *testing.T) {
	bad := v2(t, proxyproto.PROXY, "192.0.2.1:5000", "198.51.100.7:9991")
	binary.BigEndian.PutUint16(bad[14:], 4000) // claims more than it has
	huge := slices.Clone(bad)
	binary.BigEndian.PutUint16(huge[14:], 0xffff) // more than pinlb takes
	for _, tc := range []struct {
		name, status string
		parts        [][]byte
		hold         bool // the client keeps its side open
	}{
		{"no header", outcomeProxyInvalid.String(), [][]byte{[]byte("agent bytes")}, false},
		{"malformed v1", outcomeProxyInvalid.String(), [][]byte{[]byte("PROXY TCP4 192.0.2.1 nonsense\r\n")}, false},
		{"v1 without its end", outcomeProxyInvalid.String(), [][]byte{bytes.Repeat([]byte("PROXY TCP4 "), 12)}, false},
		{"truncated v2", outcomeProxyInvalid.String(), [][]byte{bad[:40]}, false},
		{"v2 over 64 KiB", outcomeProxyInvalid.String(), [][]byte{huge}, true}, // refused at once, not at the timeout
		{"silence", outcomeProxyTimeout.String(), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := firstBytes(t)
			rec := &records{}
			cfg := acceptingConfig(rec)
			cfg.ProxyProtocol.Timeout = 300 * time.Millisecond
			l := startTCP(t, cfg, b.Addr)
			c := dial(t, l)
			for _, p := range tc.parts {
				_, err := c.Write(p)
				must.NoError(t, err)
			}
			if !tc.hold {
				c.CloseWrite()
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			must.Error(t, err) // closed by pinlb
			must.Eq(t, tc.status, rec.wait(t, 1)[0].Status)
			must.Eq(t, uint64(1), l.Stats().ProxyHeaderErrors)
			must.Eq(t, int64(0), b.Accepted.Load())
		})
	}
}

// A peer outside trusted cannot claim an address: its bytes, a header
// included, reach the backend unread, and its address is the socket's.
func TestProxyProtocol_UntrustedPeersAreTakenAsTheyCome(t *testing.T) {
	b, got := firstBytes(t)
	rec := &records{}
	cfg := acceptingConfig(rec)
	cfg.ProxyProtocol.Trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	l := startTCP(t, cfg, b.Addr)
	spoof := []byte("PROXY TCP4 192.0.2.1 198.51.100.7 5000 9991\r\nagent bytes")
	sendParts(t, l, spoof)
	must.Eq(t, spoof, <-got)
	r := rec.wait(t, 1)[0]
	must.Eq(t, "ok", r.Status)
	must.False(t, r.ProxyClient.IsValid())
}

// Sent to the backend: a v1 or v2 header with the client's address, the
// accepted header's when there was one, before any byte of the client's.
func TestProxyProtocol_SentToTheBackend(t *testing.T) {
	for _, version := range []string{ProxyV1, ProxyV2} {
		for _, accept := range []bool{false, true} {
			b, got := firstBytes(t)
			cfg := tcpConfig()
			if accept {
				cfg = acceptingConfig(nil)
			}
			cfg.SendProxyProtocol = version
			l := startTCP(t, cfg, b.Addr)
			var c *net.TCPConn
			if accept {
				c = sendParts(t, l, []byte("PROXY TCP4 192.0.2.1 198.51.100.7 5000 9991\r\nagent bytes"))
			} else {
				c = sendParts(t, l, []byte("agent bytes"))
			}
			br := bufio.NewReader(bytes.NewReader(<-got))
			h, err := proxyproto.Read(br)
			must.NoError(t, err)
			must.Eq(t, map[string]byte{ProxyV1: 1, ProxyV2: 2}[version], h.Version)
			src, dst, ok := h.TCPAddrs()
			must.True(t, ok)
			if accept {
				must.Eq(t, "192.0.2.1:5000", src.String())
				must.Eq(t, "198.51.100.7:9991", dst.String())
			} else {
				must.Eq(t, c.LocalAddr().String(), src.String())
				must.Eq(t, c.RemoteAddr().String(), dst.String())
			}
			rest, _ := io.ReadAll(br)
			must.Eq(t, "agent bytes", string(rest))
		}
	}
}

// A shutdown past its deadline does not wait for a trusted peer that
// stalls inside its header.
func TestProxyProtocol_ShutdownCutsASlowHeader(t *testing.T) {
	b, _ := firstBytes(t)
	cfg := acceptingConfig(nil)
	cfg.ProxyProtocol.Timeout = time.Minute
	l := startTCP(t, cfg, b.Addr)
	c := dial(t, l)
	_, err := c.Write([]byte("PROXY TCP4 "))
	must.NoError(t, err)
	testsupport.WaitFor(t, "the connection to be taken", func() bool { return l.Stats().Active == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	must.Error(t, l.Shutdown(ctx))
	must.Less(t, 10*time.Second, time.Since(begin)) // not the header's minute
}

// allow and deny judge the client a header names, not the balancer in
// front: a denied one is closed before any dial.
func TestProxyProtocol_AccessJudgesTheHeadersClient(t *testing.T) {
	b, got := firstBytes(t)
	rec := &records{}
	cfg := acceptingConfig(rec)
	cfg.Access = AccessConfig{Deny: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	l := startTCP(t, cfg, b.Addr)
	denied := dial(t, l)
	_, err := denied.Write([]byte("PROXY TCP4 192.0.2.1 198.51.100.7 5000 9991\r\ndenied"))
	must.NoError(t, err)
	denied.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = denied.Read(make([]byte, 1))
	must.Error(t, err) // closed by pinlb
	r := rec.wait(t, 1)[0]
	must.Eq(t, outcomeDenied.String(), r.Status)
	must.Eq(t, netip.MustParseAddrPort("192.0.2.1:5000"), r.ProxyClient)
	sendParts(t, l, []byte("PROXY TCP4 198.51.100.1 198.51.100.7 5000 9991\r\nallowed"))
	must.Eq(t, "allowed", string(<-got))
	must.Eq(t, int64(1), b.Accepted.Load()) // the denied one was never dialled
}

// Headers that are slow to come (a balancer in front under load, or a
// client trickling bytes on purpose) wait on the loop: they hold no
// goroutine.
func TestProxyProtocol_AwaitedHeadersHoldNoGoroutine(t *testing.T) {
	const conns = 200
	b, _ := firstBytes(t)
	cfg := acceptingConfig(nil)
	cfg.ProxyProtocol.Timeout = time.Minute
	l := startTCP(t, cfg, b.Addr)
	dial(t, l) // the first connection starts what runs once
	base := runtime.NumGoroutine()
	for range conns {
		_, err := dial(t, l).Write([]byte("PROXY TCP4 "))
		must.NoError(t, err)
	}
	testsupport.WaitFor(t, "every connection taken", func() bool { return l.Stats().Active == conns+1 })
	must.Less(t, conns/10, runtime.NumGoroutine()-base)
}
