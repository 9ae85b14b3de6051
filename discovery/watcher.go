package discovery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"
)

// Tuning of the watch loop, from measurements on Consul 1.22 (DESIGN.md).
const (
	// DefaultWait is the blocking query's wait. Consul adds up to 1/16 of
	// jitter; the request deadline leaves room for it.
	DefaultWait = 55 * time.Second

	backoffMin = 100 * time.Millisecond
	// backoffMax keeps recovery within a second of Consul coming back.
	backoffMax = time.Second

	// A token bucket in front of every call: 10 a second, bursts of 2.
	callInterval = 100 * time.Millisecond
	callBurst    = 2
)

// Health of an instance in a snapshot.
const (
	Passing = "passing"
	Warning = "warning"
	// Critical: a failed check or node.
	Critical = "critical"
	// Maintenance instances (service or node maintenance) take no new
	// traffic; their connections drain.
	Maintenance = "maintenance"
)

// Query is what one watcher asks Consul: the usable instances of a service.
type Query struct {
	Service    string
	Datacenter string // empty: the agent's
	Filter     string // a Consul filter expression over service entries
	// IncludeWarning lets instances with warning checks through, at their
	// Weights.Warning weight. Otherwise only passing instances are usable.
	IncludeWarning bool
}

func (q Query) String() string {
	s := q.Service
	if q.Datacenter != "" {
		s += "@" + q.Datacenter
	}
	if q.IncludeWarning {
		s += " (include_warning)"
	}
	if q.Filter != "" {
		s += fmt.Sprintf(" filter %q", q.Filter)
	}
	return s
}

// Instance is one usable service instance.
type Instance struct {
	ID        string // node/serviceID: unique within a datacenter
	Node      string
	ServiceID string
	Address   string // the service address, else the node's
	Port      int
	// Weight is Weights.Passing, or Weights.Warning for a warning
	// instance; 0 for one that must get no traffic: critical, or warning
	// without IncludeWarning.
	Weight int
	Health string // Passing, Warning, Critical or Maintenance
	Tags   []string
	Meta   map[string]string
}

// Usable reports whether the instance takes new traffic.
func (a Instance) Usable() bool {
	return a.Weight > 0 && (a.Health == Passing || a.Health == Warning)
}

func (a Instance) equal(b Instance) bool {
	return a.ID == b.ID && a.Address == b.Address && a.Port == b.Port &&
		a.Weight == b.Weight && a.Health == b.Health &&
		slices.Equal(a.Tags, b.Tags) && maps.Equal(a.Meta, b.Meta)
}

// Snapshot is every instance of a query, usable or not, sorted by ID.
type Snapshot struct {
	Instances []Instance
	Index     uint64 // the Consul index it was read at
}

// Status says how a watcher's conversation with Consul goes.
type Status struct {
	Reachable   bool      // the last call succeeded
	LastContact time.Time // of the last successful call
	// Since is when the current state (reachable or not) began.
	Since time.Time
	// LastError is the last failure's message, while unreachable.
	LastError string
	// Stale is set when Consul has been unreachable for longer than the
	// stale TTL: the endpoints served may be out of date.
	Stale bool
	// ACLFiltered is set while Consul hides instances from the token: the
	// watcher keeps the last set it could see instead.
	ACLFiltered bool
}

// WatcherInput configures a Watcher.
type WatcherInput struct {
	Client *api.Client
	Query  Query
	// StaleTTL is how long Consul may be unreachable before the watcher
	// reports its endpoints as stale. 0 never does.
	StaleTTL time.Duration
	Logger   hclog.Logger
	// OnChange receives every new effective set, on the watcher's
	// goroutine, starting with the first answer.
	OnChange func(Snapshot)
	// OnCall, if set, hears of every Consul call: how long it took
	// (a blocking query waits until a change or the wait ends) and its
	// error.
	OnCall func(time.Duration, error)
	// Wait is the blocking query's wait; 0 means DefaultWait.
	Wait time.Duration
}

// Watcher follows one Query with blocking queries and reports the usable
// instances whenever the effective set changes: not when only check output
// or an unusable instance changed.
type Watcher struct {
	in      WatcherInput
	limiter *rate.Limiter

	mu     sync.Mutex
	status Status
	down   bool // in an outage: the last call failed
}

// NewWatcher returns a watcher; Run starts it.
func NewWatcher(in WatcherInput) *Watcher {
	if in.Wait == 0 {
		in.Wait = DefaultWait
	}
	in.Logger = in.Logger.With("service", in.Query.Service)
	return &Watcher{
		in:      in,
		limiter: rate.NewLimiter(rate.Every(callInterval), callBurst),
		status:  Status{Since: time.Now()},
	}
}

