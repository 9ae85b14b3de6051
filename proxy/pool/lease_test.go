package pool

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/shoenig/test/must"
)

var errRefused = errors.New("connection refused")

// leasedPool is a pool of addrs under rules, with its events collected.
func leasedPool(rules Rules, addrs ...string) (*Pool, *[]Event) {
	events := &[]Event{}
	rules.Events = func(e Event) { *events = append(*events, e) }
	p := New()
	p.Configure(rules)
	eps := make([]Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = Endpoint{Addr: netip.MustParseAddrPort(a)}
	}
	p.Update(eps)
	return p, events
}

func kinds(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Kind + " " + e.Endpoint.String()
	}
	return out
}

// A lease walks the endpoints, each once, counting each try on its
// backend while it runs; the connected one is held until Release, which
// drains an endpoint that left with it.
func TestLease_TriesThenHoldsThenReleases(t *testing.T) {
	p, events := leasedPool(Rules{Balance: RoundRobin, MaxFails: 1, FailTimeout: time.Minute, ConnectTimeout: time.Second},
		"10.0.0.1:9991", "10.0.0.2:9991")
	var l Lease
	p.Lease(&l, netip.MustParseAddrPort("192.0.2.1:5000"))
	first, timeout, ok := l.Next()
	must.True(t, ok)
	must.Eq(t, time.Second, timeout)
	b := p.Set().Lookup(first)
	must.Eq(t, 1, b.active.Load(), must.Sprint("a try counts while it runs"))
	must.True(t, l.Failed(errRefused, true), must.Sprint("max_fails 1: the first failure ejects"))
	must.Eq(t, 0, b.active.Load())

	second, _, ok := l.Next()
	must.True(t, ok)
	must.NotEq(t, first, second)
	l.Connected()
	must.Eq(t, second, l.Backend().Addr())
	_, _, ok = l.Next()
	must.False(t, ok, must.Sprint("each endpoint once"))

	p.Update(nil) // the held endpoint leaves: it drains with its connection
	must.Eq(t, StateDraining, p.Status(nil)[0].State)
	l.Release(10, 20)
	st := l.Backend()
	must.Eq(t, 10, st.bytesIn.Load())
	must.Eq(t, []string{"ejected " + first.String(), "drained " + second.String()}, kinds(*events))
}

// A failure that is nobody's fault counts against no endpoint.
func TestLease_UnblamedFailureCountsForNothing(t *testing.T) {
	p, events := leasedPool(Rules{Balance: RoundRobin, MaxFails: 1, FailTimeout: time.Minute, ConnectTimeout: time.Second},
		"10.0.0.1:9991", "10.0.0.2:9991")
	var l Lease
	p.Lease(&l, netip.AddrPort{})
	addr, _, _ := l.Next()
	must.False(t, l.Failed(errRefused, false))
	b := p.Set().Lookup(addr)
	must.Eq(t, 0, b.connectFails.Load())
	must.Eq(t, 0, b.downUntil.Load())
	must.SliceEmpty(t, *events)
}

// An endpoint back from passive failure takes one connect at a time: a
// second lease passes it by while the first probes, and the probe's
// success restores it.
func TestLease_OneProbeAtATime(t *testing.T) {
	p, events := leasedPool(Rules{Balance: RoundRobin, MaxFails: 1, FailTimeout: time.Millisecond, ConnectTimeout: time.Second},
		"10.0.0.1:9991", "10.0.0.2:9991")
	flaky := p.Set().backends[0]
	must.True(t, flaky.failed(time.Now().Add(-time.Second).UnixNano(), 1, time.Millisecond)) // out a second ago, for a millisecond
	must.True(t, flaky.onProbation(time.Now().UnixNano()))
	var probe Lease
	for probe.cur != flaky { // round robin comes to it
		p.Lease(&probe, netip.AddrPort{})
		probe.Next()
		if probe.cur != flaky {
			probe.Connected()
		}
	}
	for range 10 {
		var other Lease
		p.Lease(&other, netip.AddrPort{})
		addr, _, _ := other.Next()
		must.NotEq(t, flaky.addr, addr, must.Sprint("a second connect while the probe is in flight"))
	}
	probe.Connected()
	must.Eq(t, []string{"restored " + flaky.addr.String()}, kinds(*events))
}

// next_timeout bounds the tries together.
func TestLease_NextTimeout(t *testing.T) {
	p, _ := leasedPool(Rules{Balance: RoundRobin, ConnectTimeout: time.Second, NextTimeout: 10 * time.Millisecond},
		"10.0.0.1:9991", "10.0.0.2:9991")
	var l Lease
	p.Lease(&l, netip.AddrPort{})
	_, timeout, ok := l.Next()
	must.True(t, ok)
	must.LessEq(t, 10*time.Millisecond, timeout)
	l.Failed(errRefused, true)
	l.start = l.start.Add(-10 * time.Millisecond) // as if the first try took its time
	_, _, ok = l.Next()
	must.False(t, ok)
}

// A reload that changes nothing of the pool's leaves its set as it is (a
// new set would restart the rebalancer's plan), yet its new Events hook is
// the one that hears from then on; a rule that changes builds a new set.
func TestConfigure_KeepsTheSetOfTheSameRules(t *testing.T) {
	rules := Rules{Balance: RoundRobin, MaxFails: 1, FailTimeout: time.Minute, ConnectTimeout: time.Second}
	p, _ := leasedPool(rules, "10.0.0.1:9991", "10.0.0.2:9991")
	before := p.Set()
	var heard []Event
	rules.Events = func(e Event) { heard = append(heard, e) }
	p.Configure(rules)
	must.True(t, before == p.Set(), must.Sprint("the same rules built a new set"))
	var l Lease
	p.Lease(&l, netip.AddrPort{})
	l.Next()
	l.Failed(errRefused, true)
	must.SliceLen(t, 1, heard, must.Sprint("the new hook did not hear the ejection"))

	rules.MaxConns = 10
	p.Configure(rules)
	must.True(t, before != p.Set())
}
