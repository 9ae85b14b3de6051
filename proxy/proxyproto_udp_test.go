//go:build linux

package proxy

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// v2Datagram is a PROXY v2 header for client → server over UDP, as a
// balancer in front puts it before a datagram, with tlv bytes after the
// addresses.
func v2Datagram(t *testing.T, client, server netip.AddrPort, tlv []byte) []byte {
	h, err := datagramProxyHeader(client, server)
	must.NoError(t, err)
	if len(tlv) > 0 {
		h = append(h, tlv...)
		n := int(h[14])<<8 | int(h[15]) + len(tlv)
		h[14], h[15] = byte(n>>8), byte(n)
	}
	return h
}

func TestDatagramHeader(t *testing.T) {
	ap := netip.MustParseAddrPort
	v4 := v2Datagram(t, ap("192.0.2.7:4242"), ap("198.51.100.1:9995"), nil)
	v6 := v2Datagram(t, ap("[2001:db8::7]:4242"), ap("[2001:db8::1]:9995"), nil)
	mapped := append([]byte{}, v6...) // as a sender that keeps IPv4 clients in IPv6 sockets writes them
	src, dst := netip.MustParseAddr("::ffff:192.0.2.7").As16(), netip.MustParseAddr("::ffff:198.51.100.1").As16()
	copy(mapped[16:], src[:])
	copy(mapped[32:], dst[:])
	withTLV := v2Datagram(t, ap("192.0.2.7:4242"), ap("198.51.100.1:9995"), []byte{0x04, 0x00, 0x01, 0xAA})
	local := append(append([]byte{}, v2Signature...), v2Local, 0x00, 0x00, 0x00)
	tcp := append([]byte{}, v4...)
	tcp[13] = 0x11 // TCP over IPv4
	for _, tc := range []struct {
		name   string
		in     []byte
		n      int
		client string
		err    error
	}{
		{"v4", v4, 28, "192.0.2.7:4242", nil},
		{"v6", v6, 52, "[2001:db8::7]:4242", nil},
		{"v4-mapped", mapped, 52, "192.0.2.7:4242", nil},
		{"TLVs skipped", withTLV, 32, "192.0.2.7:4242", nil},
		{"LOCAL", local, 16, "", nil},
		{"no header", []byte("span bytes that are long enough"), 0, "", errNoV2Header},
		{"v1 line", []byte("PROXY UDP4 192.0.2.7 198.51.100.1 4242 9995\r\n"), 0, "", errNoV2Header},
		{"truncated", v4[:20], 0, "", errV2Truncated},
		{"TCP family", tcp, 0, "", errV2NotDatagram},
		{"bad command", append(append([]byte{}, v4[:12]...), append([]byte{0x2F}, v4[13:]...)...), 0, "", errV2Command},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, client, _, err := datagramHeader(append(tc.in, "payload"...))
			must.Eq(t, tc.err, err)
			must.Eq(t, tc.n, n)
			if tc.client != "" {
				must.Eq(t, tc.client, client.String())
			} else {
				must.False(t, client.IsValid())
			}
		})
	}
	must.Eq(t, 0, testing.AllocsPerRun(100, func() { datagramHeader(v6) }))
}

