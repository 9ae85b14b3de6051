//go:build linux

package proxy

import (
	"math/rand/v2"
	"testing"

	"github.com/shoenig/test/must"
)

// The timers give back the deadlines left, earliest first, whatever was
// cancelled in between.
func TestLoopTimers_EarliestFirst(t *testing.T) {
	var timers loopTimers
	flows := make([]*tcpFlow, 500)
	for i := range flows {
		flows[i] = &tcpFlow{}
		timers.add(flows[i], rand.Int64N(1000))
	}
	left := 0
	for _, f := range flows {
		if rand.IntN(3) == 0 {
			timers.cancel(f)
			must.Zero(t, f.timer)
		} else {
			left++
		}
	}
	timers.cancel(&tcpFlow{}) // one that has none: nothing happens
	must.Len(t, left, timers.h)
	last := int64(-1)
	for len(timers.h) > 0 {
		f := timers.h[0]
		must.GreaterEq(t, last, f.deadline)
		last = f.deadline
		timers.cancel(f)
	}
}