// Status returns the watcher's current status.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// Run watches until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	var (
		index   uint64
		last    []Instance
		applied bool
		backoff time.Duration
	)
	for {
		if err := w.limiter.Wait(ctx); err != nil {
			return
		}
		start := time.Now()
		entries, meta, err := w.fetch(ctx, index)
		if ctx.Err() != nil {
			return
		}
		if w.in.OnCall != nil {
			w.in.OnCall(time.Since(start), err)
		}
		if err != nil {
			w.failed(err, applied)
			backoff = min(max(2*backoff, backoffMin), backoffMax)
			// Full jitter in the upper half, so many watchers don't retry
			// in step.
			d := backoff/2 + rand.N(backoff/2+1)
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			continue
		}
		backoff = 0
		w.reached()

		switch {
		case meta.LastIndex < index:
			// The index went backwards (a snapshot restore, a new
			// cluster): this answer is current, but blocking on the old
			// index would wait for changes already missed. Start over.
			w.in.Logger.Debug("consul index went backwards; resetting", "from", index, "to", meta.LastIndex)
			index = 0
		case meta.LastIndex == 0:
			index = 1 // never block on 0: it returns at once, for ever
		default:
			index = meta.LastIndex
		}

		if meta.ResultsFilteredByACLs {
			// A token without read rights gets a filtered (often empty)
			// answer, not an error. Never apply it: it would empty the
			// pool on a permission problem.
			w.aclFiltered(true, applied)
			continue
		}
		w.aclFiltered(false, applied)

		insts := instances(entries, w.in.Query.IncludeWarning)
		if applied && slices.EqualFunc(last, insts, Instance.equal) {
			continue
		}
		last, applied = insts, true
		w.in.OnChange(Snapshot{Instances: insts, Index: meta.LastIndex})
	}
}

func (w *Watcher) fetch(ctx context.Context, index uint64) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	// A deadline a little above the wait and Consul's jitter of wait/16.
	ctx, cancel := context.WithTimeout(ctx, w.in.Wait+w.in.Wait/16+5*time.Second)
	defer cancel()
	q := w.in.Query
	opts := &api.QueryOptions{
		Datacenter: q.Datacenter,
		WaitIndex:  index,
		WaitTime:   w.in.Wait,
		Filter:     q.Filter,
		// Near keeps the query off the streaming backend, whose follower
		// reads add 50-100ms; sorting by distance costs nothing here.
		Near: "_agent",
	}
	// Every instance: health is classified here, so that maintenance can
	// be told from failure.
	return w.in.Client.Health().Service(q.Service, "", false, opts.WithContext(ctx))
}

// failed records a failed call, logging only when the state changes.
func (w *Watcher) failed(err error, haveEndpoints bool) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.status
	s.Reachable, s.LastError = false, err.Error()
	if !w.down {
		w.down, s.Since = true, now
		msg := "consul unreachable; serving the last known endpoints"
		if !haveEndpoints {
			msg = "consul unreachable; the pool stays empty until consul answers"
		}
		w.in.Logger.Warn(msg, "error", describe(err))
		return
	}
	if ttl := w.in.StaleTTL; ttl > 0 && !s.Stale && haveEndpoints && now.Sub(s.Since) > ttl {
		s.Stale = true
		w.in.Logger.Error("consul unreachable for longer than stale_ttl; still serving the last known endpoints, which may be out of date",
			"stale_ttl", ttl, "unreachable_for", now.Sub(s.Since).Round(time.Second), "error", describe(err))
	}
}

// reached records a successful call.
func (w *Watcher) reached() {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.status
	if w.down {
		w.in.Logger.Info("consul reachable again", "unreachable_for", now.Sub(s.Since).Round(time.Millisecond))
	}
	if !s.Reachable {
		s.Since = now
	}
	w.down = false
	s.Reachable, s.LastContact, s.LastError, s.Stale = true, now, "", false
}

func (w *Watcher) aclFiltered(filtered, haveEndpoints bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if filtered == w.status.ACLFiltered {
		return
	}
	w.status.ACLFiltered = filtered
	if filtered {
		keep := "keeping the last endpoints it could see"
		if !haveEndpoints {
			keep = "the pool stays empty until the token is fixed"
		}
		w.in.Logger.Error("consul token cannot read every instance; ignoring the filtered answer, "+keep,
			"needs", fmt.Sprintf(`service:read on %q and node:read on its nodes`, w.in.Query.Service))
	} else {
		w.in.Logger.Info("consul token can read the service again")
	}
}

// describe adds a hint to errors an operator can act on.
func describe(err error) string {
	var se api.StatusError
	if errors.As(err, &se) && se.Code == 403 {
		return err.Error() + " (the consul token is missing or lacks rights; see consul { token } or CONSUL_HTTP_TOKEN)"
	}
	return err.Error()
}

// instances turns Consul's answer into a sorted set, each instance with its
// health and the weight it gets: 0 for a critical one, and for a warning
// one unless includeWarning (and Weights.Warning is above 0).
func instances(entries []*api.ServiceEntry, includeWarning bool) []Instance {
	out := make([]Instance, 0, len(entries))
	for _, e := range entries {
		health, weight := Passing, max(1, e.Service.Weights.Passing)
		switch e.Checks.AggregatedStatus() {
		case api.HealthPassing:
		case api.HealthMaint:
			health = Maintenance
		case api.HealthWarning:
			health, weight = Warning, max(0, e.Service.Weights.Warning)
			if !includeWarning {
				weight = 0
			}
		default:
			health, weight = Critical, 0
		}
		addr := e.Service.Address
		if addr == "" {
			addr = e.Node.Address
		}
		tags := slices.Clone(e.Service.Tags)
		sort.Strings(tags)
		out = append(out, Instance{
			ID:        e.Node.Node + "/" + e.Service.ID,
			Node:      e.Node.Node,
			ServiceID: e.Service.ID,
			Address:   addr,
			Port:      e.Service.Port,
			Weight:    weight,
			Health:    health,
			Tags:      tags,
			Meta:      e.Service.Meta,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
