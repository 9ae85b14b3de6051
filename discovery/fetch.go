package discovery

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"
)

// fetcher is one blocking query: the seam between the watch loop's rules
// (index resets, backoff, change gating, the resync hold, the ACL checks)
// and Consul, so that those rules are unit-tested without a Consul, in
// milliseconds, while the real-Consul tests keep covering the whole.
type fetcher interface {
	fetch(ctx context.Context, index uint64, wait time.Duration) ([]*api.ServiceEntry, *api.QueryMeta, error)
}

// healthQuery asks Consul's health endpoint for every instance of q.
type healthQuery struct {
	client *Client
	q      Query
}

func (h healthQuery) fetch(ctx context.Context, index uint64, wait time.Duration) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	// A deadline a little above the wait and Consul's jitter of wait/16.
	ctx, cancel := context.WithTimeout(ctx, wait+wait/16+5*time.Second)
	defer cancel()
	opts := &api.QueryOptions{
		Datacenter: h.q.Datacenter,
		WaitIndex:  index,
		WaitTime:   wait,
		Filter:     h.q.Filter,
	}
	readMode(opts, h.client.cfg.Consistency)
	// Every instance: health is classified here, so that maintenance can
	// be told from failure.
	return h.client.api.Health().Service(h.q.Service, "", false, opts.WithContext(ctx))
}

// readMode sets the options of a read mode. Near sorts by distance from the
// local agent, which costs nothing here; the agent then never serves the
// query from its streaming view, which cannot sort.
func readMode(opts *api.QueryOptions, mode Consistency) {
	switch mode {
	case ReadStreaming:
		opts.UseCache = true
	case ReadStale:
		opts.AllowStale, opts.Near = true, "_agent"
	default:
		opts.Near = "_agent"
	}
}
