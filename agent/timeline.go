package agent

import (
	"fmt"
	"strings"

	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/proxy"
)

// What the agent records on the timeline, and from where: the pools'
// changes here, Consul's through the feeds, reloads and listeners in
// reload.go and commit.

// proxyKinds names the proxy's event kinds on the timeline.
var proxyKinds = map[string]string{
	proxy.EventEjected:   EventEjected,
	proxy.EventRestored:  EventRestored,
	proxy.EventDrained:   EventDrained,
	proxy.EventRebalance: EventRebalance,
}

// proxyEvents is a listener's proxy.Config Events hook: the proxy's
// decisions, under the listener's name.
func (a *Agent) proxyEvents(name string) func(proxy.Event) {
	return func(e proxy.Event) {
		ev := Event{Kind: proxyKinds[e.Kind], Listener: name, Cause: e.Cause}
		if node, id, ok := strings.Cut(e.ID, "/"); ok { // a Consul endpoint's: node/service ID
			ev.Node, ev.ID = node, id
		}
		if e.Endpoint.IsValid() {
			ev.Endpoint = e.Endpoint.String()
		}
		a.events.add(ev)
	}
}

// poolChanges records how eps differ from the endpoints the listener had:
// who joined, left (and why, when Consul's answer said), or went into
// maintenance. prev are the instances it had, which name those that left.
// l.mu is held.
func (l *listener) poolChanges(eps []proxy.Endpoint, prev map[string]discovery.Instance) {
	if l.events == nil {
		return
	}
	old := make(map[string]proxy.Endpoint, len(l.endpoints))
	for _, ep := range l.endpoints {
		old[endpointKey(ep)] = ep
	}
	for _, ep := range eps {
		before, had := old[endpointKey(ep)]
		delete(old, endpointKey(ep))
		switch {
		case ep.Draining && (!had || !before.Draining):
			l.endpointEvent(EventDraining, ep, l.instances, "consul maintenance: no new traffic, open connections drain")
		case !ep.Draining && !had:
			l.endpointEvent(EventJoined, ep, l.instances, "usable in "+l.source())
		case !ep.Draining && before.Draining:
			l.endpointEvent(EventJoined, ep, l.instances, "out of maintenance")
		}
	}
	for _, ep := range old {
		cause := "no longer in " + l.source()
		if m, ok := l.out[ep.ID]; ok {
			cause = m.reason
		}
		l.endpointEvent(EventLeft, ep, prev, cause)
	}
}

func endpointKey(ep proxy.Endpoint) string { return ep.ID + " " + ep.Addr.String() }

// source names where the listener's endpoints come from.
func (l *listener) source() string {
	if l.cfg.Upstream.Service != "" {
		return "consul service " + l.cfg.Upstream.Service
	}
	return "the configuration"
}

// endpointEvent records an event of ep, with Consul's names for it from
// insts.
func (l *listener) endpointEvent(kind string, ep proxy.Endpoint, insts map[string]discovery.Instance, cause string) {
	e := Event{Kind: kind, Listener: l.cfg.Name, Service: l.cfg.Upstream.Service, Endpoint: ep.Addr.String(), Cause: cause}
	if inst, ok := insts[ep.ID]; ok {
		e.Node, e.ID = inst.Node, inst.ServiceID
	}
	l.events.add(e)
}

// consulEvent records what a feed's watcher noticed: once, under the
// service, for every listener the feed serves (a listener's own pool
// changes follow, under its name).
func (f *feed) consulEvent(kind, cause string) {
	if f.events != nil {
		f.events.add(Event{Kind: kind, Service: f.service, Cause: cause})
	}
}

func appliedCause(s discovery.Snapshot) string {
	return fmt.Sprintf("%d usable instances at index %d", len(s.Instances), s.Index)
}
