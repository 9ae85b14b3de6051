package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/proxy"
)

// Agent runs the listeners of a configuration.
type Agent struct {
	logger hclog.Logger

	mu       sync.Mutex
	cfg      *config.Config
	running  map[string]*listener // by socketKey
	draining map[proxy.Listener]struct{}
	started  bool
	stopped  bool
}

// listener is a running proxy listener and the config it runs.
type listener struct {
	cfg config.Listener
	pl  proxy.Listener
}

// New returns an agent for cfg. It does no I/O; Start binds the listeners.
func New(cfg *config.Config, logger hclog.Logger) *Agent {
	return &Agent{
		logger:   logger,
		cfg:      cfg,
		running:  map[string]*listener{},
		draining: map[proxy.Listener]struct{}{},
	}
}

// Start binds every listener and returns once all of them serve. If one
// cannot bind, those already bound are closed and the error names it.
func (a *Agent) Start(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("agent already started")
	}
	a.started = true
	_, err := a.apply(a.cfg)
	return err
}

// Reload moves the agent to cfg. A listener whose protocol and address are
// unchanged keeps its socket and open connections and takes the new settings
// and backends for new connections; a new listener is bound; a listener no
// longer in cfg stops accepting and drains in the background. If a new
// listener cannot bind, nothing changes and the error says why.
func (a *Agent) Reload(cfg *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.started || a.stopped {
		return errors.New("agent is not running")
	}
	removed, err := a.apply(cfg)
	if err != nil {
		return err
	}
	for _, l := range removed {
		a.logger.Info("listener removed; draining", "listener", l.cfg.Name, "protocol", l.cfg.Protocol, "address", l.cfg.Address)
		a.draining[l.pl] = struct{}{}
		go func() {
			l.pl.Shutdown(context.Background())
			a.mu.Lock()
			delete(a.draining, l.pl)
			a.mu.Unlock()
			a.logger.Info("listener drained", "listener", l.cfg.Name)
		}()
	}
	a.cfg = cfg
	a.logger.Info("configuration reloaded", "listeners", len(cfg.Listeners), "removed", len(removed))
	return nil
}

// apply binds what cfg adds, updates what it keeps, and returns the running
// listeners it no longer has. On error nothing has changed.
func (a *Agent) apply(cfg *config.Config) ([]*listener, error) {
	next := make(map[string]*listener, len(cfg.Listeners))
	var bound []*listener
	for _, lc := range cfg.Listeners {
		key := socketKey(lc)
		if cur, ok := a.running[key]; ok {
			next[key] = cur
			continue
		}
		pl, err := proxy.Listen(proxyConfig(lc), a.logger.Named("proxy"))
		if err != nil {
			for _, l := range bound {
				l.pl.Shutdown(context.Background())
			}
			return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		l := &listener{cfg: lc, pl: pl}
		next[key] = l
		bound = append(bound, l)
	}

	// Every socket is in hand: commit.
	for _, lc := range cfg.Listeners {
		l := next[socketKey(lc)]
		if err := l.pl.Update(proxyConfig(lc)); err != nil {
			// proxy and config agree on every value, so this is a bug.
			return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		l.cfg = lc
		eps := staticEndpoints(lc.Upstream.Servers)
		l.pl.SetEndpoints(eps)
		a.logger.Info("listener ready", "listener", lc.Name, "protocol", lc.Protocol,
			"address", l.pl.Addr(), "balance", lc.Balance, "backends", endpointList(eps))
	}
	var removed []*listener
	for key, l := range a.running {
		if _, ok := next[key]; !ok {
			removed = append(removed, l)
		}
	}
	a.running = next
	return removed, nil
}

// Shutdown stops every listener: they stop accepting at once, open
// connections may finish until ctx is done, and are closed then. It is
// idempotent.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.stopped = true
	var all []proxy.Listener
	for _, l := range a.running {
		all = append(all, l.pl)
	}
	for pl := range a.draining {
		all = append(all, pl)
	}
	a.mu.Unlock()

	errs := make(chan error, len(all))
	for _, pl := range all {
		go func() { errs <- pl.Shutdown(ctx) }()
	}
	var err error
	for range all {
		err = errors.Join(err, <-errs)
	}
	if err != nil {
		return fmt.Errorf("shutdown: open connections were closed at the deadline: %w", context.Cause(ctx))
	}
	return nil
}

// Addrs returns the bound address of every running listener, by name.
func (a *Agent) Addrs() map[string]net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]net.Addr, len(a.running))
	for _, l := range a.running {
		out[l.cfg.Name] = l.pl.Addr()
	}
	return out
}

// Stats returns the counters of every running listener, by name.
func (a *Agent) Stats() map[string]proxy.Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]proxy.Stats, len(a.running))
	for _, l := range a.running {
		out[l.cfg.Name] = l.pl.Stats()
	}
	return out
}

// socketKey identifies a listener's socket: a reload that keeps it keeps
// the socket.
func socketKey(l config.Listener) string { return l.Protocol + " " + l.Address }

func proxyConfig(l config.Listener) proxy.Config {
	return proxy.Config{
		Name:           l.Name,
		Protocol:       l.Protocol,
		Address:        l.Address,
		Balance:        l.Balance,
		ConnectTimeout: l.ConnectTimeout,
		IdleTimeout:    l.IdleTimeout,
		MaxConnections: l.MaxConnections,
		UDP: proxy.UDPConfig{
			Mode:           l.UDP.Mode,
			SessionTimeout: l.UDP.SessionTimeout,
			Responses:      l.UDP.Responses,
			MaxSessions:    l.UDP.MaxSessions,
		},
	}
}

// staticEndpoints turns validated "ip:port" strings into endpoints.
func staticEndpoints(servers []string) []proxy.Endpoint {
	eps := make([]proxy.Endpoint, 0, len(servers))
	for _, s := range servers {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			eps = append(eps, proxy.Endpoint{Addr: ap, Weight: 1})
		}
	}
	return eps
}

func endpointList(eps []proxy.Endpoint) string {
	s := make([]string, len(eps))
	for i, ep := range eps {
		s[i] = ep.Addr.String()
	}
	return strings.Join(s, ",")
}
