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
		// Near keeps the query off the streaming backend, whose follower
		// reads add 50-100ms; sorting by distance costs nothing here.
		Near: "_agent",
	}
	// Every instance: health is classified here, so that maintenance can
	// be told from failure.
	return h.client.api.Health().Service(h.q.Service, "", false, opts.WithContext(ctx))
}
