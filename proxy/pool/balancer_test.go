package pool

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoenig/test/must"
)

// testSet builds a pool with one endpoint per weight and returns its set.
func testSet(balance string, weights ...int) *Set {
	return testSetWith(Rules{Balance: balance}, weights...)
}

// testSetWith builds the set under rules.
func testSetWith(rules Rules, weights ...int) *Set {
	p := New()
	p.Configure(rules)
	eps := make([]Endpoint, len(weights))
	for i, w := range weights {
		eps[i] = Endpoint{Addr: netip.MustParseAddrPort(fmt.Sprintf("10.0.0.%d:9991", i+1)), Weight: w}
	}
	p.Update(eps)
	return p.Set()
}

func index(s *Set, b *Backend) int {
	for i, x := range s.backends {
		if x == b {
			return i
		}
	}
	return -1
}

func clientAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 40000)
}

// picks counts n picks per endpoint, each connection held open for a number
// of later picks drawn from hold (0: closed at once). It also returns each
// endpoint's open connections summed over every pick: its load over time.
func picks(s *Set, n int, hold func() int) ([]int, []int) {
	counts := make([]int, len(s.backends))
	load := make([]int, len(s.backends))
	type open struct {
		b     *Backend
		until int
	}
	var conns []open
	for i := range n {
		live := conns[:0]
		for _, c := range conns {
			if c.until <= i {
				c.b.active.Add(-1)
			} else {
				live = append(live, c)
			}
		}
		conns = live
		b := s.Choose(&Pick{Client: clientAddr(i), Now: time.Now().UnixNano()})
		counts[index(s, b)]++
		b.active.Add(1)
		conns = append(conns, open{b, i + hold()})
		for k, x := range s.backends {
			load[k] += int(x.active.Load())
		}
	}
	for _, c := range conns {
		c.b.active.Add(-1)
	}
	return counts, load
}

func TestBalancers_WeightsRespected(t *testing.T) {
	for _, balance := range []string{RoundRobin, LeastConn, RandomTwo, LeastTime, Hash} {
		t.Run(balance, func(t *testing.T) {
			s := testSet(balance, 3, 1, 1)
			// Connections held for a while, so that load-based balancers
			// see load.
			counts, _ := picks(s, 10000, func() int { return 50 })
			share := float64(counts[0]) / 10000
			must.Between(t, 0.5, share, 0.7, must.Sprintf("heavy endpoint's share %.3f of %v", share, counts))
		})
	}
}

func TestRoundRobin_Smooth(t *testing.T) {
	// nginx's smooth weighted round robin spreads the heavy endpoint's
	// turns: 5,1,1 gives a a b a c a a, never five a's in a row.
	rr := newRoundRobin([]int{5, 1, 1})
	must.Eq(t, []int{0, 0, 1, 0, 2, 0, 0}, rr.schedule)
}

func TestRoundRobin_LargeWeightsAreScaled(t *testing.T) {
	rr := newRoundRobin([]int{65535, 65534, 1})
	must.LessEq(t, maxSchedule+3, len(rr.schedule))
	counts := make([]int, 3)
	for _, i := range rr.schedule {
		counts[i]++
	}
	must.Positive(t, counts[2]) // the lightest endpoint keeps a turn
	must.Greater(t, counts[2]*1000, counts[0])
}

func TestLoadBalancers_FairShareWithMixedDurations(t *testing.T) {
	for _, balance := range []string{LeastConn, RandomTwo} {
		t.Run(balance, func(t *testing.T) {
			s := testSet(balance, 1, 1, 1, 1)
			// Mixed durations: most connections short, some held for
			// hundreds of picks. Fair share is of the load: each
			// endpoint's open connections, over the whole run.
			counts, load := picks(s, 10000, func() int {
				if rand.IntN(10) == 0 {
					return 100 + rand.IntN(400)
				}
				return rand.IntN(10)
			})
			total := 0
			for _, l := range load {
				total += l
			}
			for i, l := range load {
				share := float64(l) / float64(total)
				must.Between(t, 0.225, share, 0.275, must.Sprintf("endpoint %d carried %.3f of the load (picks %v)", i, share, counts))
			}
		})
	}
}

func TestHash_MovesFewClientsWhenOneJoins(t *testing.T) {
	const clients = 10000
	for _, n := range []int{2, 4, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			weights := make([]int, n)
			for i := range weights {
				weights[i] = 1
			}
			before := testSet(Hash, weights...)
			after := testSet(Hash, append(weights, 1)...) // same IDs, one more
			moved := 0
			for i := range clients {
				p := &Pick{Client: clientAddr(i), Now: time.Now().UnixNano()}
				b1 := before.Choose(p)
				b2 := after.Choose(&Pick{Client: clientAddr(i), Now: p.Now})
				if b1.id != b2.id {
					moved++
				}
			}
			// Ideal: clients/(n+1) move, all to the new endpoint. Allow
			// a quarter more for the ring's unevenness.
			ideal := clients / (n + 1)
			must.Less(t, ideal*5/4, moved, must.Sprintf("%d of %d clients moved, ideal %d", moved, clients, ideal))
			t.Logf("%d endpoints + 1: %d of %d clients moved (ideal %d)", n, moved, clients, ideal)
		})
	}
}

