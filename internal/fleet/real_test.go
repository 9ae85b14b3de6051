//go:build linux

package fleet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// realRate is each agent's spans a second: busy, as a real agent's span
// stream is (never quiet for the rebalancer's min_idle of a second).
const realRate = 10

// realLoad is agents shaped like Pinpoint's Java agent on the bed's agent
// hosts, a third of them sending spans as 3.1 does (in batches), all
// finding pinlb by Consul DNS.
type realLoad struct {
	bed    *Bed
	agents []*pinpointgrpc.Agent
}

func startRealLoad(t *testing.T, b *Bed, n int) *realLoad {
	t.Helper()
	waitPools(t, b)
	waitUntil(t, time.Minute, "every pinlb in every agent host's DNS", func() bool { return inDNS(b) == len(b.Pinlbs) })
	l := &realLoad{bed: b}
	t.Cleanup(l.close)
	for i := range n {
		a, err := b.Agents[i%len(b.Agents)].StartGRPCAgent(fmt.Sprintf("agent%d", i), realRate, i%3 == 0)
		if err != nil {
			t.Fatal(err)
		}
		l.agents = append(l.agents, a)
	}
	waitUntil(t, time.Minute, "every agent's span and stat connections", func() bool {
		return l.conns("grpc-span") == int64(n) && l.conns("grpc-stat") == int64(n)
	})
	return l
}

func (l *realLoad) close() {
	for _, a := range l.agents {
		a.Close()
	}
}

// perCollector is port's connections at each collector.
func (l *realLoad) perCollector(port string) []int64 {
	var out []int64
	for _, c := range l.bed.Collectors {
		out = append(out, c.GRPC.Counts().Conns[port])
	}
	return out
}

func (l *realLoad) conns(port string) int64 { return sum(l.perCollector(port)) }

// accepted is every gRPC connection the collectors accepted: one more for
// each that an agent opened again or pinlb moved.
func (l *realLoad) accepted() (n int64) {
	for _, c := range l.bed.Collectors {
		for _, port := range pinpointgrpc.Ports {
			n += c.GRPC.Counts().Accepted[port]
		}
	}
	return n
}

// realFleetSize is fleetSize with collectors that speak Pinpoint's gRPC.
func realFleetSize() Options {
	o := fleetSize
	o.GRPC = true
	return o
}

func (l *realLoad) received() (n int64) {
	for _, c := range l.bed.Collectors {
		n += c.GRPC.Counts().Spans
	}
	return n
}

// finish stops the agents' traffic and returns the spans they served and
// those no collector received, once every one arrived or none has for 3 s.
func (l *realLoad) finish(t *testing.T) (served, lost int64) {
	t.Helper()
	for _, a := range l.agents {
		n, _ := a.StopTraffic()
		served += n
	}
	return served, pinpointgrpc.AwaitSpans(served, l.received)
}

// channels records each gRPC channel's connections per collector.
func (l *realLoad) channels(t *testing.T, when string) {
	t.Helper()
	for _, port := range pinpointgrpc.Ports {
		figure(t, fmt.Sprintf("%s per collector, %s", port, when), "%v", l.perCollector(port))
	}
}

// Pinpoint-shaped traffic across the fleet, 120 agents through two pinlb
// hosts: a scale-out 2 → 4 (the stat and span channels spread within 30 s:
// each pinlb asks its agents to move, and ends their streams once quiet),
// then a pinlb host killed (its agents are back on the other within
// seconds; at most what was in flight is lost).
func TestFleet_RealAgents(t *testing.T) {
	b := startBed(t, realFleetSize())
	l := startRealLoad(t, b, 120)
	l.channels(t, "2 collectors")
	for range 2 {
		if _, err := b.AddCollector(); err != nil {
			t.Fatal(err)
		}
	}
	waitPools(t, b)
	rebalanced := []string{"grpc-stat", "grpc-span"}
	took := testsupport.TimeEach(rebalanced, 30*time.Second, func(port string) bool {
		return pinpointgrpc.Even(l.perCollector(port))
	})
	for _, port := range rebalanced {
		figure(t, port+" even (1.25x) over 4 after", "%s", took[port])
		if strings.HasPrefix(took[port], "not within") {
			t.Errorf("%s: not even over 4 collectors within 30 s", port)
		}
	}
	l.channels(t, "4 collectors")

	victim := b.Pinlbs[0]
	onVictim := total(active(t, victim.Pinlb, "grpc-span"))
	killed := time.Now()
	victim.Pinlb.Kill()
	waitUntil(t, time.Minute, "every span connection back", func() bool {
		return l.conns("grpc-span") == int64(len(l.agents))
	})
	figure(t, fmt.Sprintf("pinlb killed: %d span streams back after", onVictim), "%s", secs(time.Since(killed)))
	l.channels(t, "after the kill")
	served, lost := l.finish(t)
	bound := onVictim * realRate
	figure(t, "spans served / lost", "%d / %d (at most %d in flight)", served, lost, bound)
	if lost > bound {
		t.Errorf("%d spans lost; in flight were at most %d", lost, bound)
	}
}

func sum(ns []int64) (n int64) {
	for _, v := range ns {
		n += v
	}
	return n
}

// noneCut checks that Consul's outage cut nothing: every connection
// opened since reconnects replaced one a pinlb moved gracefully, by
// GOAWAY or closed once quiet (the change that ends the scenario adds an
// endpoint, which rebalancing may fill; a connection whose HTTP/2 pinlb
// stopped following is moved quietly), none was forced, and no span was
// lost beyond the one message a grpc-go client may refuse per call pinlb
// ended (see the fault suite's endedRaceBound).
func (b *Bed) noneCut(t *testing.T, l *realLoad, reconnects int64) {
	t.Helper()
	n := l.accepted() - reconnects // before the counters: a move counts before its new connection
	asked, forced, ended := b.moved(t)
	figure(t, "connections that reconnected / moved gracefully", "%d / %d", n, asked)
	served, lost := l.finish(t)
	figure(t, "spans served / lost", "%d / %d", served, lost)
	if n > asked || forced != 0 || lost > ended {
		t.Errorf("%d connections reconnected (%d moved gracefully, %d forced) and %d spans were lost (%d calls ended)",
			n, asked, forced, lost, ended)
	}
}

// moved sums every pinlb's gRPC listeners' graceful moves (GOAWAYs and
// quiet closes), forced closes and ended calls.
func (b *Bed) moved(t *testing.T) (asked, forced, ended int64) {
	t.Helper()
	for _, p := range b.Pinlbs {
		for _, port := range pinpointgrpc.Ports {
			l, err := p.Pinlb.Listener(port)
			if err != nil {
				t.Fatal(err)
			}
			asked += int64(l.Counters["goaway_sent"] + l.Counters["quiet_closes"])
			forced += int64(l.Counters["rebalance_forced"])
			ended += int64(l.Counters["calls_ended"])
		}
	}
	return asked, forced, ended
}
