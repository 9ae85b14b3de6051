package agent

import (
	"net"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/proxy"
)

// view is what the API, telemetry and register_self read of the agent:
// they hold this, never the *Agent.
type view interface {
	Status() Status
	Listeners() []ListenerStatus
	Listener(name string) (ListenerStatus, bool)
	accessLogDropped() uint64
}

var _ view = (*Agent)(nil)

// Config returns the configuration the agent runs.
func (a *Agent) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// Addrs returns the bound address of every running listener, by name.
func (a *Agent) Addrs() map[string]net.Addr {
	return byName(a, func(l *listener) net.Addr { return l.pl.Addr() })
}

// Endpoints returns the named listener's endpoints now, draining ones
// (Consul maintenance) included.
func (a *Agent) Endpoints(name string) []proxy.Endpoint {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.running {
		if l.cfg.Name == name {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.endpoints
		}
	}
	return nil
}

// Stats returns the counters of every running listener, by name.
func (a *Agent) Stats() map[string]proxy.Stats {
	return byName(a, func(l *listener) proxy.Stats { return l.pl.Stats() })
}

// byName reads of every running listener, by its name.
func byName[T any](a *Agent, of func(*listener) T) map[string]T {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]T, len(a.running))
	for _, l := range a.running {
		out[l.cfg.Name] = of(l)
	}
	return out
}