// A trusted sender's datagrams lose their header on the way in and are
// the header's client's: its access and its session record; an untrusted
// sender's, or a trusted one's without a valid header, are handled as the
// header says: taken as they come, or dropped and counted.
func TestUDP_AcceptsPROXYHeaders(t *testing.T) {
	u := testsupport.StartUDP(t)
	rec := &records{}
	cfg := udpConfig(SessionMode)
	cfg.UDP.SessionTimeout = 200 * time.Millisecond
	cfg.Recorder = rec
	cfg.ProxyProtocol = ProxyProtocolConfig{Accept: true, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	cfg.Access = AccessConfig{Deny: []netip.Prefix{netip.MustParsePrefix("192.0.2.66/32")}}
	l := startUDP(t, cfg, u)
	from := func(ip string) *net.UDPConn { return clientFrom(t, l, ip) }
	ap := netip.MustParseAddrPort
	server := ap("198.51.100.1:9995")
	balancer, denied, bare, untrusted := from("127.0.0.2"), from("127.0.0.2"), from("127.0.0.2"), from("127.0.0.3")
	send(t, balancer, 2, append(v2Datagram(t, ap("192.0.2.7:4242"), server, nil), "span"...))
	send(t, denied, 1, append(v2Datagram(t, ap("192.0.2.66:4242"), server, nil), "span"...))
	send(t, bare, 1, []byte("span without a header"))
	untrustedHeader := append(v2Datagram(t, ap("192.0.2.8:4242"), server, nil), "span"...)
	send(t, untrusted, 1, untrustedHeader)

	testsupport.WaitFor(t, "3 delivered, 1 denied, 1 without a header", func() bool {
		st := l.Stats()
		return u.Datagrams.Load() == 3 && st.Dropped[outcomeDenied.String()] == 1 && st.Dropped["proxy_header"] == 1
	})
	must.Eq(t, int64(2*len("span")+len(untrustedHeader)), u.Bytes.Load(), must.Sprint("headers stripped from the trusted sender only"))
	recs := rec.wait(t, 2)
	byClient := map[string]Record{}
	for _, r := range recs {
		byClient[r.Client.String()] = r
	}
	proxied := byClient[balancer.LocalAddr().String()]
	must.Eq(t, "192.0.2.7:4242", proxied.ProxyClient.String())
	must.Eq(t, server, proxied.ProxyServer)
	must.Eq(t, 2, proxied.DatagramsIn)
	must.False(t, byClient[untrusted.LocalAddr().String()].ProxyClient.IsValid())
}

// A listener that sends PROXY v2 puts a header with the client's address
// before each datagram, in the batch path and on its own; a second
// listener that accepts it sees the first one's client.
func TestUDP_SendsPROXYHeaders(t *testing.T) {
	u := testsupport.StartUDP(t)
	rec := &records{}
	inner := udpConfig(PacketMode)
	inner.Recorder = rec
	inner.ProxyProtocol = ProxyProtocolConfig{Accept: true, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	second := startUDP(t, inner, u)
	outer := udpConfig(PacketMode)
	outer.SendProxyProtocol = ProxyV2
	first := startUDP(t, outer)
	first.SetEndpoints([]Endpoint{{Addr: second.Addr().(*net.UDPAddr).AddrPort(), Weight: 1}})

	c := client(t, first)
	send(t, c, 5, []byte("span"))
	// The path on its own, on a listener whose socket nobody sends to, so
	// that the test may act as its reader.
	solo := startUDP(t, outer)
	solo.SetEndpoints([]Endpoint{{Addr: second.Addr().(*net.UDPAddr).AddrPort(), Weight: 1}})
	solo.(*udpListener).readers[0].forward([]byte("solo"), netip.MustParseAddrPort("127.0.0.9:4000"))
	testsupport.WaitFor(t, "6 datagrams through both tiers", func() bool { return u.Datagrams.Load() == 6 })
	must.Eq(t, int64(5*len("span")+len("solo")), u.Bytes.Load())
	must.Eq(t, 0, second.Stats().Dropped["proxy_header"])

	second.Shutdown(t.Context()) // ends its flows: the records say whose they were
	clients := map[netip.AddrPort]netip.AddrPort{}
	for _, r := range rec.wait(t, 2) {
		clients[r.ProxyClient] = r.ProxyServer
	}
	must.Eq(t, map[netip.AddrPort]netip.AddrPort{
		c.LocalAddr().(*net.UDPAddr).AddrPort():   first.Addr().(*net.UDPAddr).AddrPort(),
		netip.MustParseAddrPort("127.0.0.9:4000"): solo.Addr().(*net.UDPAddr).AddrPort(),
	}, clients)
}
