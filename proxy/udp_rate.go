//go:build linux

package proxy

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// udpSource is one client address's datagram rate, shared by the flows of
// its ports, which the kernel may spread over several readers. It is a
// GCRA (the token bucket's equivalent in one number): its state, the
// theoretical arrival time, moves by compare-and-swap, so a datagram takes
// no lock and allocates nothing.
type udpSource struct {
	addr  netip.Addr
	tat   atomic.Int64 // unix nanoseconds
	flows int          // under udpSources.mu
}

// allow reports whether a datagram at now stays within rate a second, with
// a burst of one second's worth, as the TCP connection rate has.
func (s *udpSource) allow(now int64, rate float64) bool {
	interval := int64(float64(time.Second) / rate)
	tolerance := max(0, int64(time.Second)-interval)
	for {
		tat := s.tat.Load()
		next := max(tat, now)
		if next-now > tolerance {
			return false
		}
		if s.tat.CompareAndSwap(tat, next+interval) {
			return true
		}
	}
}

// udpSources holds an entry per client address that has a flow: bounded
// by the session table (udp { max_sessions }), however many addresses
// send. The lock is taken when a flow starts and ends, never per datagram.
type udpSources struct {
	mu sync.Mutex
	m  map[netip.Addr]*udpSource
}

// acquire is addr's entry, held by one more flow.
func (s *udpSources) acquire(addr netip.Addr) *udpSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.m[addr]
	if src == nil {
		if s.m == nil {
			s.m = map[netip.Addr]*udpSource{}
		}
		src = &udpSource{addr: addr}
		s.m[addr] = src
	}
	src.flows++
	return src
}

// release lets a flow's entry go; the last flow of an address removes it.
func (s *udpSources) release(src *udpSource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if src.flows--; src.flows == 0 {
		delete(s.m, src.addr)
	}
}

func (s *udpSources) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
