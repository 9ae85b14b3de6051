// Package proxy is pinlb's data path: TCP and UDP listeners that forward to
// a pool of endpoints.
//
// A pool holds an immutable endpoint set behind an atomic pointer; updates
// swap the whole set, so a new connection or datagram never takes a lock to
// choose its backend. A TCP connection is accepted, gated and connected on
// a goroutine of its own, then handed to a relay loop (tcp_loop.go), one
// per CPU, shared by every listener: an edge-triggered epoll set that reads
// whatever socket is ready and writes it on (tcp_flow.go), and splices
// kernel-side for a direction whose reads fill the buffer. An idle
// connection then costs its two sockets and a small struct, no goroutine;
// a watchdog reads the loop's byte counters for idleness instead of
// per-read deadlines. TLS connections copy on their own goroutines. A UDP listener has
// a socket per CPU (SO_REUSEPORT), each read in batches with recvmmsg(2) by
// a goroutine that owns its clients' flows; a flow's share of a batch goes
// out with one sendmmsg(2). No allocation and no lock per datagram.
//
// Before a TCP connection is dialled, its gate reads an accepted PROXY
// header (proxyproto.go), then applies allow and deny (access.go) and the
// per-source limits (sources.go) to the client's real address, then
// terminates TLS when the listener does (tls.go), whose connections copy
// through pooled buffers on a goroutine pair instead of a loop. A UDP source is checked once,
// when its flow is made; a trusted peer's datagrams may carry a PROXY v2
// header each (proxyproto_udp.go), and a source's datagram rate is kept in
// one atomic number per address (udp_rate.go).
//
// The package knows nothing of HCL or Consul: callers hand it a Config and
// []Endpoint. Its data path is Linux's (epoll, splice, recvmmsg and sendmmsg,
// SO_REUSEPORT groups, TCP_INFO and SO_MEMINFO). Elsewhere the package
// builds, so that pinlb's other commands work from any machine, but Listen
// fails with an error that says so (unsupported.go).
package proxy
