// Package proxy is pinlb's data path: TCP and UDP listeners that forward to
// a pool of endpoints.
//
// A pool holds an immutable endpoint set behind an atomic pointer; updates
// swap the whole set, so a new connection or datagram never takes a lock to
// choose its backend. TCP runs on relay loops (tcp_loop.go), one per CPU,
// shared by every listener: each holds the listening sockets in its epoll
// set and accepts (tcp_accept.go), hands a connection to a lighter loop
// when its own holds many more, admits and connects without blocking
// (tcp_open.go, tcp_dial.go, with its deadlines in tcp_timers.go), then
// reads whatever socket is ready and writes it on (tcp_flow.go), splicing
// kernel-side for a direction whose reads fill the buffer. A connection
// thus costs no goroutine and no scheduler wake-up from accept to close;
// an idle one costs its two sockets and a small struct, and a watchdog
// reads the loop's byte counters for idleness instead of per-read
// deadlines. A PROXY header is peeked at on the loop until it is whole
// (tcp_header.go). A listener that terminates TLS gives each connection a
// goroutine after the accept (tcp_conn.go), for the handshake and the copy
// through crypto/tls. A UDP listener has
// a socket per CPU (SO_REUSEPORT), each read in batches with recvmmsg(2) by
// a goroutine that owns its clients' flows; a flow's share of a batch goes
// out with one sendmmsg(2), its datagrams of one size to one backend as
// segments of one message (UDP_SEGMENT, udpsend_linux.go). No allocation
// and no lock per datagram.
//
// Before a TCP connection is dialled, an accepted PROXY header is read
// (proxyproto.go), then pinlb applies allow and deny (access.go) and the
// per-source limits (sources.go) to the client's real address, then
// terminates TLS when the listener does (tls.go), whose connections copy
// through pooled buffers on a goroutine pair instead of a loop. A UDP
// source is checked once, when its flow is made; a trusted peer's
// datagrams may carry a PROXY v2 header each (proxyproto_udp.go), and a
// source's datagram rate is kept in one atomic number per address
// (udp_rate.go).
//
// The package knows nothing of HCL or Consul: callers hand it a Config and
// []Endpoint. Its data path is Linux's (epoll, splice, recvmmsg and sendmmsg,
// SO_REUSEPORT groups, TCP_INFO and SO_MEMINFO). Elsewhere the package
// builds, so that pinlb's other commands work from any machine, but Listen
// fails with an error that says so (unsupported.go).
package proxy
