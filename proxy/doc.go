// Package proxy is pinlb's data path: TCP and UDP listeners that forward to
// a pool of endpoints.
//
// A pool holds an immutable endpoint set behind an atomic pointer; updates
// swap the whole set, so a new connection or datagram never takes a lock to
// choose its backend. TCP moves kernel-side with splice(2), through pipes
// held only while bytes flow, so an idle connection costs two sockets and
// two parked goroutines; idleness is read from the kernel's TCP_INFO byte
// counters by a watchdog instead of per-read deadlines. A UDP listener has
// a socket per CPU (SO_REUSEPORT), each read in batches with recvmmsg(2) by
// a goroutine that owns its clients' flows; a flow's share of a batch goes
// out with one sendmmsg(2). No allocation and no lock per datagram.
//
// Before a TCP connection is dialled, its gate reads an accepted PROXY
// header (proxyproto.go), then applies allow and deny (access.go) and the
// per-source limits (sources.go) to the client's real address, then
// terminates TLS when the listener does (tls.go), whose connections copy
// through pooled buffers instead of splicing. A UDP source is checked once,
// when its flow is made; a trusted peer's datagrams may carry a PROXY v2
// header each (proxyproto_udp.go), and a source's datagram rate is kept in
// one atomic number per address (udp_rate.go).
//
// The package knows nothing of HCL or Consul: callers hand it a Config and
// []Endpoint. Its data path is Linux's (splice, recvmmsg and sendmmsg,
// SO_REUSEPORT groups, TCP_INFO and SO_MEMINFO). Elsewhere the package
// builds, so that pinlb's other commands work from any machine, but Listen
// fails with an error that says so (unsupported.go).
package proxy
