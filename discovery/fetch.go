package discovery

import (
	"context"
	"sync/atomic"
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
	// stale is set by the watcher while Consul fails or has no leader.
	// Reads through the leader then wait in the agent and in the server for
	// one (up to rpc_hold_timeout each), and once it is elected, until it
	// is ready for reads, seconds after the first write it takes. A stale
	// read is answered at once from the server's state, which is all there
	// is, says whether the server knows a leader, and its blocking query
	// wakes on the first write a new leader commits.
	stale *atomic.Bool
}

func (h healthQuery) fetch(ctx context.Context, index uint64, wait time.Duration) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	// A deadline a little above the wait and Consul's jitter of wait/16.
	ctx, cancel := context.WithTimeout(ctx, wait+wait/16+5*time.Second)
	defer cancel()
	// Every instance: health is classified here, so that maintenance can
	// be told from failure. See healthAnswer and answerEntry for why not
	// through consul/api.
	return h.client.healthAnswer(ctx, h.q.Service, h.options(index, wait))
}

// options are one query's, in the client's read mode; stale while Consul
// fails or has no leader (see stale). Near sorts by distance from the local
// agent, which costs nothing here; the agent then never serves the query
// from its streaming view, which cannot sort.
func (h healthQuery) options(index uint64, wait time.Duration) *api.QueryOptions {
	opts := &api.QueryOptions{Datacenter: h.q.Datacenter, WaitIndex: index, WaitTime: wait, Filter: h.q.Filter}
	mode := h.client.cfg.Consistency
	if mode != ReadStreaming && h.stale.Load() {
		mode = ReadStale
	}
	switch mode {
	case ReadStreaming:
		opts.UseCache = true
	case ReadStale:
		opts.AllowStale, opts.Near = true, "_agent"
	default:
		opts.Near = "_agent"
	}
	return opts
}
