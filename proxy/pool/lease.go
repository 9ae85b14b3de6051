package pool

import (
	"fmt"
	"net/netip"
	"time"
)

// Lease is one TCP connection's hold on the pool, in the spirit of nginx's
// peer get and free: its tries (the balancer's choices, each backend at
// most once, up to Rules.Tries within NextTimeout), then the backend it
// reached, until Release. A try is counted on its backend while it runs,
// so that least_conn sees it at once. One goroutine at a time uses a
// lease.
type Lease struct {
	set   *Set
	pick  Pick
	start time.Time
	left  int
	cur   *Backend // the backend of the try running, nil between tries
	probe bool     // cur is on probation: this connect is its one probe
	last  *Backend // the backend of the last try
	held  *Backend // the backend reached, once connected
}

// Lease starts l, in place, for a connection from client.
func (p *Pool) Lease(l *Lease, client netip.AddrPort) {
	start := time.Now()
	set := p.cur.Load()
	*l = Lease{set: set, start: start, left: set.rules.Tries}
	l.pick = Pick{Client: client, Now: start.UnixNano()}
	if l.left <= 0 {
		l.left = len(set.backends)
	}
}

// Next starts a try: its backend's address and its connect timeout; ok is
// false when no try is left.
func (l *Lease) Next() (addr netip.AddrPort, timeout time.Duration, ok bool) {
	for l.left > 0 {
		b := l.set.Choose(&l.pick)
		if b == nil {
			return netip.AddrPort{}, 0, false
		}
		l.pick.tried = append(l.pick.tried, b)
		// A backend back from passive failure takes one connect at a
		// time until one succeeds, so that a black hole stalls one client,
		// not half of them.
		probe := !l.set.single && b.onProbation(l.pick.Now)
		if probe && !b.probing.CompareAndSwap(false, true) {
			continue
		}
		timeout, ok := l.timeout()
		if !ok {
			if probe {
				b.probing.Store(false)
			}
			return netip.AddrPort{}, 0, false
		}
		l.left--
		l.cur, l.probe, l.last = b, probe, b
		b.active.Add(1)
		return b.addr, timeout, true
	}
	return netip.AddrPort{}, 0, false
}

// timeout is the next try's: connect_timeout, or what is left of
// next_timeout; ok is false when nothing is left.
func (l *Lease) timeout() (time.Duration, bool) {
	r := l.set.rules
	if r.NextTimeout <= 0 {
		return r.ConnectTimeout, true
	}
	left := r.NextTimeout - time.Since(l.start)
	return min(r.ConnectTimeout, left), left > 0
}

// Trying is the running try's address.
func (l *Lease) Trying() netip.AddrPort { return l.cur.addr }

// Tried is the last try's address, zero before the first, and how many
// tries there were.
func (l *Lease) Tried() (netip.AddrPort, int) {
	if l.last == nil {
		return netip.AddrPort{}, 0
	}
	return l.last.addr, len(l.pick.tried)
}

// Endpoints is how many endpoints the lease's set holds.
func (l *Lease) Endpoints() int { return len(l.set.backends) }

// endTry ends the running try.
func (l *Lease) endTry() *Backend {
	b := l.cur
	if l.probe {
		b.probing.Store(false)
	}
	l.cur, l.probe = nil, false
	return b
}

// Connected ends the running try with the connection made: the lease
// holds its backend from now on.
func (l *Lease) Connected() *Backend {
	b := l.endTry()
	if b.succeeded() {
		l.set.emit(EventRestored, b, "a connect succeeded after its fail_timeout")
	}
	b.conns.Add(1)
	l.held = b
	return b
}

// Failed ends the running try with err. blame counts it against the
// backend, whose passive health may take it out: ejected says this
// failure did. A failure that is nobody's fault (pinlb's own resources, a
// shutdown) is not blamed.
func (l *Lease) Failed(err error, blame bool) (ejected bool) {
	b := l.endTry()
	b.active.Add(-1)
	if !blame {
		return false
	}
	b.connectFails.Add(1)
	r := l.set.rules
	if !b.failed(time.Now().UnixNano(), r.MaxFails, r.FailTimeout) || l.set.single {
		return false
	}
	l.set.emit(EventEjected, b, fmt.Sprintf("%d failed connects within fail_timeout (%s), out for %s; last: %v",
		r.MaxFails, r.FailTimeout, r.FailTimeout, err))
	return true
}

// Backend is the backend the lease reached; nil before.
func (l *Lease) Backend() *Backend { return l.held }

// FirstByte tells least_time how long the backend took to answer.
func (l *Lease) FirstByte(d time.Duration) { l.held.observe(d) }

// Release ends the hold of a connection that reached its backend, with
// the bytes it moved: when the backend has left the pool and this was its
// last connection, it is drained.
func (l *Lease) Release(in, out uint64) {
	b := l.held
	b.bytesIn.Add(in)
	b.bytesOut.Add(out)
	if b.active.Add(-1) == 0 && b.removed.Load() {
		l.set.emit(EventDrained, b, "its last open connection ended")
	}
}
