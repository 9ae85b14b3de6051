package proxy

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/pires/go-proxyproto"
)

// A PROXY v2 header may also start a datagram (the protocol's DGRAM
// transport): one before each, as nginx sends them. They are read here, in
// place and without allocating, for the datagram path; TCP's are read by
// go-proxyproto, whose reader allocates.

// How a datagram's header can be wrong, without allocating an error each.
var (
	errNoV2Header    = errors.New("no PROXY v2 header")
	errV2Truncated   = errors.New("PROXY v2 header longer than the datagram")
	errV2Command     = errors.New("PROXY v2 header with an unknown version or command")
	errV2NotDatagram = errors.New("PROXY v2 header for another transport than UDP")
	errV2Client      = errors.New("PROXY v2 header for another client than the session's: the sender must use a socket per client")
)

// PROXY v2 bytes: commands and the UDP families.
const (
	v2Local  = 0x20
	v2Proxy  = 0x21
	v2UDP4   = 0x12
	v2UDP6   = 0x22
	v2Addrs4 = 12 // two IPv4 addresses and two ports
	v2Addrs6 = 36
)

// datagramHeader parses the PROXY v2 header that starts p: its length and,
// for a PROXY command, the client's and the server's addresses, unmapped
// (a LOCAL one, a balancer's own check, leaves them zero). TLVs are skipped.
func datagramHeader(p []byte) (n int, client, server netip.AddrPort, err error) {
	if len(p) < v2Fixed || string(p[:len(v2Signature)]) != string(v2Signature) {
		return 0, client, server, errNoV2Header
	}
	n = v2Fixed + int(binary.BigEndian.Uint16(p[14:16]))
	if len(p) < n {
		return 0, client, server, errV2Truncated
	}
	switch p[12] {
	case v2Local:
		return n, client, server, nil
	case v2Proxy:
	default:
		return 0, client, server, errV2Command
	}
	a := p[v2Fixed:n]
	port := func(i int) uint16 { return binary.BigEndian.Uint16(a[i:]) }
	switch {
	case p[13] == v2UDP4 && len(a) >= v2Addrs4:
		client = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), port(8))
		server = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), port(10))
	case p[13] == v2UDP6 && len(a) >= v2Addrs6:
		client = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])).Unmap(), port(32))
		server = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])).Unmap(), port(34))
	default:
		return 0, client, server, errV2NotDatagram
	}
	return n, client, server, nil
}

// datagramProxyHeader is the v2 header a flow puts before each datagram
// it sends for client, who reached server.
func datagramProxyHeader(client, server netip.AddrPort) ([]byte, error) {
	h := proxyproto.HeaderProxyFromAddrs(2, net.UDPAddrFromAddrPort(client), net.UDPAddrFromAddrPort(server))
	return h.Format()
}
