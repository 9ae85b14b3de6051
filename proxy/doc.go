// Package proxy is pinlb's data path: TCP and UDP listeners that forward to
// a pool of endpoints.
//
// A pool holds an immutable endpoint set behind an atomic pointer; updates
// swap the whole set, so a new connection or datagram never takes a lock to
// choose its backend. TCP is copied *net.TCPConn to *net.TCPConn with io.Copy
// so that Linux splices it, and idleness is read from the kernel's TCP_INFO
// byte counters by a watchdog instead of per-read deadlines.
//
// The package knows nothing of HCL or Consul: callers hand it a Config and
// []Endpoint.
package proxy
