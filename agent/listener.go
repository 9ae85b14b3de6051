package agent

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

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

	mu        sync.Mutex
	endpoints []proxy.Endpoint
	// From the last Consul snapshot: its instances by ID, and those not
	// handed to the proxy, with the reason.
	instances map[string]discovery.Instance
	out       map[string]outMark
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
