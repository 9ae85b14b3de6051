package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/pires/go-proxyproto"
)

// peers are the two ends of a connection: the socket's, and the client's
// and the server's as pinlb reports and forwards them: those of an
// accepted PROXY header, else the socket's.
type peers struct {
	peer, local    netip.AddrPort
	client, server netip.AddrPort
	// proxied: client and server came from a header.
	proxied bool
	// tls is the client's TLS, when the listener terminates it.
	tls *tls.Conn
}

// trusted reports whether addr may (and must) send a header.
func (c *ProxyProtocolConfig) trusted(addr netip.Addr) bool { return inAny(c.Trusted, addr) }

// Bounds of a header: a v1 line is at most 107 bytes with its CRLF; a v2
// header is its 16 fixed bytes and the length they give, which pinlb takes
// up to 64 KiB in all (real ones are well under a kilobyte).
const (
	maxV1Header = 107
	v2Fixed     = 16
	maxHeader   = 64 << 10
)

var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// headerLength is the length of the PROXY header that starts b: a v1 line
// up to its CRLF, or a v2 header as long as it says; 0 while b is too
// short to tell. What does not start like a header is an error.
func headerLength(b []byte) (int, error) {
	switch {
	case len(b) == 0:
		return 0, nil
	case b[0] == 'P':
		if i := bytes.Index(b[:min(len(b), maxV1Header)], []byte("\r\n")); i >= 0 {
			return i + 2, nil
		}
		if len(b) >= maxV1Header {
			return 0, fmt.Errorf("no CRLF in the first %d bytes of a v1 header", maxV1Header)
		}
		return 0, nil
	case b[0] == v2Signature[0]:
		if len(b) < v2Fixed {
			return 0, nil
		}
		if !bytes.Equal(b[:len(v2Signature)], v2Signature) {
			return 0, proxyproto.ErrNoProxyProtocol
		}
		n := v2Fixed + int(binary.BigEndian.Uint16(b[14:]))
		if n > maxHeader {
			return 0, fmt.Errorf("a v2 header of %d bytes, more than the %d pinlb takes", n, maxHeader)
		}
		return n, nil
	}
	return 0, proxyproto.ErrNoProxyProtocol
}

// parseHeader decodes a whole header. The parser gets it at once: it
// refuses a v1 line it cannot read in one go, and a header split across
// segments is legal (the timeout bounds a slow one).
func parseHeader(raw []byte) (*proxyproto.Header, error) {
	return proxyproto.Read(bufio.NewReaderSize(bytes.NewReader(raw), len(raw)))
}

// fromHeader takes the client's and the server's addresses from a PROXY
// command's header; a LOCAL or UNKNOWN one keeps the socket's.
func (p *peers) fromHeader(h *proxyproto.Header) {
	if h.Command.IsProxy() && h.SourceAddr != nil && h.DestinationAddr != nil {
		src, dst := addrPort(h.SourceAddr), addrPort(h.DestinationAddr)
		if src.IsValid() && dst.IsValid() {
			p.client, p.server, p.proxied = src, dst, true
		}
	}
}

// addrPort is a TCP or UDP address as an unmapped netip.AddrPort; zero for
// any other kind.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// proxyHeader is the header that starts a backend connection for p, in
// version v ("v1" or "v2").
func proxyHeader(v string, p peers) ([]byte, error) {
	version := byte(2)
	if v == ProxyV1 {
		version = 1
	}
	return proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(p.client), net.TCPAddrFromAddrPort(p.server)).Format()
}
