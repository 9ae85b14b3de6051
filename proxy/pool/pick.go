package pool

import (
	"math/rand/v2"
	"net/netip"
	"time"
)

// Pick is one choice of backend and the rules it honours. A caller may
// reuse one, so that a datagram allocates nothing.
type Pick struct {
	Client netip.AddrPort // for hash
	Now    int64          // Unix nanoseconds

	set       *Set
	group     []int
	slowStart time.Duration
	tried     []*Backend // connects already tried for this connection
}

func (p *Pick) backend(i int) *Backend { return p.set.backends[p.group[i]] }

func (p *Pick) weight(i int) float64 { return float64(p.set.weights[p.group[i]]) }

// ok reports whether position i of the group may take the connection: not
// taken out by passive health, below max_conns, not tried already, and let
// through by its slow-start ramp.
func (p *Pick) ok(i int) bool {
	b := p.backend(i)
	if !p.set.single && (b.downUntil.Load() > p.Now || b.probing.Load()) { // out, or its one probe is in flight
		return false
	}
	if limit := int64(p.set.rules.MaxConns); limit > 0 && b.active.Load() >= limit {
		return false
	}
	for _, t := range p.tried {
		if t == b {
			return false
		}
	}
	if p.slowStart > 0 {
		if r := b.ramp(p.Now, p.slowStart); r < 1 && rand.Float64() >= r {
			return false
		}
	}
	return true
}

// load is position i's open connections per unit of weight.
func (p *Pick) load(i int) float64 { return float64(p.backend(i).active.Load()) / p.weight(i) }

// lowest returns the available position with the lowest score per unit of
// weight, starting the scan at a random position so ties are shared.
func (p *Pick) lowest(score func(*Backend) float64) int {
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
func (p *Pick) weightedRandom() int {
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
