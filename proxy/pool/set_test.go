package pool

import (
	"net/netip"
	"testing"

	"github.com/shoenig/test/must"
)

// countsOn is a listener's connections, counts[i] of them on endpoint i.
func countsOn(s *Set, counts ...int) map[*Backend]int {
	out := map[*Backend]int{}
	for i, n := range counts {
		out[s.backends[i]] = n
	}
	return out
}

// movesOf is a plan by endpoint index.
func movesOf(s *Set, plan map[*Backend]int) []int {
	out := make([]int, len(s.backends))
	for b, n := range plan {
		out[index(s, b)] = n
	}
	return out
}

func TestExcess_BringsOverloadedDownToTheirShare(t *testing.T) {
	s := testSet(LeastConn, 1, 1, 1, 1)
	must.Eq(t, []int{7, 7, 0, 0}, movesOf(s, s.Excess(countsOn(s, 15, 15, 0, 0), 1.2))) // down to ceil(30/4)
	must.MapEmpty(t, s.Excess(countsOn(s, 9, 9, 7, 7), 1.2))                            // 9 is within 1.2 × 8
}

func TestExcess_WeighsShares(t *testing.T) {
	s := testSet(LeastConn, 3, 1)
	must.MapEmpty(t, s.Excess(countsOn(s, 30, 10), 1.2))
	must.Eq(t, []int{0, 10}, movesOf(s, s.Excess(countsOn(s, 20, 20), 1.2)))
}

func TestExcess_MovesEveryConnectionOfADrainingEndpoint(t *testing.T) {
	p := New()
	p.Configure(Rules{Balance: LeastConn})
	p.Update([]Endpoint{
		{Addr: netip.MustParseAddrPort("10.0.0.1:9991")},
		{Addr: netip.MustParseAddrPort("10.0.0.2:9991")},
		{Addr: netip.MustParseAddrPort("10.0.0.3:9991"), Draining: true},
	})
	s := p.Set()
	must.Eq(t, []int{0, 0, 4}, movesOf(s, s.Excess(countsOn(s, 5, 5, 4), 1.2)))
}
