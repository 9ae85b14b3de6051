package pool

import (
	"math"
	"net/netip"
	"sync/atomic"
	"time"
)

// Endpoint is one backend.
type Endpoint struct {
	// ID identifies the endpoint across updates, so that its state and open
	// connections stay with it. Empty means Addr.String().
	ID string
	// Addr is where connections and datagrams go.
	Addr netip.AddrPort
	// Weight is the endpoint's relative share of new connections and
	// datagrams. Values below 1 count as 1.
	Weight int
	// Backup endpoints get traffic only when no primary is available.
	Backup bool
	// Draining endpoints (in maintenance) get no new traffic; their open
	// connections drain whatever the listener's unhealthy policy.
	Draining bool
}

// Backend is an endpoint's identity and live state. The same *Backend
// lives for as long as its ID and address stay in the pool. Its weight
// lives in the Set, which is rebuilt when a weight changes.
type Backend struct {
	id   string
	addr netip.AddrPort

	active    atomic.Int64 // open TCP connections and tries, or UDP sessions bound to it
	removed   atomic.Bool  // left the pool or draining: no new traffic; open connections drain
	removedAt atomic.Int64 // unix nanoseconds

	// Passive health (passive.go).
	fails     atomic.Int64
	failSince atomic.Int64
	downUntil atomic.Int64
	probation atomic.Bool
	probing   atomic.Bool

	// since is when the backend joined the pool or came back, for
	// slow_start; 0 for the backends a listener starts with.
	since atomic.Int64
	// latency is the EWMA of connect time plus time to first byte, in
	// nanoseconds, as float64 bits; 0 until measured.
	latency atomic.Uint64

	// joined is when the backend entered the pool (unix nanoseconds).
	joined int64
	// ep is the endpoint as last given; guarded by the pool's mu.
	ep Endpoint

	// Counters for operators. TCP bytes count here when a connection
	// ends; live connections are added when status is read.
	conns, connectFails       atomic.Uint64
	bytesIn, bytesOut         atomic.Uint64 // client to backend, backend to client
	datagramsIn, datagramsOut atomic.Uint64 // UDP: to the backend, and its replies
}

// Addr is where the backend is.
func (b *Backend) Addr() netip.AddrPort { return b.addr }

// Usable reports whether the backend takes new traffic: it has not left
// the pool, and is not draining.
func (b *Backend) Usable() bool { return !b.removed.Load() }

// DrainedFor is how long the backend has been out of the pool; 0 while in.
func (b *Backend) DrainedFor(now time.Time) time.Duration {
	if !b.removed.Load() {
		return 0
	}
	return now.Sub(time.Unix(0, b.removedAt.Load()))
}

// Hold counts a UDP session bound to the backend; Drop lets it go.
func (b *Backend) Hold() { b.active.Add(1) }

// Drop ends a hold.
func (b *Backend) Drop() { b.active.Add(-1) }

// Sent counts a datagram of n bytes to the backend; Unsent takes one back
// that did not go.
func (b *Backend) Sent(n int) {
	b.datagramsIn.Add(1)
	b.bytesIn.Add(uint64(n))
}

// Unsent takes back a datagram that Sent counted.
func (b *Backend) Unsent(n int) {
	b.datagramsIn.Add(^uint64(0))
	b.bytesIn.Add(-uint64(n))
}

// Replied counts a reply of n bytes from the backend.
func (b *Backend) Replied(n int) {
	b.datagramsOut.Add(1)
	b.bytesOut.Add(uint64(n))
}

func (b *Backend) remove(now time.Time) {
	b.removedAt.Store(now.UnixNano())
	b.removed.Store(true)
}

// ramp is the slow-start factor in (0, 1]: how far the backend is through
// its slow start since it joined or came back from passive failure.
func (b *Backend) ramp(now int64, slowStart time.Duration) float64 {
	since := max(b.since.Load(), b.downUntil.Load())
	if since == 0 || now-since >= int64(slowStart) {
		return 1
	}
	return max(0.01, float64(now-since)/float64(slowStart))
}

// observe folds one connect-plus-first-byte time into the latency EWMA.
func (b *Backend) observe(d time.Duration) {
	for {
		old := b.latency.Load()
		v := float64(d)
		if old != 0 {
			v = 0.7*math.Float64frombits(old) + 0.3*v
		}
		if b.latency.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}
