package pool

import (
	"math"
	"net/netip"
)

// Set is an immutable snapshot of a pool. It is never modified after it
// is published.
type Set struct {
	backends []*Backend // every endpoint, draining ones included
	weights  []int      // parallel to backends
	byAddr   map[netip.AddrPort]*Backend
	primary  group
	backup   group
	// single: the pool has one endpoint, which passive health never takes
	// out (nginx semantics).
	single bool
	rules  *Rules // as the set was built, Events aside (the pool's)
	pool   *Pool  // that built it
}

// group is the primaries or the backups of a set, and their balancer.
type group struct {
	idx []int // into backends
	bal balancer
}

// Empty reports whether no endpoint may take new traffic.
func (s *Set) Empty() bool { return len(s.primary.idx)+len(s.backup.idx) == 0 }

// Lookup is the backend at addr, nil if none is in the set.
func (s *Set) Lookup(addr netip.AddrPort) *Backend { return s.byAddr[addr] }

// Choose returns the backend for a new connection or datagram: the
// balancer's choice among the available primaries, else among the
// available backups; nil when none is available.
func (s *Set) Choose(p *Pick) *Backend {
	p.set, p.slowStart = s, s.rules.SlowStart
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
func (g *group) pickRamped(p *Pick) int {
	i := g.bal.pick(p)
	if i < 0 && p.slowStart > 0 {
		p.slowStart = 0
		i = g.bal.pick(p)
	}
	return i
}

// Excess is the rebalancer's plan, from the open connections counted per
// backend: for each primary endpoint holding more than skew times its
// weighted fair share, how many connections bring it down to its share;
// and every connection of an endpoint that left or drains, whose share is
// none.
func (s *Set) Excess(counts map[*Backend]int, skew float64) map[*Backend]int {
	if len(s.primary.idx) == 0 {
		return nil
	}
	plan := map[*Backend]int{}
	for b, n := range counts {
		if b.removed.Load() && n > 0 {
			plan[b] = n
		}
	}
	if len(s.primary.idx) >= 2 {
		s.overloaded(counts, skew, plan)
	}
	if len(plan) == 0 {
		return nil
	}
	return plan
}

// overloaded adds to plan the primaries above skew times their share.
func (s *Set) overloaded(counts map[*Backend]int, skew float64, plan map[*Backend]int) {
	total, weights := 0, 0
	for _, i := range s.primary.idx {
		total += counts[s.backends[i]]
		weights += s.weights[i]
	}
	for _, i := range s.primary.idx {
		b := s.backends[i]
		fair := float64(total) * float64(s.weights[i]) / float64(weights)
		if n := counts[b] - int(math.Ceil(fair)); float64(counts[b]) > skew*fair && n > 0 {
			plan[b] = n
		}
	}
}
