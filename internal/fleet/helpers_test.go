//go:build linux

package fleet

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/internal/pinpoint"
)

// leaderOrNil is the server that leads, as a running server sees it.
func (b *Bed) leaderOrNil() *Consul {
	for _, s := range b.Servers {
		if !s.Running() {
			continue
		}
		name, err := s.Leader()
		if err != nil {
			continue
		}
		for _, l := range b.Servers {
			if l.Host.Name == name && l.Running() {
				return l
			}
		}
	}
	return nil
}

func (b *Bed) leader(t *testing.T) *Consul {
	t.Helper()
	var l *Consul
	waitUntil(t, time.Minute, "a leader", func() bool { l = b.leaderOrNil(); return l != nil })
	return l
}

// status is the part of pinlb's /v1/status the scenarios read.
type status struct {
	Consul struct {
		Reachable bool `json:"reachable"`
		Stale     bool `json:"stale"`
	} `json:"consul"`
}

func pinlbStatus(t *testing.T, p *Pinlb) status {
	t.Helper()
	var st status
	if err := p.API("/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitFresh waits until no pinlb says its endpoints are stale, and returns
// how long that took.
func (b *Bed) waitFresh(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	waitUntil(t, time.Minute, "every pinlb to say its endpoints are fresh", func() bool {
		for _, p := range b.Pinlbs {
			if pinlbStatus(t, p.Pinlb).Consul.Stale {
				return false
			}
		}
		return true
	})
	return time.Since(start)
}

// extraID is the instance the scenarios add as their change: a second
// registration of the first collector, on a node of its own.
const extraID = "extra"

// registerExtra writes the change, through the first collector's agent,
// retrying while Consul cannot take it.
func (b *Bed) registerExtra(t *testing.T) {
	t.Helper()
	c := b.Collectors[0]
	meta := map[string]string{}
	for _, p := range pinpoint.Ports {
		meta[p.MetaKey] = fmt.Sprint(c.Port(p.Name))
	}
	reg := &api.CatalogRegistration{
		Node: "extra-node", Address: c.Host.IP.String(),
		Service: &api.AgentService{ID: extraID, Service: "pinpoint-collector", Port: c.Port("grpc-agent"), Meta: meta},
	}
	waitUntil(t, time.Minute, "Consul to take a write", func() bool {
		_, err := c.Consul.Client().Catalog().Register(reg, nil)
		return err == nil
	})
}

// hasExtra reports whether p's grpc-agent pool holds the extra instance.
func hasExtra(t *testing.T, p *Pinlb) bool {
	t.Helper()
	l, err := p.Listener("grpc-agent")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range l.Endpoints {
		if e.ServiceID == extraID && e.State == "active" {
			return true
		}
	}
	return false
}

// changeReachesPools writes the change and returns when Consul took it and
// when every pinlb has applied it.
func (b *Bed) changeReachesPools(t *testing.T) (written, applied time.Time) {
	t.Helper()
	b.registerExtra(t)
	written = time.Now()
	waitUntil(t, time.Minute, "every pinlb to apply the change", func() bool {
		for _, p := range b.Pinlbs {
			if !hasExtra(t, p.Pinlb) {
				return false
			}
		}
		return true
	})
	return written, time.Now()
}

// streams counts the rebalanced (stat and span) streams of every pinlb,
// by pinlb, listener and collector address (host part).
type streams map[[2]string]map[string]int64

func (b *Bed) spread(t *testing.T) streams {
	t.Helper()
	s := streams{}
	for _, p := range b.Pinlbs {
		for _, name := range []string{"grpc-stat", "grpc-span"} {
			l, err := p.Pinlb.Listener(name)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]int64{}
			for _, e := range l.Endpoints {
				host, _, _ := strings.Cut(e.Address, ":")
				// Draining ones count while they hold streams.
				if e.ServiceID != extraID && (e.State == "active" || e.Active > 0) {
					m[host] += e.Active
				}
			}
			s[[2]string{p.Host.Name, name}] = m
		}
	}
	return s
}

// perCollector sums over pinlbs and listeners, sorted by address.
func (s streams) perCollector() []int64 {
	sum := map[string]int64{}
	for _, m := range s {
		for host, n := range m {
			sum[host] += n
		}
	}
	var out []int64
	for _, host := range slices.Sorted(maps.Keys(sum)) {
		out = append(out, sum[host])
	}
	return out
}

// ratio is the busiest collector's streams over the idlest's.
func (s streams) ratio() float64 {
	pc := s.perCollector()
	if len(pc) == 0 {
		return 0
	}
	return float64(slices.Max(pc)) / float64(max(1, slices.Min(pc)))
}

// of is how many streams the collector at host holds.
func (s streams) of(host string) (n int64) {
	for _, m := range s {
		n += m[host]
	}
	return n
}

// movesTo is the fewest moves that spread each pinlb's listener evenly
// over k collectors: what each holds above its ceiling share.
func (s streams) movesTo(k int) (n int64) {
	for _, m := range s {
		share := (total(m) + int64(k) - 1) / int64(k)
		for _, c := range m {
			n += max(0, c-share)
		}
	}
	return n
}
