//go:build linux

package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/internal/fleet"
	"github.com/pinlb/pinlb/internal/pinpoint"
)

// writer makes the changes, through the agent host's Consul agent, and
// reads when each pinlb applied them.
type writer struct {
	bed     *fleet.Bed
	catalog *api.Catalog
	n       int
}

func newWriter(b *fleet.Bed) *writer {
	return &writer{bed: b, catalog: b.Agents[0].Consul.Client().Catalog()}
}

// add registers a new instance of the collector service on a node of its
// own, and returns its ID and when the write returned.
func (w *writer) add() (string, time.Time, error) {
	w.n++
	id := fmt.Sprintf("c%d", w.n)
	meta := map[string]string{}
	for _, p := range pinpoint.Ports {
		meta[p.MetaKey] = fmt.Sprint(20000 + w.n)
	}
	_, err := w.catalog.Register(&api.CatalogRegistration{
		Node: "ext", Address: "10.213.0.250",
		Service: &api.AgentService{ID: id, Service: "pinpoint-collector", Port: 20000 + w.n, Meta: meta},
	}, nil)
	return id, time.Now(), err
}

// isolated makes n changes 300 ms apart, each reaching the pools alone.
func (w *writer) isolated(ctx context.Context, n int) (latencies, error) {
	written := map[string]time.Time{}
	for range n {
		id, at, err := w.add()
		if err != nil {
			return nil, err
		}
		written[id] = at
		time.Sleep(300 * time.Millisecond) // pacing: the next change comes once this one is applied
	}
	return w.applied(ctx, written)
}

// bursts makes rounds of burstSize changes back to back, 2 s apart.
func (w *writer) bursts(ctx context.Context, rounds int) (latencies, error) {
	written := map[string]time.Time{}
	for range rounds {
		for range burstSize {
			id, at, err := w.add()
			if err != nil {
				return nil, err
			}
			written[id] = at
		}
		time.Sleep(2 * time.Second) // pacing: each burst finds the watchers at rest
	}
	return w.applied(ctx, written)
}

// churn adds and removes an instance, 10 changes a second, for d.
func (w *writer) churn(d time.Duration) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-t.C {
		id, _, err := w.add()
		if err != nil {
			return err
		}
		<-t.C
		if _, err := w.catalog.Deregister(&api.CatalogDeregistration{Node: "ext", ServiceID: id}, nil); err != nil {
			return err
		}
	}
	return nil
}

// applied waits until every pinlb has every written instance in its
// grpc-agent pool, and returns, per pinlb and instance, the time from the
// write to the endpoint joining the pool (the API's since).
func (w *writer) applied(ctx context.Context, written map[string]time.Time) (latencies, error) {
	var out latencies
	for _, p := range w.bed.Pinlbs {
		err := fleet.Until(ctx, 200*time.Millisecond, func() error {
			l, err := p.Pinlb.Listener("grpc-agent")
			if err != nil {
				return err
			}
			var got latencies
			for _, e := range l.Endpoints {
				if at, ok := written[e.ServiceID]; ok {
					got = append(got, e.Since.Sub(at))
				}
			}
			if len(got) < len(written) {
				return fmt.Errorf("%s: %d of %d changes applied", p.Host.Name, len(got), len(written))
			}
			out = append(out, got...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

type latencies []time.Duration

// p is the q-th percentile.
func (l latencies) p(q int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*q/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
