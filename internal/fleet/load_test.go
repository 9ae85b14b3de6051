//go:build linux

package fleet

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/sim"
)

// load is simulated Pinpoint agents on the bed's agent hosts, each with its
// three gRPC streams to pinlb by DNS name.
type load struct {
	bed    *Bed
	agents []*sim.Agent
}

// startLoad starts n agents sending a message every every on each stream,
// redialling a second after a stream ends (gRPC's first backoff), and
// waits until every stream is up. The agents start once every agent host's
// DNS returns every pinlb: the first pinlb to pass its checks would
// otherwise get them all, and the fleet start out of balance.
func startLoad(t *testing.T, b *Bed, n int, every time.Duration) *load {
	t.Helper()
	waitPools(t, b)
	waitUntil(t, time.Minute, "every pinlb in every agent host's DNS", func() bool { return inDNS(b) == len(b.Pinlbs) })
	l := &load{bed: b}
	for i := range n {
		h := b.Agents[i%len(b.Agents)]
		l.agents = append(l.agents, h.StartAgent(fmt.Sprintf("agent%d", i), every, time.Second))
	}
	t.Cleanup(l.stop)
	l.waitConnected(t, time.Minute)
	return l
}

func (l *load) stop() {
	for _, a := range l.agents {
		a.Stop()
	}
}

// sum adds a counter over the agents.
func (l *load) sum(f func(*sim.AgentStats) int64) (n int64) {
	for _, a := range l.agents {
		n += f(a.Stats())
	}
	return n
}

func (l *load) connected() int64 {
	return l.sum(func(s *sim.AgentStats) int64 { return s.Connected.Load() })
}
func (l *load) sent() int64 { return l.sum(func(s *sim.AgentStats) int64 { return s.Messages.Load() }) }
func (l *load) reconnects() int64 {
	return l.sum(func(s *sim.AgentStats) int64 { return s.Reconnects.Load() })
}

// waitConnected waits until every stream of every agent is up, and
// returns how long that took.
func (l *load) waitConnected(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	want := int64(3 * len(l.agents))
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	err := Until(ctx, 10*time.Millisecond, func() error {
		if got := l.connected(); got != want {
			return fmt.Errorf("%d of %d streams up", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// received is what the collectors counted: intact messages, and messages
// cut mid-way.
func (l *load) received() (intact, cut int64) {
	for _, c := range l.bed.Collectors {
		s := c.Collector.Stats()
		intact, cut = intact+s.Messages.Load(), cut+s.Cut.Load()+s.Corrupt.Load()
	}
	return intact, cut
}

// finish stops the agents and reports the messages they sent that no
// collector received, once what is in flight has arrived (or 5 s), and
// those cut.
func (l *load) finish(t *testing.T) (lost, cut int64) {
	t.Helper()
	l.stop()
	sent := l.sent()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	Until(ctx, 10*time.Millisecond, func() error {
		if got, _ := l.received(); got < sent {
			return fmt.Errorf("%d of %d", got, sent)
		}
		return nil
	})
	got, cut := l.received()
	figure(t, "messages sent / received", "%d / %d", sent, got)
	return sent - got, cut
}

// resolve is what Consul DNS answers for pinlb on the first agent host.
func resolve(b *Bed) []string { return resolveOn(b.Agents[0]) }

func resolveOn(a *AgentHost) []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ips, _ := a.Resolve(ctx, ServiceName)
	slices.Sort(ips)
	return ips
}

// inDNS is the fewest pinlb hosts an agent host's DNS answers with.
func inDNS(b *Bed) int {
	fewest := len(b.Pinlbs)
	for _, a := range b.Agents {
		fewest = min(fewest, len(resolveOn(a)))
	}
	return fewest
}

// active is how many connections pinlb p holds on listener name, by
// endpoint address.
func active(t *testing.T, p *Pinlb, name string) map[string]int64 {
	t.Helper()
	l, err := p.Listener(name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, e := range l.Endpoints {
		out[e.Address] = e.Active
	}
	return out
}

// waitPools waits until every pinlb has every collector active in its gRPC
// pools.
func waitPools(t *testing.T, b *Bed) {
	t.Helper()
	waitUntil(t, time.Minute, "every collector in every pinlb's pools", func() bool {
		for _, p := range b.Pinlbs {
			for _, name := range pinpointgrpc.Ports {
				l, err := p.Pinlb.Listener(name)
				if err != nil || countState(l, "active") != len(b.Collectors) {
					return false
				}
			}
		}
		return true
	})
}

func countState(l Listener, state string) (n int) {
	for _, e := range l.Endpoints {
		if e.State == state {
			n++
		}
	}
	return n
}
