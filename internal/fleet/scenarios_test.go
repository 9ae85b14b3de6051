//go:build linux

package fleet

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/pinpointgrpc"
)

// fleetSize is the bed of the scenarios: a Raft cluster of 3, two pinlb
// hosts, two collectors and a host of agents.
var fleetSize = Options{Servers: 3, Pinlbs: 2, Collectors: 2, AgentHosts: 1}

// A pinlb host dies (kill -9): its agents' streams end, they dial the name
// again and reach the other; its TTL checks go critical and Consul DNS
// stops returning it.
func TestFleet_PinlbKilled(t *testing.T) {
	b := startBed(t, fleetSize)
	l := startLoad(t, b, 20, 50*time.Millisecond)
	victim := b.Pinlbs[0]
	waitUntil(t, time.Minute, "the victim serving agents", func() bool {
		return total(active(t, victim.Pinlb, "grpc-agent")) > 0
	})
	start := time.Now()
	victim.Pinlb.Kill()
	served := l.waitConnected(t, time.Minute)
	waitUntil(t, time.Minute, "DNS to drop the dead pinlb", func() bool {
		return !slices.Contains(resolve(b), victim.Host.IP.String())
	})
	figure(t, "agents served again after", "%s", secs(served))
	figure(t, "DNS stops returning it after", "%s", secs(time.Since(start)))
	lost, cut := l.finish(t)
	figure(t, "messages lost / cut", "%d / %d", lost, cut)
	if served > 10*time.Second {
		t.Errorf("agents were served again after %v; the target is 10s", served)
	}
}

