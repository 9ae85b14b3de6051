package proxy

import (
	"math"
	"math/rand/v2"
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
	// Backup endpoints get traffic only when no primary is available.
	Backup bool
	// Draining endpoints (in maintenance) get no new traffic; their open
	// connections drain whatever the listener's unhealthy policy.
	Draining bool
}

// backend is an endpoint's identity and live state. The same *backend lives
// for as long as its ID and address stay in the pool. Its weight lives in the
// endpoint set, which is rebuilt when a weight changes.
type backend struct {
	id   string
	addr netip.AddrPort

	active    atomic.Int64 // open TCP connections, or UDP sessions bound to it
	removed   atomic.Bool  // left the pool or draining: no new traffic; open connections drain
	removedAt atomic.Int64 // unix nanoseconds

	// Passive health: failed connects counted in a window of fail_timeout;
	// max_fails of them take the backend out until downUntil. Past it, the
	// backend is on probation until a connect succeeds: one connect at a
	// time (probing), and one failure takes it out again, as nginx does.
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

// ramp is the slow-start factor in (0, 1]: how far the backend is through
// its slow start since it joined or came back from passive failure.
func (b *backend) ramp(now int64, slowStart time.Duration) float64 {
	since := max(b.since.Load(), b.downUntil.Load())
	if since == 0 || now-since >= int64(slowStart) {
		return 1
	}
	return max(0.01, float64(now-since)/float64(slowStart))
}

// observe folds one connect-plus-first-byte time into the latency EWMA.
func (b *backend) observe(d time.Duration) {
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

// endpointSet is an immutable snapshot of a pool. It is never modified after
// it is published.
type endpointSet struct {
	backends []*backend // every endpoint, draining ones included
	weights  []int      // parallel to backends
	byAddr   map[netip.AddrPort]*backend
	primary  group
	backup   group
	// single: the pool has one endpoint, which passive health never takes
	// out (nginx semantics).
	single bool
}

// group is the primaries or the backups of a set, and their balancer.
type group struct {
	idx []int // into backends
	bal Balancer
}

// choose returns the backend for a new connection or datagram: the
// balancer's choice among the available primaries, else among the available
// backups; nil when none is available.
func (s *endpointSet) choose(p *pick) *backend {
	p.set = s
	for _, g := range [2]*group{&s.primary, &s.backup} {
		if len(g.idx) == 0 {
			continue
		}
		p.group = g.idx
		if i := g.pickRamped(p); i >= 0 {
			return s.backends[g.idx[i]]
		}
	}
	return nil
}

// pickRamped picks with the slow-start ramps, and again without them when
// the ramps held back every available backend: slow start shapes shares, it
// never refuses a connection that a backend in the group could take.
func (g *group) pickRamped(p *pick) int {
	i := g.bal.Pick(p)
	if i < 0 && p.slowStart > 0 {
		ramp := p.slowStart
		p.slowStart = 0
		i = g.bal.Pick(p)
		p.slowStart = ramp
	}
	return i
}

// pick is one choice of backend and the rules it honours. The UDP reader
// reuses one, so a datagram allocates nothing.
type pick struct {
	set       *endpointSet
	group     []int
	client    netip.AddrPort
	now       int64
	maxConns  int64
	slowStart time.Duration
	tried     []*backend // connects already tried for this connection
}

func (p *pick) backend(i int) *backend { return p.set.backends[p.group[i]] }

func (p *pick) weight(i int) float64 { return float64(p.set.weights[p.group[i]]) }

// ok reports whether position i of the group may take the connection: not
// taken out by passive health, below max_conns, not tried already, and let
// through by its slow-start ramp.
func (p *pick) ok(i int) bool {
	b := p.backend(i)
	if !p.set.single && (b.downUntil.Load() > p.now || b.probing.Load()) { // out, or its one probe is in flight
		return false
	}
	if p.maxConns > 0 && b.active.Load() >= p.maxConns {
		return false
	}
	for _, t := range p.tried {
		if t == b {
			return false
		}
	}
	if p.slowStart > 0 {
		if r := b.ramp(p.now, p.slowStart); r < 1 && rand.Float64() >= r {
			return false
		}
	}
	return true
}

// load is position i's open connections per unit of weight.
func (p *pick) load(i int) float64 { return float64(p.backend(i).active.Load()) / p.weight(i) }

// lowest returns the available position with the lowest score per unit of
// weight, starting the scan at a random position so ties are shared.
func (p *pick) lowest(score func(*backend) float64) int {
	n := len(p.group)
	if n == 0 {
		return -1
	}
	best, bestScore := -1, 0.0
	start := rand.IntN(n)
	for k := range n {
		i := (start + k) % n
		if !p.ok(i) {
			continue
		}
		if s := score(p.backend(i)) / p.weight(i); best < 0 || s < bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// weightedRandom returns a random position, in proportion to weight.
func (p *pick) weightedRandom() int {
	total := 0.0
	for i := range p.group {
		total += p.weight(i)
	}
	r := rand.Float64() * total
	for i := range p.group {
		if r -= p.weight(i); r < 0 {
			return i
		}
	}
	return len(p.group) - 1
}

// pool is the current endpoint set of one listener. Readers load it with one
// atomic operation; writers serialise on mu and publish a new set.
type pool struct {
	mu      sync.Mutex
	balance string
	cur     atomic.Pointer[endpointSet]
	eps     []Endpoint // as last given, for rebuilding with another balancer
	updated bool       // the pool has had its first endpoints
	// Backends that left the pool with connections still open, by ID: one
	// that comes back takes its connections with it instead of having them
	// drained as strangers.
	draining map[string]*backend
}

func newPool(balance string) *pool {
	p := &pool{balance: balance, draining: map[string]*backend{}}
	p.cur.Store(&endpointSet{byAddr: map[netip.AddrPort]*backend{}})
	return p
}

func (p *pool) load() *endpointSet { return p.cur.Load() }

// update publishes eps as the new set. Backends whose ID stays keep their
// state; those that left or went draining are marked removed, and those
// that left are returned.
func (p *pool) update(eps []Endpoint) (left []*backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eps = eps
	return p.publish()
}

// setBalance rebuilds the current set with another algorithm.
func (p *pool) setBalance(balance string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if balance != p.balance {
		p.balance = balance
		p.publish()
	}
}

func (p *pool) publish() (left []*backend) {
	now := time.Now()
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
	s := &endpointSet{byAddr: make(map[netip.AddrPort]*backend, len(p.eps))}
	var primary, backup []int
	for _, ep := range p.eps {
		if ep.ID == "" {
			ep.ID = ep.Addr.String()
		}
		b, ok := byID[ep.ID]
		if ok && b.addr == ep.Addr {
			delete(byID, ep.ID)
		} else {
			b = &backend{id: ep.ID, addr: ep.Addr, joined: now.UnixNano()}
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
	s.primary = s.group(p.balance, primary)
	s.backup = s.group(p.balance, backup)
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

// group builds a group of s over the backends at idx.
func (s *endpointSet) group(balance string, idx []int) group {
	bs := make([]*backend, len(idx))
	ws := make([]int, len(idx))
	for k, i := range idx {
		bs[k], ws[k] = s.backends[i], s.weights[i]
	}
	return group{idx: idx, bal: newBalancer(balance, bs, ws)}
}
