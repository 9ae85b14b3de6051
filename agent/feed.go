package agent

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/discovery"
)

// sourceKey names a source of endpoints: a Consul query, or an upstream's
// servers. Listeners with the same key share one feed.
type sourceKey struct {
	query   discovery.Query // set for a Consul service
	servers string          // the servers, joined, for a static upstream
}

func sourceOf(u config.Upstream) sourceKey {
	if u.Service != "" {
		return sourceKey{query: query(u)}
	}
	return sourceKey{servers: strings.Join(u.Servers, ",")}
}

func (k sourceKey) consul() bool { return k.query.Service != "" }

// feed is one running source and the listeners that use its snapshots.
type feed struct {
	src     discovery.Source
	cancel  context.CancelFunc
	done    chan struct{}
	service string // the Consul service watched; empty for static servers
	events  *eventLog

	mu      sync.Mutex
	last    *discovery.Snapshot
	subs    []*listener
	stopped bool
}

// startFeed runs the source that build makes for the feed. seed is the
// snapshot to start from: the last one of the feed this one replaces, or
// one known at once.
func startFeed(f *feed, seed *discovery.Snapshot, build func(*feed) discovery.Source) *feed {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done, f.last = cancel, make(chan struct{}), seed
	f.src = build(f)
	go func() {
		defer close(f.done)
		f.src.Run(ctx)
	}()
	return f
}

// startSource starts the feed of key: a Consul watch through conn, or the
// static servers.
func startSource(key sourceKey, conn consulConn, seed *discovery.Snapshot, logger hclog.Logger, tel *telemetry, events *eventLog) *feed {
	if !key.consul() {
		var servers []netip.AddrPort
		for _, s := range strings.Split(key.servers, ",") {
			if ap, err := netip.ParseAddrPort(s); err == nil { // validated by config
				servers = append(servers, ap)
			}
		}
		snap := discovery.StaticSnapshot(servers)
		return startFeed(&feed{events: events}, &snap, func(f *feed) discovery.Source {
			return discovery.NewStatic(servers, f.onChange)
		})
	}
	q := key.query
	return startFeed(&feed{service: q.Service, events: events}, seed, func(f *feed) discovery.Source {
		return discovery.NewWatcher(discovery.WatcherInput{
			Client:     conn.client,
			Query:      q,
			StaleTTL:   conn.cfg.StaleTTL,
			ResyncHold: conn.cfg.ResyncHold,
			Seed:       seed,
			Logger:     logger,
			OnChange:   f.onChange,
			OnEvent:    f.onEvent,
			OnCall:     func(d time.Duration, err error) { tel.observeWatch(q.Service, d, err) },
		})
	})
}

// onChange pushes a new snapshot to every listener of the feed.
func (f *feed) onChange(s discovery.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.last = &s
	for _, l := range f.subs {
		l.applySnapshot(s)
	}
	if f.service != "" {
		f.consulEvent(EventApplied, appliedCause(s))
	}
}

// onEvent records what the feed's watcher noticed.
func (f *feed) onEvent(kind, cause string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.consulEvent("consul_"+kind, cause)
	}
}

// setSubs makes ls the listeners of the feed and gives each the last
// snapshot, if there is one yet.
func (f *feed) setSubs(ls []*listener) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = ls
	if f.last != nil {
		for _, l := range ls {
			l.applySnapshot(*f.last)
		}
	}
}

// stop ends the feed and returns its last snapshot; no listener hears
// from it after stop returns.
func (f *feed) stop() *discovery.Snapshot {
	f.mu.Lock()
	f.stopped, f.subs = true, nil
	last := f.last
	f.mu.Unlock()
	f.cancel()
	return last
}

// instances counts the instances in the last snapshot.
func (f *feed) instances() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		return 0
	}
	return len(f.last.Instances)
}
