package pool

import (
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Rules are what a pool's choices and health follow: a listener's
// settings, as the caller last gave them.
type Rules struct {
	Balance     string
	MaxFails    int           // failed connects within FailTimeout that take an endpoint out for FailTimeout; 0 disables
	FailTimeout time.Duration //
	MaxConns    int           // open connections (or sessions) per endpoint; 0 means no limit
	SlowStart   time.Duration // a new or recovered endpoint's share ramps up over this; 0 disables

	// A TCP connection's tries (Lease).
	Tries          int           // connect attempts, each on another endpoint; 0 tries each endpoint once
	ConnectTimeout time.Duration // of one try
	NextTimeout    time.Duration // of all tries together; 0 means no limit

	// Events, if set, hears of what the pool decides about endpoints, on
	// the goroutine that decided: it must not block.
	Events func(Event)
}

// Pool is the endpoint set of one listener. Readers load it with one
// atomic operation; writers serialise on mu and publish a new set.
type Pool struct {
	mu      sync.Mutex
	rules   Rules // Events aside
	events  atomic.Pointer[func(Event)]
	cur     atomic.Pointer[Set]
	eps     []Endpoint // as last given, for rebuilding with other rules
	updated bool       // the pool has had its first endpoints
	// Backends that left the pool with connections still open, by ID: one
	// that comes back takes its connections with it instead of having them
	// drained as strangers.
	draining map[string]*Backend
}

// New is an empty pool, which chooses nothing until it is configured and
// given endpoints.
func New() *Pool {
	rules := Rules{Balance: RoundRobin}
	p := &Pool{draining: map[string]*Backend{}, rules: rules}
	p.cur.Store(&Set{byAddr: map[netip.AddrPort]*Backend{}, rules: &rules, pool: p})
	return p
}

// Set is the current endpoint set.
func (p *Pool) Set() *Set { return p.cur.Load() }

// Configure applies new rules; CheckBalance has vetted their balancer.
// Rules as they were leave the set as it is (a reload that changes
// nothing of the pool's must not restart what watches the set, such as a
// rebalancing plan); the Events hook is taken either way.
func (p *Pool) Configure(r Rules) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hook := r.Events
	p.events.Store(&hook)
	r.Events = nil
	if reflect.DeepEqual(r, p.rules) {
		return
	}
	p.rules = r
	p.publish()
}

// Update publishes eps as the new set. Backends whose ID stays keep their
// state; those that left or went draining take no new traffic, and those
// that left are returned.
func (p *Pool) Update(eps []Endpoint) (left []*Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eps = eps
	return p.publish()
}

// publish builds the set of p.eps under p.rules and swaps it in.
func (p *Pool) publish() (left []*Backend) {
	now := time.Now()
	byID := p.known()
	rules := p.rules
	s := &Set{byAddr: make(map[netip.AddrPort]*Backend, len(p.eps)), rules: &rules, pool: p}
	var primary, backup []int
	for _, ep := range p.eps {
		if ep.ID == "" {
			ep.ID = ep.Addr.String()
		}
		b := p.backendOf(byID, ep, now)
		if byID[ep.ID] == b {
			delete(byID, ep.ID) // it stays
		}
		i := len(s.backends)
		s.backends = append(s.backends, b)
		s.weights = append(s.weights, max(1, ep.Weight))
		s.byAddr[b.addr] = b
		switch {
		case ep.Draining:
		case ep.Backup:
			backup = append(backup, i)
		default:
			primary = append(primary, i)
		}
	}
	s.primary = s.group(rules.Balance, primary)
	s.backup = s.group(rules.Balance, backup)
	s.single = len(primary)+len(backup) == 1
	p.cur.Store(s)
	p.updated = p.updated || len(p.eps) > 0
	for id, b := range byID {
		if !b.removed.Load() {
			b.remove(now)
		}
		if b.active.Load() > 0 {
			p.draining[id] = b
		}
		left = append(left, b)
	}
	return left
}

// known are the backends by ID that an endpoint of the next set may be:
// the current set's, and those still draining.
func (p *Pool) known() map[string]*Backend {
	old := p.cur.Load()
	byID := make(map[string]*Backend, len(old.backends))
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
	return byID
}

// backendOf is ep's backend: the known one of its ID and address, with
// its state, or a new one.
func (p *Pool) backendOf(byID map[string]*Backend, ep Endpoint, now time.Time) *Backend {
	b, ok := byID[ep.ID]
	if !ok || b.addr != ep.Addr {
		b = &Backend{id: ep.ID, addr: ep.Addr, joined: now.UnixNano()}
		if p.updated {
			b.since.Store(now.UnixNano())
		}
	}
	switch {
	case ep.Draining:
		if !b.removed.Load() {
			b.remove(now)
		}
	case b.removed.Load(): // back, from draining or before its connections drained
		b.removed.Store(false)
		b.since.Store(now.UnixNano())
		delete(p.draining, ep.ID)
	}
	b.ep = ep
	return b
}

// group builds a group of s over the backends at idx.
func (s *Set) group(balance string, idx []int) group {
	bs := make([]*Backend, len(idx))
	ws := make([]int, len(idx))
	for k, i := range idx {
		bs[k], ws[k] = s.backends[i], s.weights[i]
	}
	return group{idx: idx, bal: newBalancer(balance, bs, ws)}
}
