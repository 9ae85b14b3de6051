package agent

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/sim"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// Scale-out: 400 long-lived connections on 2 collectors; 2 more join. The
// rebalancer moves quiet connections until the load is even, cutting no
// message and moving no client twice.
func TestConsul_ScaleOutRebalances(t *testing.T) {
	const streams = 400
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	cols := make([]*sim.Collector, 4)
	for i := range cols {
		col, err := sim.StartCollector(fmt.Sprintf("c%d", i), "127.0.0.1")
		must.NoError(t, err)
		t.Cleanup(col.Kill)
		cols[i] = col
	}
	register := func(col *sim.Collector) {
		must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: col.Name, Name: "collector", Address: "127.0.0.1", Port: col.Ports["grpc-agent"],
			Meta: map[string]string{"port_grpc_agent": fmt.Sprint(col.Ports["grpc-agent"])},
		}))
	}
	register(cols[0])
	register(cols[1])

	l := consulListener(t, "grpc", config.Upstream{PortMeta: "port_grpc_agent"})
	l.Balance = "least_conn"
	l.Rebalance = config.Rebalance{Enabled: true, Skew: 1.2, MaxRate: 100, MinIdle: 100 * time.Millisecond}
	ag := startWithConsul(t, srv, "", l)
	waitEndpoints(t, ag, "grpc", uint16(cols[0].Ports["grpc-agent"]), uint16(cols[1].Ports["grpc-agent"]))

	// Each stream sends a framed message every 200ms: quiet gaps between.
	s := sim.StartStreams(ag.Addrs()["grpc"].String(), streams, 200*time.Millisecond, 100*time.Millisecond)
	defer s.Stop()
	active := func() []int64 {
		out := make([]int64, len(cols))
		for i, col := range cols {
			out[i] = col.Stats().ActiveConns.Load()
		}
		return out
	}
	testsupport.WaitUpTo(t, 10*time.Second, "400 streams on 2 collectors", func() bool {
		a := active()
		return a[0]+a[1] == streams // concurrent connects may land 201/199
	})

	register(cols[2])
	register(cols[3])
	start := time.Now()
	testsupport.WaitUpTo(t, 30*time.Second, "the load to even out within 30s", func() bool {
		a := active()
		lo, hi, total := a[0], a[0], int64(0)
		for _, n := range a {
			lo, hi, total = min(lo, n), max(hi, n), total+n
		}
		return total == streams && lo > 0 && float64(hi) <= 1.25*float64(lo)
	})
	took := time.Since(start)

	moved := 0
	for i := range s.Reconnects {
		n := s.Reconnects[i].Load()
		must.LessEq(t, 1, n, must.Sprintf("stream %d was moved %d times", i, n))
	}
	// Every move pinlb counts is a client that reconnects: the last ones
	// may still be on their way.
	testsupport.WaitUpTo(t, 10*time.Second, "every move's reconnect", func() bool {
		moved = 0
		for i := range s.Reconnects {
			moved += int(s.Reconnects[i].Load())
		}
		return uint64(moved) == ag.Stats()["grpc"].RebalanceMoves
	})
	must.Eq(t, 0, s.DialErrors.Load())
	// The timeline has the scale-out, and the rounds that followed it: the
	// plan of each, then how its moves went (the simulator is not h2c: each
	// was closed once quiet).
	events, _, _ := ag.events.read(eventFilter{listener: "grpc"})
	var joined, plans, done int
	for _, e := range events {
		switch {
		case e.Kind == EventJoined:
			joined++
		case e.Kind == EventRebalance && strings.HasPrefix(e.Cause, "moving "):
			plans++
			must.StrContains(t, e.Cause, "to less loaded endpoints, from 127.0.0.1:")
		case e.Kind == EventRebalance:
			done++
			must.RegexMatch(t, regexp.MustCompile(`^moved \d+: 0 asked by GOAWAY, \d+ closed once quiet, 0 closed busy at max_wait$`), e.Cause)
		}
	}
	must.Eq(t, 4, joined)
	must.Positive(t, plans)
	must.Positive(t, done)
	for _, col := range cols {
		must.Eq(t, 0, col.Stats().Cut.Load(), must.Sprintf("%s saw a message cut mid-way", col.Name))
		must.Eq(t, 0, col.Stats().Corrupt.Load())
	}

	// The moved clients go on sending, to all four collectors.
	before := make([]int64, len(cols))
	for i, col := range cols {
		before[i] = col.Stats().Messages.Load()
	}
	testsupport.WaitUpTo(t, 10*time.Second, "messages at every collector", func() bool {
		for i, col := range cols {
			if col.Stats().Messages.Load() <= before[i] {
				return false
			}
		}
		return true
	})
	t.Logf("balanced %v after the scale-out: %v connections per collector, %d moves (%d put off while busy), 0 cut, 0 failed",
		took.Round(time.Millisecond), active(), moved, ag.Stats()["grpc"].RebalanceBusy)
}