// waitUntil waits for cond, failing t after limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := Until(ctx, 20*time.Millisecond, func() error {
		if cond() {
			return nil
		}
		return context.DeadlineExceeded
	}); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func total(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// The Consul leader dies, then a second server (quorum lost) for
// quorumLoss, then both come back: pinlb keeps every connection and its
// pools, says stale, and applies the first change a new leader commits.
// The agents are shaped like Pinpoint's, on real gRPC.
func TestFleet_ConsulQuorumLost(t *testing.T) {
	b := startBed(t, realFleetSize())
	l := startRealLoad(t, b, 10)
	reconnects := l.accepted()
	first := b.leader(t)
	first.Kill()
	start := time.Now()
	var second *Consul
	waitUntil(t, time.Minute, "a new leader", func() bool { second = b.leaderOrNil(); return second != nil })
	figure(t, "new leader elected after", "%s", secs(time.Since(start)))
	figure(t, "stale cleared, after the new leader", "%s", secs(b.waitFresh(t)))
	second.Kill()
	lost := time.Now()
	var staleAfter time.Duration
	for time.Since(lost) < quorumLoss {
		for _, p := range b.Pinlbs {
			st := pinlbStatus(t, p.Pinlb)
			if st.Consul.Stale && staleAfter == 0 {
				staleAfter = time.Since(lost)
			}
			for _, name := range pinpointgrpc.Ports {
				if l, err := p.Pinlb.Listener(name); err != nil || countState(l, "active") != len(b.Collectors) {
					t.Fatalf("%s %s lost endpoints without a leader: %+v %v", p.Host.Name, name, l, err)
				}
			}
		}
		time.Sleep(200 * time.Millisecond) // sampling the API, not waiting for a condition
	}
	figure(t, "stale in the API after", "%s", secs(staleAfter))
	if staleAfter == 0 {
		t.Error("the API never said stale")
	}
	first.Start()
	second.Start()
	waitUntil(t, time.Minute, "a leader again", func() bool { return b.leaderOrNil() != nil })
	elected := time.Now()
	written, applied := b.changeReachesPools(t)
	figure(t, "quorum lost for", "%s", secs(elected.Sub(lost)))
	figure(t, "first write taken, after the new leader", "%s", secs(written.Sub(elected)))
	figure(t, "that change in both pools, after the write", "%s", secs(applied.Sub(written)))
	figure(t, "stale cleared, after the change", "%s", secs(b.waitFresh(t)))
	if d := applied.Sub(written); d > time.Second {
		t.Errorf("a change took %v from its write to the pools; the target is 1s", d)
	}
	b.noneCut(t, l, reconnects)
}

// quorumLoss is how long the cluster stays without a leader.
const quorumLoss = 60 * time.Second

// A pinlb host loses the Consul servers (its agent with it): it keeps
// serving, says it cannot reach Consul, and applies what changed once the
// partition heals. The agents are shaped like Pinpoint's, on real gRPC.
func TestFleet_PinlbPartitioned(t *testing.T) {
	b := startBed(t, realFleetSize())
	l := startRealLoad(t, b, 10)
	reconnects := l.accepted()
	victim := b.Pinlbs[0]
	if err := victim.Host.Cut(b.ServerHosts()...); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitUntil(t, 2*time.Minute, "the partitioned pinlb to say consul is unreachable", func() bool {
		return !pinlbStatus(t, victim.Pinlb).Consul.Reachable
	})
	figure(t, "says consul unreachable after", "%s", secs(time.Since(start)))
	before := l.received()
	waitUntil(t, time.Minute, "spans to keep flowing", func() bool { return l.received() > before+100 })
	b.registerExtra(t)
	waitUntil(t, time.Minute, "the other pinlb to apply the change", func() bool { return hasExtra(t, b.Pinlbs[1].Pinlb) })
	if hasExtra(t, victim.Pinlb) {
		t.Fatal("the partitioned pinlb saw the change")
	}
	if err := victim.Host.Heal(b.ServerHosts()...); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	waitUntil(t, 2*time.Minute, "the healed pinlb to apply the change", func() bool { return hasExtra(t, victim.Pinlb) })
	figure(t, "partitioned for", "%s", secs(healed.Sub(start)))
	figure(t, "converged after the heal", "%s", secs(time.Since(healed)))
	b.noneCut(t, l, reconnects)
}

// Collectors scale 2 → 4 → 2 under load, and both pinlb hosts rebalance
// on their own: the stat and span streams spread evenly, no message is
// cut, and close to the fewest streams are moved.
func TestFleet_ScaleOutAndIn(t *testing.T) {
	b := startBed(t, fleetSize)
	// Stat and span streams paced at 2 s go quiet between messages, so the
	// rebalancer (min_idle 1s) moves them without cutting one.
	l := startLoad(t, b, 120, 2*time.Second)
	before := b.spread(t)
	reconnects := l.reconnects()
	for range 2 {
		if _, err := b.AddCollector(); err != nil {
			t.Fatal(err)
		}
	}
	waitPools(t, b)
	waitUntil(t, 2*time.Minute, "the streams to spread over 4 collectors", func() bool { return b.spread(t).ratio() <= 1.25 })
	after := b.spread(t)
	moved := l.reconnects() - reconnects
	need := before.movesTo(4)
	figure(t, "scale-out: streams per collector", "%v → %v (max/min %.2f)", before.perCollector(), after.perCollector(), after.ratio())
	figure(t, "scale-out: streams moved / fewest possible", "%d / %d", moved, need)
	if float64(moved) > 1.1*float64(need) {
		t.Errorf("%d streams moved for %d needed", moved, need)
	}

	// Counted with every stream up: one the rebalancer moved after the
	// spread above may have landed on a collector that is leaving.
	l.waitConnected(t, time.Minute)
	gone, now := b.Collectors[2:], b.spread(t)
	on := int64(0)
	reconnects = l.reconnects()
	for _, c := range gone {
		c.Register.Stop() // deregisters: pinlb drains it and moves its quiet streams
		on += now.of(c.Host.IP.String())
	}
	waitUntil(t, 2*time.Minute, "the streams to leave the scaled-in collectors", func() bool {
		s := b.spread(t)
		return s.of(gone[0].Host.IP.String())+s.of(gone[1].Host.IP.String()) == 0
	})
	moved = l.reconnects() - reconnects // before the kill, whose cut streams are no moves
	for _, c := range gone {
		c.Collector.Kill()
	}
	final := b.spread(t)
	figure(t, "scale-in: streams per collector", "%v (max/min %.2f)", final.perCollector(), final.ratio())
	figure(t, "scale-in: streams moved / on the leaving ones", "%d / %d", moved, on)
	lost, cut := l.finish(t)
	figure(t, "messages lost / cut", "%d / %d", lost, cut)
	if cut != 0 || lost != 0 {
		t.Errorf("%d messages cut, %d lost", cut, lost)
	}
	if float64(moved) > 1.1*float64(on) {
		t.Errorf("%d streams moved for %d on the leaving collectors", moved, on)
	}
}
