//go:build linux

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/pires/go-proxyproto"
)

// FuzzUDPDatagram sends arbitrary datagrams through a packet-mode
// listener: each arrives whole at the backend, and an echo (the Pinpoint
// probe's "OK", or the test backend's "echo:" payloads) comes back to the
// client byte for byte.
func FuzzUDPDatagram(f *testing.F) {
	backend := testsupport.StartUDP(f)
	l, err := Listen(udpConfig(PacketMode), hclog.NewNullLogger())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Shutdown(context.Background()) })
	l.SetEndpoints([]Endpoint{{Addr: backend.Addr, Weight: 1}})
	c, err := net.DialUDP("udp", nil, l.Addr().(*net.UDPAddr))
	if err != nil {
		f.Fatal(err)
	}
	reply := make([]byte, maxDatagram)

	f.Add(testsupport.Probe)
	f.Add([]byte("echo:span"))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xEF}, 9000))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > 65507 {
			return // over the IPv4 maximum: cannot be sent
		}
		before, bytesBefore := backend.Datagrams.Load(), backend.Bytes.Load()
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		// The backend counts the datagram, then its bytes.
		arrived := func() bool {
			return backend.Datagrams.Load() > before && backend.Bytes.Load()-bytesBefore >= int64(len(p))
		}
		for deadline := time.Now().Add(5 * time.Second); !arrived(); {
			if time.Now().After(deadline) {
				t.Fatalf("datagram of %d bytes lost: %+v", len(p), l.Stats())
			}
		}
		if got := backend.Bytes.Load() - bytesBefore; got != int64(len(p)) {
			t.Fatalf("%d bytes sent, %d arrived", len(p), got)
		}
		want := p
		switch {
		case bytes.Equal(p, testsupport.Probe):
			want = testsupport.ProbeReply
		case !bytes.HasPrefix(p, []byte("echo:")):
			return
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(reply)
		if err != nil || !bytes.Equal(reply[:n], want) {
			t.Fatalf("reply %q, %v; want %q", reply[:n], err, want)
		}
	})
}

// FuzzProxyHeader: whatever a trusted peer sends, the reactor's framing of
// a PROXY header (headerLength, on each part that has come) agrees with
// itself, so it takes no byte past the header, and an accepted PROXY
// command carries addresses of one family.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.7 5000 9991\r\nrest"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::7 5000 9991\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5000}, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 9991})
	v2, _ := h.Format()
	f.Add(append(v2, "rest"...))
	f.Add(v2[:20])
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := headerLength(data)
		if err != nil || n == 0 || n > len(data) {
			return
		}
		// The reactor peeks at whatever part has come: every shorter part
		// says "not yet" or the same length, every longer one the same.
		for k := range len(data) + 1 {
			m, err := headerLength(data[:k])
			if err != nil || (m != n && (k >= n || m != 0)) {
				t.Fatalf("%d bytes say %d, %v; the first %d said %d", k, m, err, len(data), n)
			}
		}
		h, err := parseHeader(data[:n])
		if err != nil {
			return
		}
		if h.Command.IsProxy() && h.SourceAddr != nil && h.DestinationAddr != nil {
			src, dst := addrPort(h.SourceAddr), addrPort(h.DestinationAddr)
			if src.IsValid() != dst.IsValid() {
				t.Fatalf("one address of %v, %v", h.SourceAddr, h.DestinationAddr)
			}
		}
	})
}

// FuzzDatagramHeader: the datagram path's own PROXY v2 reader never reads
// past the datagram, and agrees with go-proxyproto on every header the
// library reads as a UDP one: same length, same addresses.
func FuzzDatagramHeader(f *testing.F) {
	v4, _ := datagramProxyHeader(netip.MustParseAddrPort("192.0.2.1:5000"), netip.MustParseAddrPort("198.51.100.7:9995"))
	v6, _ := datagramProxyHeader(netip.MustParseAddrPort("[2001:db8::1]:5000"), netip.MustParseAddrPort("[2001:db8::7]:9995"))
	f.Add(append(v4, "span"...))
	f.Add(v6)
	f.Add(v4[:20])
	f.Add([]byte("PROXY UDP4 192.0.2.1 198.51.100.7 5000 9995\r\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		n, client, server, err := datagramHeader(p)
		if err == nil && (n < v2Fixed || n > len(p) || client.IsValid() != server.IsValid()) {
			t.Fatalf("length %d of %d, addresses %v %v", n, len(p), client, server)
		}
		br := bufio.NewReaderSize(bytes.NewReader(p), len(p)+16) // all of p buffered: what is left tells the length read
		h, lerr := proxyproto.Read(br)
		if lerr != nil || h.Version != 2 || !h.Command.IsProxy() {
			return
		}
		src, ok := h.SourceAddr.(*net.UDPAddr)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("go-proxyproto reads a UDP header from %v that we refuse: %v", src, err)
		}
		if want := len(p) - br.Buffered(); n != want || client != addrPort(src) || server != addrPort(h.DestinationAddr) {
			t.Fatalf("we read %d bytes, %v → %v; go-proxyproto %d, %v → %v", n, client, server, want, src, h.DestinationAddr)
		}
	})
}
