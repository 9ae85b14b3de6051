//go:build linux

package proxy

import (
	"net/netip"
	"testing"

	"github.com/shoenig/test/must"
)

// connsOn is a listener's connections, counts[i] of them on endpoint i.
func connsOn(s *endpointSet, counts ...int) []*tcpConn {
	var conns []*tcpConn
	for i, n := range counts {
		for range n {
			conns = append(conns, &tcpConn{backend: s.backends[i]})
		}
	}
	return conns
}

// movesOf is a plan by endpoint index.
func movesOf(s *endpointSet, plan map[*backend]int) []int {
	out := make([]int, len(s.backends))
	for b, n := range plan {
		out[index(s, b)] = n
	}
	return out
}

func TestPlanMoves_BringsOverloadedDownToTheirShare(t *testing.T) {
	s := testSet(LeastConn, 1, 1, 1, 1)
	must.Eq(t, []int{7, 7, 0, 0}, movesOf(s, planMoves(s, connsOn(s, 15, 15, 0, 0), 1.2))) // down to ceil(30/4)
	must.MapEmpty(t, planMoves(s, connsOn(s, 9, 9, 7, 7), 1.2))                            // 9 is within 1.2 × 8
}

func TestPlanMoves_WeighsShares(t *testing.T) {
	s := testSet(LeastConn, 3, 1)
	must.MapEmpty(t, planMoves(s, connsOn(s, 30, 10), 1.2))
	must.Eq(t, []int{0, 10}, movesOf(s, planMoves(s, connsOn(s, 20, 20), 1.2)))
}

func TestPlanMoves_MovesEveryConnectionOfADrainingEndpoint(t *testing.T) {
	p := newPool(LeastConn)
	p.update([]Endpoint{
		{Addr: netip.MustParseAddrPort("10.0.0.1:9991")},
		{Addr: netip.MustParseAddrPort("10.0.0.2:9991")},
		{Addr: netip.MustParseAddrPort("10.0.0.3:9991"), Draining: true},
	})
	s := p.load()
	must.Eq(t, []int{0, 0, 4}, movesOf(s, planMoves(s, connsOn(s, 5, 5, 4), 1.2)))
}
