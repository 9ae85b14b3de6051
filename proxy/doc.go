// Package proxy is pinlb's data path: TCP and UDP listeners that forward to
// a pool of endpoints.
//
// A pool holds an immutable endpoint set behind an atomic pointer; updates
// swap the whole set, so a new connection or datagram never takes a lock to
// choose its backend.
//
// TCP runs on reactors (package reactor: an epoll set per CPU, shared by
// every listener, with its slots, deadlines and pipes). Each holds the
// listening sockets and accepts (tcp_accept.go), and hands a connection to
// a lighter reactor when its own holds many more. A connection on a
// reactor is a tcpFlow, a phase machine (tcp_flow.go): it awaits its PROXY
// header if its peer must send one (tcp_flow_header.go), is admitted
// (tcp_flow_open.go), connects without blocking (tcp_flow_connect.go),
// then relays (tcp_flow_relay.go), reading whatever socket is ready and
// writing it on, splicing kernel-side for a direction whose reads fill the
// buffer; it ends once, and its listener settles it (tcp_settle.go). A
// connection thus costs no goroutine and no scheduler wake-up from accept
// to close; an idle one costs its two sockets and a small struct. A
// listener that terminates TLS hands each connection, once admitted, to a
// goroutine of its own for the handshake, the connect and the copy
// through crypto/tls (tls.go). Either way the connection's driver (the
// flow, or the TLS relay) is all that the watchdog (tcp_watch.go), drain
// and rebalancing see of it: its byte counters for idleness, and a way to
// ask the client to go or to close.
//
// A UDP listener has
// a socket per CPU (SO_REUSEPORT), each read in batches with recvmmsg(2) by
// a goroutine that owns its clients' flows; a flow's share of a batch goes
// out with one sendmmsg(2), its datagrams of one size to one backend as
// segments of one message (UDP_SEGMENT, udpsend_linux.go). No allocation
// and no lock per datagram.
//
// Before a TCP connection is dialled, an accepted PROXY header is read
// (proxyproto.go), then pinlb applies allow and deny (access.go) and the
// per-source limits (sources.go) to the client's real address, then
// terminates TLS when the listener does. A UDP
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
