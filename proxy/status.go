package proxy

import (
	"crypto/tls"
	"net/netip"
	"time"
)

// Record is one finished TCP connection or UDP session, for the access log.
type Record struct {
	Listener string
	Protocol string
	Client   netip.AddrPort // the socket's peer
	Local    netip.AddrPort // the listener's address the client reached
	// From an accepted PROXY header: the client and the address it reached
	// behind the balancer in front; zero without one.
	ProxyClient, ProxyServer netip.AddrPort
	Upstream                 netip.AddrPort // the backend; zero when none was reached, or per datagram in packet mode
	Start                    time.Time
	Duration                 time.Duration
	BytesIn                  uint64 // client to backend
	BytesOut                 uint64 // backend to client
	// UDP: datagrams from the client, and replies to it.
	DatagramsIn, DatagramsOut uint64
	// TLS is what the client's TLS negotiated, on a listener that
	// terminates it; nil otherwise.
	TLS *tls.ConnectionState
	// Status says how it ended: ok, connect_failed, no_backend, rejected,
	// proxy_header_invalid, proxy_header_timeout, denied, limited,
	// tls_handshake_failed,
	// idle_timeout, drain_timeout, unhealthy, rebalance, max_lifetime or
	// shutdown for TCP; ok (session timeout), responses or shutdown for
	// UDP.
	Status string
	// Move says how pinlb moved a TCP connection it moved: goaway (its h2c
	// client was asked by a GOAWAY and closed it), quiet_close (closed
	// once quiet) or forced_close (closed busy, at max_wait); "" for
	// connections it did not move.
	Move string
}

// Recorder receives a Record for every finished connection and session. It
// is called on the data path's goroutines and must not block.
type Recorder interface {
	Record(*Record)
}
