package pool

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync/atomic"
)

// balancer chooses the backend for a new connection or datagram. One
// balancer is built per immutable endpoint set, and pick must be safe for
// concurrent use without locks.
type balancer interface {
	// pick returns a position in p.group whose backend p.ok accepts, or -1
	// when none does.
	pick(p *Pick) int
}

// Balance algorithms.
const (
	RoundRobin = "round_robin"
	LeastConn  = "least_conn"
	RandomTwo  = "random_two"
	Hash       = "hash"
	LeastTime  = "least_time"
)

// balancers builds, for each algorithm, the balancer of one group of a
// set: backends with these weights (all ≥ 1). Adding an algorithm is a row
// here, and its name in config's list (a test in agent/ compares them).
var balancers = map[string]func(backends []*Backend, weights []int) balancer{
	RoundRobin: func(_ []*Backend, weights []int) balancer {
		rr := newRoundRobin(weights)
		// Start the rotation anywhere: a set is rebuilt on every pool
		// change, and starting each at the first endpoint would send the
		// few connections after each change to the first endpoints only.
		rr.next.Store(rand.Uint64())
		return rr
	},
	LeastConn: func([]*Backend, []int) balancer { return leastConn{} },
	RandomTwo: func([]*Backend, []int) balancer { return randomTwo{} },
	Hash:      func(backends []*Backend, weights []int) balancer { return newRing(backends, weights) },
	LeastTime: func([]*Backend, []int) balancer { return leastTime{} },
}

// Balancers lists the balance algorithms, sorted.
func Balancers() []string { return slices.Sorted(maps.Keys(balancers)) }

// CheckBalance reports whether the algorithm is one this package knows.
func CheckBalance(name string) error {
	if _, ok := balancers[name]; !ok {
		return fmt.Errorf("unknown balance algorithm %q", name)
	}
	return nil
}

// newBalancer builds the balancer for one group of a set. CheckBalance
// has vetted name.
func newBalancer(name string, backends []*Backend, weights []int) balancer {
	return balancers[name](backends, weights)
}

// maxSchedule caps the length of a round-robin schedule. Weights whose sum
// exceeds it are scaled down, keeping every endpoint at least once.
const maxSchedule = 4096

// roundRobin is smooth weighted round robin (as in nginx), precomputed into a
// schedule so that a pick is one atomic increment: a heavier endpoint's turns
// are spread out rather than bunched.
type roundRobin struct {
	schedule []int
	next     atomic.Uint64
}

func newRoundRobin(weights []int) *roundRobin {
	rr := &roundRobin{}
	if len(weights) == 0 {
		return rr
	}
	w := normalise(weights)
	total := 0
	for _, x := range w {
		total += x
	}
	current := make([]int, len(w))
	rr.schedule = make([]int, total)
	for step := range rr.schedule {
		best := 0
		for i := range w {
			current[i] += w[i]
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		rr.schedule[step] = best
	}
	return rr
}

// Pick takes the next turn; a turn whose backend is unavailable passes to
// the next, for at most one round of the schedule.
func (rr *roundRobin) pick(p *Pick) int {
	n := uint64(len(rr.schedule))
	if n == 0 {
		return -1
	}
	start := rr.next.Add(1) - 1
	for k := range n {
		if i := rr.schedule[(start+k)%n]; p.ok(i) {
			return i
		}
	}
	return -1
}

// normalise divides weights by their greatest common divisor and scales them
// so that their sum stays within maxSchedule.
func normalise(weights []int) []int {
	if len(weights) == 0 {
		return nil
	}
	g := 0
	total := 0
	for _, w := range weights {
		g = gcd(g, w)
		total += w
	}
	out := make([]int, len(weights))
	total /= g
	for i, w := range weights {
		out[i] = w / g
		if total > maxSchedule {
			out[i] = max(1, out[i]*maxSchedule/total)
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// leastConn picks the backend with the fewest open connections per unit of
// weight; ties go to a random one of them, so equal backends share.
type leastConn struct{}

func (leastConn) pick(p *Pick) int {
	return p.lowest(func(b *Backend) float64 { return float64(b.active.Load()) })
}

// leastTime picks the backend with the lowest expected time for one more
// connection: the EWMA of its connect time plus time to first byte, times
// its open connections plus one, per unit of weight (in the spirit of nginx
// Plus least_time). A backend not yet measured counts as the fastest.
type leastTime struct{}

func (leastTime) pick(p *Pick) int {
	return p.lowest(func(b *Backend) float64 {
		// Unmeasured counts as the fastest: 1ns.
		return max(1, math.Float64frombits(b.latency.Load())) * float64(b.active.Load()+1)
	})
}

// randomTwo is the power of two choices: two random available backends,
// weighted, and the one with fewer open connections per weight wins.
type randomTwo struct{}

func (randomTwo) pick(p *Pick) int {
	n := len(p.group)
	if n == 0 {
		return -1
	}
	first, second := -1, -1
	for tries := 0; tries < 2*n && second < 0; tries++ {
		i := p.weightedRandom()
		switch {
		case !p.ok(i):
		case first < 0:
			first = i
		case i != first || n == 1:
			second = i
		}
	}
	if first < 0 {
		return p.lowest(func(b *Backend) float64 { return float64(b.active.Load()) }) // every random draw missed
	}
	if second < 0 {
		return first
	}
	if p.load(first) <= p.load(second) {
		return first
	}
	return second
}

// ring is consistent hashing on the client's IP: each backend owns virtual
// nodes in proportion to its weight, so when one joins a pool of N, only
// about 1/(N+1) of the clients move. An unavailable backend's clients go to
// the next backend on the ring.
type ring struct {
	points []uint64
	owner  []int // position in the group, parallel to points
}

const vnodesPerWeight = 160

func newRing(backends []*Backend, weights []int) *ring {
	r := &ring{}
	w := normalise(weights)
	for i, b := range backends {
		for v := range w[i] * vnodesPerWeight {
			r.points = append(r.points, hash64(fmt.Sprintf("%s#%d", b.id, v)))
			r.owner = append(r.owner, i)
		}
	}
	idx := make([]int, len(r.points))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return r.points[idx[a]] < r.points[idx[b]] })
	points, owner := make([]uint64, len(idx)), make([]int, len(idx))
	for k, i := range idx {
		points[k], owner[k] = r.points[i], r.owner[i]
	}
	r.points, r.owner = points, owner
	return r
}

func (r *ring) pick(p *Pick) int {
	if len(r.points) == 0 {
		return -1
	}
	a := p.Client.Addr().As16()
	h := fnv64a(a[:])
	start := sort.Search(len(r.points), func(k int) bool { return r.points[k] >= h })
	for k := range r.points {
		if i := r.owner[(start+k)%len(r.points)]; p.ok(i) {
			return i
		}
	}
	return -1
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return mix(h.Sum64())
}

// fnv64a hashes without allocating.
func fnv64a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return mix(h)
}

// mix spreads FNV's output over the ring (splitmix64's finaliser).
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}
