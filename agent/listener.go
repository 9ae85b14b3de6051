package agent

import (
	"fmt"
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

// listener is a running proxy listener, the config it runs, and the
// endpoints last handed to it.
type listener struct {
	cfg    config.Listener
	pl     proxy.Listener
	logger hclog.Logger
	events *eventLog // nil in unit tests of the pool alone

	mu        sync.Mutex
	endpoints []proxy.Endpoint
	// From the last Consul snapshot: its instances by ID, and those not
	// handed to the proxy, with the reason.
	instances map[string]discovery.Instance
	out       map[string]outMark
	// unserved: no instance carries the port's meta key (see portUnserved).
	unserved bool
	// versionWarning: the pool mixes Pinpoint versions (versions.go).
	versionWarning string
}

// upstreamString says where a listener forwards, for logs and the API.
func upstreamString(u config.Upstream) string {
	if u.Service == "" {
		return strings.Join(u.Servers, ",")
	}
	s := "consul:" + query(u).String()
	switch {
	case u.PortMeta != "":
		s += " port from meta " + u.PortMeta
	case u.Port != 0:
		s += fmt.Sprintf(" port %d", u.Port)
	}
	return s
}

// socketKey identifies a listener's socket: a reload that keeps it keeps
// the socket.
func socketKey(l config.Listener) string { return l.Protocol + " " + l.Address }

// recorder is the access log when cfg has one: a nil Recorder keeps the
// proxy from building records at all.
func (a *Agent) recorder(cfg *config.Config) proxy.Recorder {
	if cfg.AccessLog.Path == "" {
		return nil
	}
	return a.alog
}

// proxyConfig is the proxy's side of listener l of cfg, with the agent's
// hooks.
func (a *Agent) proxyConfig(l config.Listener, cfg *config.Config) proxy.Config {
	pc := proxyConfig(l, a.recorder(cfg))
	pc.Events = a.proxyEvents(l.Name)
	return pc
}

// proxyConfig copies a listener's settings to the proxy's.
func proxyConfig(l config.Listener, rec proxy.Recorder) proxy.Config {
	return proxy.Config{
		Recorder:       rec,
		Name:           l.Name,
		Protocol:       l.Protocol,
		Address:        l.Address,
		Balance:        l.Balance,
		ConnectTimeout: l.ConnectTimeout,
		IdleTimeout:    l.IdleTimeout,
		MaxConnections: l.MaxConnections,
		DrainTimeout:   l.DrainTimeout,
		OnUnhealthy:    l.OnUnhealthy,
		Tries:          l.Tries,
		NextTimeout:    l.NextTimeout,
		MaxFails:       l.MaxFails,
		FailTimeout:    l.FailTimeout,
		MaxConns:       l.MaxConns,
		SlowStart:      l.SlowStart,
		ProxyProtocol: proxy.ProxyProtocolConfig{
			Accept:  l.ProxyProtocol.Accept,
			Trusted: l.ProxyProtocol.Trusted,
			Timeout: l.ProxyProtocol.Timeout,
		},
		SendProxyProtocol: l.Upstream.ProxyProtocol,
		TLS:               serverTLS(l.TLS),
		Access:            proxy.AccessConfig{Allow: l.Access.Allow, Deny: l.Access.Deny},
		Limits: proxy.LimitsConfig{
			MaxConnsPerSource:     l.Limits.MaxConnsPerSource,
			ConnRatePerSource:     l.Limits.ConnRatePerSource,
			MaxSources:            l.Limits.MaxSources,
			DatagramRatePerSource: l.Limits.DatagramRatePerSource,
		},
		HTTP2GoAway:  l.HTTP2GoAway,
		GRPCEndCalls: l.GRPCEndCalls,
		BufferSize:   l.BufferSize,
		Rebalance: proxy.RebalanceConfig{
			Enabled:     l.Rebalance.Enabled,
			Skew:        l.Rebalance.Skew,
			MaxRate:     l.Rebalance.MaxRate,
			MinIdle:     l.Rebalance.MinIdle,
			MaxWait:     l.Rebalance.MaxWait,
			MaxLifetime: l.Rebalance.MaxLifetime,
		},
		UDP: proxy.UDPConfig{
			Mode:           l.UDP.Mode,
			SessionTimeout: l.UDP.SessionTimeout,
			Responses:      l.UDP.Responses,
			MaxSessions:    l.UDP.MaxSessions,
		},
	}
}

// portUnserved reports whether no instance of s carries the listener's
// port meta key: a fleet that does not serve that port at all, as a
// Pinpoint 3.x fleet serves no Thrift port. Such a listener stays idle and
// says so once, instead of a warning per instance; a key that only some
// instances lack is worth a warning each.
func (l *listener) portUnserved(s discovery.Snapshot) bool {
	key := l.cfg.Upstream.PortMeta
	unserved := key != "" && len(s.Instances) > 0 && !slices.ContainsFunc(s.Instances, func(inst discovery.Instance) bool {
		_, ok := inst.Meta[key]
		return ok
	})
	if unserved && !l.unserved {
		l.logger.Info("no instance serves this listener's port: none has it in its meta, so the listener stays idle until one does",
			"port_meta", key, "instances", len(s.Instances))
	}
	l.unserved = unserved
	return unserved
}

func endpointList(eps []proxy.Endpoint) string {
	s := make([]string, len(eps))
	for i, ep := range eps {
		s[i] = ep.Addr.String()
	}
	return strings.Join(s, ",")
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
	quiet := l.portUnserved(s)
	eps := make([]proxy.Endpoint, 0, len(s.Instances))
	used := make([]discovery.Instance, 0, len(s.Instances))
	prev := l.instances // for the timeline: who left
	l.instances = make(map[string]discovery.Instance, len(s.Instances))
	for _, inst := range s.Instances {
		l.instances[inst.ID] = inst
		port := inst.Port
		switch {
		case up.PortMeta != "":
			v, ok := inst.Meta[up.PortMeta]
			p, err := strconv.Atoi(v)
			if !ok || err != nil || p < 1 || p > 65535 {
				if _, known := l.out[inst.ID]; !known && !quiet {
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
		inst = inst.ForPort(port, up.PortMeta) // gated by its port's checks too
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
		used = append(used, inst)
	}
	l.checkVersions(used)
	l.out = out
	l.setEndpointsLocked(eps, prev)
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

// setEndpointsLocked hands eps to the proxy when they differ from what it
// has; prev are the instances the listener had before. l.mu is held.
func (l *listener) setEndpointsLocked(eps []proxy.Endpoint, prev map[string]discovery.Instance) {
	if l.endpoints != nil && slices.Equal(l.endpoints, eps) {
		return
	}
	l.poolChanges(eps, prev)
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
