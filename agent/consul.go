package agent

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/proxy"
)

// consulConn is the Consul client the watches share, and the settings it
// and they were built from: a reload that changes neither keeps them.
type consulConn struct {
	client *discovery.Client // nil until a listener forwards to a service
	cfg    config.Consul
}

// clientConfig is how the consul {} block reaches Consul.
func clientConfig(c config.Consul) discovery.ClientConfig {
	return discovery.ClientConfig{
		Address: c.Address, Datacenter: c.Datacenter, Token: c.Token,
		CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, ServerName: c.TLS.ServerName,
	}
}

func query(u config.Upstream) discovery.Query {
	return discovery.Query{
		Service:        u.Service,
		Datacenter:     u.Datacenter,
		Filter:         u.Filter,
		IncludeWarning: u.IncludeWarning,
	}
}

// watch is one running watcher and the listeners that use its answers.
type watch struct {
	w      *discovery.Watcher
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	last    *discovery.Snapshot
	subs    []*listener
	stopped bool
}

// startWatch starts watching q through conn. seed is the last snapshot of
// the watch this one replaces, if any.
func startWatch(conn consulConn, q discovery.Query, seed *discovery.Snapshot, logger hclog.Logger, tel *telemetry) *watch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watch{cancel: cancel, done: make(chan struct{}), last: seed}
	w.w = discovery.NewWatcher(discovery.WatcherInput{
		Client:     conn.client,
		Query:      q,
		StaleTTL:   conn.cfg.StaleTTL,
		ResyncHold: conn.cfg.ResyncHold,
		Seed:       seed,
		Logger:     logger,
		OnChange:   w.onChange,
		OnCall:     func(d time.Duration, err error) { tel.observeWatch(q.Service, d, err) },
	})
	go func() {
		defer close(w.done)
		w.w.Run(ctx)
	}()
	return w
}

// onChange pushes a new snapshot to every listener of the watch.
func (w *watch) onChange(s discovery.Snapshot) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.last = &s
	for _, l := range w.subs {
		l.applySnapshot(s)
	}
}

// setSubs makes ls the listeners of the watch and gives each the last
// snapshot, if there is one yet.
func (w *watch) setSubs(ls []*listener) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs = ls
	if w.last != nil {
		for _, l := range ls {
			l.applySnapshot(*w.last)
		}
	}
}

// stop ends the watch and returns its last snapshot; no listener hears
// from it after stop returns.
func (w *watch) stop() *discovery.Snapshot {
	w.mu.Lock()
	w.stopped, w.subs = true, nil
	last := w.last
	w.mu.Unlock()
	w.cancel()
	return last
}

// instances counts the instances in the last snapshot.
func (w *watch) instances() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		return 0
	}
	return len(w.last.Instances)
}

// applySnapshot turns a snapshot into the listener's endpoints, and
// remembers the instances it leaves out, and why, for the API.
func (l *listener) applySnapshot(s discovery.Snapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	up := l.cfg.Upstream
	now := time.Now()
	out := make(map[string]outMark)
	// leaveOut remembers an instance not handed to the proxy; addr is as
	// far as its address could be resolved.
	leaveOut := func(inst discovery.Instance, addr, reason string) {
		m := outMark{inst: inst, addr: addr, reason: reason, since: now}
		if old, ok := l.out[inst.ID]; ok && old.reason == reason {
			m.since = old.since
		}
		out[inst.ID] = m
	}
	eps := make([]proxy.Endpoint, 0, len(s.Instances))
	l.instances = make(map[string]discovery.Instance, len(s.Instances))
	for _, inst := range s.Instances {
		l.instances[inst.ID] = inst
		port := inst.Port
		switch {
		case up.PortMeta != "":
			v, ok := inst.Meta[up.PortMeta]
			p, err := strconv.Atoi(v)
			if !ok || err != nil || p < 1 || p > 65535 {
				if _, known := l.out[inst.ID]; !known {
					l.logger.Warn("instance left out: no valid port in its meta", "instance", inst.ID,
						"port_meta", up.PortMeta, "value", v)
				}
				leaveOut(inst, inst.Address, "no port in meta "+up.PortMeta)
				continue
			}
			port = p
		case up.Port != 0:
			port = up.Port
		}
		ip, err := netip.ParseAddr(inst.Address)
		if err != nil {
			if _, known := l.out[inst.ID]; !known {
				l.logger.Warn("instance left out: its address is not an IP address", "instance", inst.ID, "address", inst.Address)
			}
			leaveOut(inst, inst.Address, "address is not an IP")
			continue
		}
		addr := netip.AddrPortFrom(ip.Unmap(), uint16(port))
		if inst.Weight == 0 {
			leaveOut(inst, addr.String(), "consul:"+inst.Health)
			continue
		}
		eps = append(eps, proxy.Endpoint{
			ID:       inst.ID,
			Addr:     addr,
			Weight:   inst.Weight,
			Backup:   isBackup(inst, up),
			Draining: inst.Health == discovery.Maintenance,
		})
	}
	l.out = out
	l.setEndpointsLocked(eps)
}

// isBackup reports whether the upstream's backup_tag or backup_meta
// marks the instance.
func isBackup(inst discovery.Instance, up config.Upstream) bool {
	if up.BackupTag != "" && slices.Contains(inst.Tags, up.BackupTag) {
		return true
	}
	if k, v, ok := strings.Cut(up.BackupMeta, "="); ok {
		if got, has := inst.Meta[k]; has && got == v {
			return true
		}
	}
	return false
}

// setEndpoints hands eps to the proxy when they differ from what it has.
func (l *listener) setEndpoints(eps []proxy.Endpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setEndpointsLocked(eps)
}

func (l *listener) setEndpointsLocked(eps []proxy.Endpoint) {
	if l.endpoints != nil && slices.Equal(l.endpoints, eps) {
		return
	}
	l.endpoints = eps
	l.pl.SetEndpoints(eps)
	draining := 0
	for _, ep := range eps {
		if ep.Draining {
			draining++
		}
	}
	l.logger.Info("pool updated", "endpoints", len(eps)-draining, "draining", draining, "backends", endpointList(eps))
}
