package proxy

import (
	"net/netip"
	"testing"

	"github.com/shoenig/test/must"
)

func TestRoundRobin_Weights(t *testing.T) {
	cases := []struct {
		name    string
		weights []int
		picks   int
		want    []int
	}{
		{"equal", []int{1, 1, 1}, 300, []int{100, 100, 100}},
		{"weighted", []int{5, 1, 1}, 700, []int{500, 100, 100}},
		{"common divisor", []int{10, 20}, 300, []int{100, 200}},
		{"one", []int{7}, 10, []int{10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rr := newRoundRobin(tc.weights)
			got := make([]int, len(tc.weights))
			for range tc.picks {
				got[rr.Pick(netip.AddrPort{})]++
			}
			must.Eq(t, tc.want, got)
		})
	}
}

func TestRoundRobin_Smooth(t *testing.T) {
	// nginx's smooth weighted round robin spreads the heavy endpoint's
	// turns: 5,1,1 gives a a b a c a a, never five a's in a row.
	rr := newRoundRobin([]int{5, 1, 1})
	var seq []int
	for range 7 {
		seq = append(seq, rr.Pick(netip.AddrPort{}))
	}
	must.Eq(t, []int{0, 0, 1, 0, 2, 0, 0}, seq)
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
