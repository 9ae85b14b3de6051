package proxy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
)

// Balancer chooses the backend for a new connection or datagram. One
// Balancer is built per immutable endpoint set, and Pick must be safe for
// concurrent use without locks.
type Balancer interface {
	// Pick returns an index into the set's backends. It is never called on
	// an empty set.
	Pick(client netip.AddrPort) int
}

// Balance algorithms.
const (
	RoundRobin = "round_robin"
)

// checkBalance reports whether the algorithm is one this package knows.
func checkBalance(name string) error {
	switch name {
	case RoundRobin:
		return nil
	}
	return fmt.Errorf("unknown balance algorithm %q", name)
}

// newBalancer builds the balancer for a set with these weights (all ≥ 1).
// checkBalance has vetted name; round robin is the only algorithm yet.
func newBalancer(name string, weights []int) Balancer {
	rr := newRoundRobin(weights)
	// Start the rotation anywhere: a set is rebuilt on every pool change,
	// and starting each at the first endpoint would send the few
	// connections after each change to the first endpoints only.
	rr.next.Store(rand.Uint64())
	return rr
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

func (rr *roundRobin) Pick(netip.AddrPort) int {
	n := rr.next.Add(1) - 1
	return rr.schedule[n%uint64(len(rr.schedule))]
}

// normalise divides weights by their greatest common divisor and scales them
// so that their sum stays within maxSchedule.
func normalise(weights []int) []int {
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
