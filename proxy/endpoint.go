package proxy

import (
	"net/netip"
	"sync"
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
}

// backend is an endpoint's identity and live state. The same *backend lives
// for as long as its ID and address stay in the pool. Its weight lives in the
// endpoint set, which is rebuilt when a weight changes.
type backend struct {
	id        string
	addr      netip.AddrPort
	active    atomic.Int64 // open TCP connections, or UDP sessions bound to it
	removed   atomic.Bool  // left the pool: no new traffic; open connections drain
	removedAt atomic.Int64 // unix nanoseconds
}

func (b *backend) remove(now time.Time) {
	b.removedAt.Store(now.UnixNano())
	b.removed.Store(true)
}

// drainedFor is how long the backend has been out of the pool; 0 while in.
func (b *backend) drainedFor(now time.Time) time.Duration {
	if !b.removed.Load() {
		return 0
	}
	return now.Sub(time.Unix(0, b.removedAt.Load()))
}

// endpointSet is an immutable snapshot of a pool. It is never modified after
// it is published.
type endpointSet struct {
	backends []*backend
	weights  []int // parallel to backends
	byAddr   map[netip.AddrPort]*backend
	balancer Balancer
}

// pool is the current endpoint set of one listener. Readers load it with one
// atomic operation; writers serialise on mu and publish a new set.
type pool struct {
	mu      sync.Mutex
	balance string
	cur     atomic.Pointer[endpointSet]
	// Backends that left the pool with connections still open, by ID: one
	// that comes back takes its connections with it instead of having them
	// drained as strangers.
	draining map[string]*backend
}

func newPool(balance string) *pool {
	p := &pool{balance: balance, draining: map[string]*backend{}}
	p.cur.Store(buildSet(balance, nil, nil))
	return p
}

func (p *pool) load() *endpointSet { return p.cur.Load() }

// update publishes eps as the new set. Backends whose ID stays keep their
// state; those that left are marked removed and drain.
func (p *pool) update(eps []Endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cur.Load()
	byID := make(map[string]*backend, len(old.backends))
	for _, b := range old.backends {
		byID[b.id] = b
	}
	for id, b := range p.draining {
		if b.active.Load() == 0 {
			delete(p.draining, id)
		} else if _, ok := byID[id]; !ok {
			byID[id] = b
		}
	}
	backends := make([]*backend, 0, len(eps))
	weights := make([]int, 0, len(eps))
	for _, ep := range eps {
		if ep.ID == "" {
			ep.ID = ep.Addr.String()
		}
		b, ok := byID[ep.ID]
		if ok && b.addr == ep.Addr {
			delete(byID, ep.ID)
			if b.removed.Load() { // back before its connections drained
				b.removed.Store(false)
				delete(p.draining, ep.ID)
			}
		} else {
			b = &backend{id: ep.ID, addr: ep.Addr}
		}
		backends = append(backends, b)
		weights = append(weights, max(1, ep.Weight))
	}
	p.cur.Store(buildSet(p.balance, backends, weights))
	now := time.Now()
	for id, b := range byID {
		if !b.removed.Load() {
			b.remove(now)
		}
		if b.active.Load() > 0 {
			p.draining[id] = b
		}
	}
}

// setBalance rebuilds the current set with another algorithm.
func (p *pool) setBalance(balance string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if balance == p.balance {
		return
	}
	p.balance = balance
	cur := p.cur.Load()
	p.cur.Store(buildSet(balance, cur.backends, cur.weights))
}

func buildSet(balance string, backends []*backend, weights []int) *endpointSet {
	s := &endpointSet{
		backends: backends,
		weights:  weights,
		byAddr:   make(map[netip.AddrPort]*backend, len(backends)),
		balancer: newBalancer(balance, weights),
	}
	for _, b := range backends {
		s.byAddr[b.addr] = b
	}
	return s
}