func TestPick_SkipsUnavailable(t *testing.T) {
	for _, balance := range []string{RoundRobin, LeastConn, RandomTwo, LeastTime, Hash} {
		t.Run(balance, func(t *testing.T) {
			s := testSetWith(Rules{Balance: balance, MaxConns: 5}, 1, 1, 1)
			now := time.Now().UnixNano()
			s.backends[0].downUntil.Store(now + int64(time.Hour)) // passive health
			s.backends[1].active.Store(5)                         // at max_conns
			for i := range 100 {
				b := s.Choose(&Pick{Client: clientAddr(i), Now: now})
				must.Eq(t, s.backends[2], b)
			}
			s.backends[2].active.Store(5) // all unavailable
			must.Nil(t, s.Choose(&Pick{Client: clientAddr(0), Now: now}))
		})
	}
}

func TestPick_BackupOnlyWhenNoPrimary(t *testing.T) {
	p := New()
	prim := netip.MustParseAddrPort("10.0.0.1:1")
	bak := netip.MustParseAddrPort("10.0.0.2:1")
	p.Update([]Endpoint{{Addr: prim}, {Addr: bak, Backup: true}})
	s := p.Set()
	now := time.Now().UnixNano()
	for range 10 {
		must.Eq(t, prim, s.Choose(&Pick{Now: now}).addr)
	}
	s.backends[0].downUntil.Store(now + int64(time.Hour))
	must.Eq(t, bak, s.Choose(&Pick{Now: now}).addr)
}

func TestPassiveHealth(t *testing.T) {
	b := &Backend{}
	now := time.Now().UnixNano()
	must.False(t, b.failed(now, 3, time.Second))
	must.False(t, b.failed(now+1, 3, time.Second))
	must.True(t, b.failed(now+2, 3, time.Second)) // third within the window
	must.Eq(t, now+2+int64(time.Second), b.downUntil.Load())

	// Failures spread wider than fail_timeout do not add up.
	c := &Backend{}
	for i := range 5 {
		must.False(t, c.failed(now+int64(i)*int64(2*time.Second), 3, time.Second))
	}
	// A success forgets the window's failures.
	c.failed(now, 2, time.Second)
	c.succeeded()
	must.False(t, c.failed(now+1, 2, time.Second))
}

// Connects that fail together take the backend out once, and count once;
// those still in flight when it went out count for nothing.
func TestPassiveHealth_CountsEjectionsNotFailures(t *testing.T) {
	b := &Backend{}
	now := time.Now().UnixNano()
	var outs atomic.Int64
	var wg sync.WaitGroup
	for range 128 {
		wg.Go(func() {
			if b.failed(now, 1, time.Second) {
				outs.Add(1)
			}
		})
	}
	wg.Wait()
	must.Eq(t, 1, outs.Load())
	must.False(t, b.failed(now+int64(time.Millisecond), 1, time.Second)) // out already
}

// Back after fail_timeout, a backend is on probation: one connect at a
// time, and one failure takes it out again, however high max_fails is; a
// success ends the probation.
func TestPassiveHealth_Probation(t *testing.T) {
	s := testSet(RoundRobin, 1, 1)
	b := s.backends[0]
	now := time.Now().UnixNano()
	for i := range 3 {
		b.failed(now+int64(i), 3, time.Second)
	}
	back := now + int64(time.Second) + 10
	must.True(t, b.onProbation(back))
	must.False(t, b.onProbation(now+5)) // still out

	b.probing.Store(true) // a probe in flight: nobody else gets it
	for i := range 20 {
		must.Eq(t, s.backends[1], s.Choose(&Pick{Client: clientAddr(i), Now: back}))
	}
	b.probing.Store(false)
	must.True(t, b.failed(back, 3, time.Second)) // one failure on probation
	must.Eq(t, back+int64(time.Second), b.downUntil.Load())

	b.succeeded()
	must.False(t, b.onProbation(back+int64(2*time.Second)))
	must.False(t, b.failed(back+int64(2*time.Second), 3, time.Second)) // counting again from zero
}

func TestSlowStartRamp(t *testing.T) {
	b := &Backend{}
	now := time.Now().UnixNano()
	must.Eq(t, 1.0, b.ramp(now, time.Minute)) // a starting pool's endpoints: no ramp
	b.since.Store(now)
	must.Eq(t, 0.01, b.ramp(now, time.Minute))
	must.Between(t, 0.49, b.ramp(now+int64(30*time.Second), time.Minute), 0.51)
	must.Eq(t, 1.0, b.ramp(now+int64(time.Minute), time.Minute))
}

// Slow start shapes shares but never refuses: a lone endpoint at the start
// of its ramp (back from zero, or the only one left) takes every connection.
func TestSlowStart_NeverRefuses(t *testing.T) {
	for _, balance := range []string{RoundRobin, LeastConn, RandomTwo, LeastTime, Hash} {
		t.Run(balance, func(t *testing.T) {
			s := testSetWith(Rules{Balance: balance, SlowStart: time.Hour}, 1, 1)
			now := time.Now().UnixNano()
			s.backends[0].downUntil.Store(now + int64(time.Hour))
			s.backends[1].since.Store(now)
			for i := range 100 {
				must.Eq(t, s.backends[1], s.Choose(&Pick{Client: clientAddr(i), Now: now}))
			}
		})
	}
}
