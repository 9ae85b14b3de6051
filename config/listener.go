package config

import (
	"net/netip"
	"regexp"
	"strings"

	"github.com/hashicorp/go-bexpr"
	"github.com/hashicorp/hcl/v2"
)

var listenerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (v *validator) listener(lb *listenerBlock) Listener {
	l := Listener{
		Name:           lb.Name,
		Protocol:       DefaultProtocol,
		Balance:        DefaultBalance,
		ConnectTimeout: v.duration(lb.ConnectTimeout, lb.ConnectTimeoutRange, DefaultConnectTimeout, false),
		IdleTimeout:    v.duration(lb.IdleTimeout, lb.IdleTimeoutRange, DefaultIdleTimeout, true),
		MaxConnections: v.count(lb.MaxConnections, lb.MaxConnectionsRange, "max_connections", DefaultMaxConnections, "no limit"),
		DrainTimeout:   v.duration(lb.DrainTimeout, lb.DrainTimeoutRange, DefaultDrainTimeout, true),
		OnUnhealthy:    DefaultOnUnhealthy,
		Tries:          v.count(lb.Tries, lb.TriesRange, "tries", DefaultTries, "one try per endpoint"),
		NextTimeout:    v.duration(lb.NextTimeout, lb.NextTimeoutRange, DefaultNextTimeout, true),
		MaxFails:       v.count(lb.MaxFails, lb.MaxFailsRange, "max_fails", DefaultMaxFails, "no passive health"),
		FailTimeout:    v.duration(lb.FailTimeout, lb.FailTimeoutRange, DefaultFailTimeout, false),
		MaxConns:       v.count(lb.MaxConns, lb.MaxConnsRange, "max_conns", DefaultMaxConns, "no limit"),
		SlowStart:      v.duration(lb.SlowStart, lb.SlowStartRange, DefaultSlowStart, true),
		HTTP2GoAway:    DefaultHTTP2GoAway,
		GRPCEndCalls:   DefaultGRPCEndCalls,
		BufferSize:     v.size(lb.BufferSize, lb.BufferSizeRange, DefaultBufferSize, MinBufferSize, MaxBufferSize),
		Rebalance:      Rebalance{MinIdle: DefaultRebalanceMinIdle, MaxWait: DefaultRebalanceMaxWait},
	}
	v.http2(lb, &l)
	if lb.OnUnhealthy != nil {
		l.OnUnhealthy = *lb.OnUnhealthy
		v.oneOf(l.OnUnhealthy, lb.OnUnhealthyRange, "on_unhealthy policy", policies)
	}
	if !listenerName.MatchString(l.Name) {
		v.errorf(lb.NameRange, "Invalid listener name",
			"%q must start with a letter or digit and hold only letters, digits, '_', '.' and '-'", l.Name)
	}
	if lb.Protocol != nil {
		l.Protocol = *lb.Protocol
		v.oneOf(l.Protocol, lb.ProtocolRange, "protocol", protocols)
	}
	if lb.Address == nil {
		v.errorf(lb.DefRange, "Missing listener address",
			`listener %q needs an address to bind, e.g. address = "0.0.0.0:9991"`, l.Name)
	} else {
		l.Address = *lb.Address
		v.hostPort(l.Address, lb.AddressRange, false)
	}
	if lb.Balance != nil {
		l.Balance = *lb.Balance
		v.oneOf(l.Balance, lb.BalanceRange, "balance", balances)
	}

	if u := lb.Upstream; u == nil {
		v.errorf(lb.DefRange, "Missing upstream block",
			`listener %q needs an upstream block: upstream { service = "pinpoint-collector" } or upstream { servers = ["ip:port", ...] }`, l.Name)
	} else {
		l.Upstream = v.upstream(u)
	}

	v.blocks(lb, &l)
	v.protocolRules(lb, l)
	return l
}

// http2 reads how the listener moves h2c clients.
func (v *validator) http2(lb *listenerBlock, l *Listener) {
	if lb.HTTP2GoAway != nil {
		l.HTTP2GoAway = *lb.HTTP2GoAway
	}
	if lb.GRPCEndCalls != nil {
		l.GRPCEndCalls = *lb.GRPCEndCalls
		if l.GRPCEndCalls && !l.HTTP2GoAway {
			v.errorf(lb.GRPCEndCallsRange, "grpc_end_calls without http2_goaway",
				"listener %q ends gRPC calls only after its GOAWAY has asked the client to open the next one elsewhere; set http2_goaway = true, or remove grpc_end_calls", l.Name)
		}
	}
	l.GRPCEndCalls = l.GRPCEndCalls && l.HTTP2GoAway
}

// blocks reads a listener's inner blocks: rebalance, limits, tls,
// proxy_protocol and udp, each with its defaults when it is absent.
func (v *validator) blocks(lb *listenerBlock, l *Listener) {
	if r := lb.Rebalance; r != nil {
		if l.Protocol != "tcp" {
			v.errorf(r.DefRange, "Unexpected rebalance block",
				"listener %q has protocol %q; rebalancing moves TCP connections", l.Name, l.Protocol)
		}
		l.Rebalance = v.rebalance(r)
		// A moved client hashes back to the endpoint it left, and would be
		// planned again after every settle, for ever.
		if l.Balance == "hash" && l.Rebalance.Enabled {
			v.errorf(r.DefRange, "Unexpected rebalance block",
				"listener %q balances by hash, which sends a client back to the collector it was moved from; use least_conn to rebalance, or remove this block", l.Name)
		}
	}
	l.Limits = Limits{MaxSources: DefaultMaxSources}
	if b := lb.Limits; b != nil {
		l.Limits = v.limits(b)
	}
	if b := lb.TLS; b != nil {
		l.TLS = v.listenerTLS(b)
	}
	l.ProxyProtocol = ProxyProtocol{Timeout: DefaultProxyProtocolTimeout}
	if b := lb.ProxyProtocol; b != nil {
		l.ProxyProtocol = v.proxyProtocol(b)
	}
	l.UDP = UDP{
		Mode:           DefaultUDPMode,
		SessionTimeout: DefaultSessionTimeout,
		Responses:      DefaultResponses,
		MaxSessions:    DefaultMaxSessions,
	}
	if u := lb.UDP; u != nil {
		if l.Protocol != "udp" {
			v.errorf(u.DefRange, "Unexpected udp block",
				"listener %q has protocol %q; a udp block only applies to protocol = \"udp\"", l.Name, l.Protocol)
		}
		l.UDP = v.udp(u)
	}
}

func (v *validator) upstream(u *upstreamBlock) Upstream {
	out := Upstream{
		Servers:       u.Servers,
		Service:       deref(u.Service),
		Datacenter:    deref(u.Datacenter),
		Filter:        deref(u.Filter),
		PortMeta:      deref(u.PortMeta),
		BackupTag:     deref(u.BackupTag),
		BackupMeta:    deref(u.BackupMeta),
		ProxyProtocol: v.sendProxyProtocol(u.ProxyProtocol, u.ProxyProtocolRange),
	}
	if u.BackupMeta != nil {
		if k, _, ok := strings.Cut(out.BackupMeta, "="); !ok || k == "" {
			v.errorf(u.BackupMetaRange, "Invalid backup_meta", `%q is not key=value, e.g. "role=backup"`, out.BackupMeta)
		}
	}
	if u.IncludeWarning != nil {
		out.IncludeWarning = *u.IncludeWarning
	}
	switch {
	case u.Servers != nil && u.Service != nil:
		v.errorf(u.ServiceRange, "Conflicting upstream",
			"an upstream takes static servers or a Consul service, not both")
	case u.Servers == nil && u.Service == nil:
		v.errorf(u.DefRange, "Empty upstream",
			`set service = "NAME" to forward to a Consul service, or servers = ["ip:port", ...]`)
	case u.Servers != nil:
		v.servers(u)
		for _, a := range []struct {
			set bool
			r   hcl.Range
			n   string
		}{
			{u.Datacenter != nil, u.DatacenterRange, "datacenter"}, {u.Filter != nil, u.FilterRange, "filter"},
			{u.IncludeWarning != nil, u.IncludeWarningRange, "include_warning"},
			{u.PortMeta != nil, u.PortMetaRange, "port_meta"}, {u.Port != nil, u.PortRange, "port"},
			{u.BackupTag != nil, u.BackupTagRange, "backup_tag"}, {u.BackupMeta != nil, u.BackupMetaRange, "backup_meta"},
		} {
			if a.set {
				v.errorf(a.r, "Unexpected attribute", "%s applies to a Consul service; static servers carry their own ports", a.n)
			}
		}
	default:
		if strings.TrimSpace(out.Service) == "" {
			v.errorf(u.ServiceRange, "Invalid service", "the Consul service name is empty")
		}
		if out.Filter != "" {
			if _, err := bexpr.CreateEvaluator(out.Filter, nil); err != nil {
				v.errorf(u.FilterRange, "Invalid filter",
					"%q does not parse: %s (see Consul's filtering syntax, e.g. \"blue\" in Service.Tags)", out.Filter, err)
			}
		}
		if u.PortMeta != nil && u.Port != nil {
			v.errorf(u.PortRange, "Conflicting port settings", "set port_meta or port, not both")
		}
		if u.PortMeta != nil && strings.TrimSpace(out.PortMeta) == "" {
			v.errorf(u.PortMetaRange, "Invalid port_meta", "the meta key is empty")
		}
		if u.Port != nil {
			out.Port = *u.Port
			if out.Port < 1 || out.Port > 65535 {
				v.errorf(u.PortRange, "Invalid port", "%d is not a port from 1 to 65535", out.Port)
			}
		}
	}
	return out
}

func (v *validator) servers(u *upstreamBlock) {
	if len(u.Servers) == 0 {
		v.errorf(u.ServersRange, "No upstream servers",
			`list at least one backend, e.g. servers = ["10.0.0.5:9991"]`)
	}
	seen := map[netip.AddrPort]bool{}
	for _, s := range u.Servers {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			v.errorf(u.ServersRange, "Invalid server address",
				`%q is not an IP address and port, e.g. "10.0.0.5:9994" or "[fd00::5]:9994" (to find backends by name, register them in Consul and use service)`, s)
			continue
		}
		if ap.Port() == 0 {
			v.errorf(u.ServersRange, "Invalid port", "server %q has port 0; use a port from 1 to 65535", s)
		}
		if seen[ap] {
			v.errorf(u.ServersRange, "Duplicate server", "%q is listed twice", s)
		}
		seen[ap] = true
	}
}

func (v *validator) rebalance(r *rebalanceBlock) Rebalance {
	out := Rebalance{
		Enabled:     true,
		Skew:        DefaultRebalanceSkew,
		MaxRate:     DefaultRebalanceMaxRate,
		MinIdle:     v.duration(r.MinIdle, r.MinIdleRange, DefaultRebalanceMinIdle, true),
		MaxWait:     v.duration(r.MaxWait, r.MaxWaitRange, DefaultRebalanceMaxWait, true),
		MaxLifetime: v.duration(r.MaxLifetime, r.MaxLifetimeRange, 0, true),
	}
	if r.Skew != nil {
		out.Skew = *r.Skew
		if out.Skew != 0 && out.Skew < 1 {
			v.errorf(r.SkewRange, "Invalid skew", "%g is below 1: an endpoint at its fair share would be moved; use e.g. 1.2, or 0 to move nothing", out.Skew)
		}
	}
	if r.MaxRate != nil {
		out.MaxRate = *r.MaxRate
		if out.MaxRate <= 0 {
			v.errorf(r.MaxRateRange, "Invalid max_rate", "%g moves per second must be above zero", out.MaxRate)
		}
	}
	return out
}

func (v *validator) udp(u *udpBlock) UDP {
	out := UDP{
		Mode:           DefaultUDPMode,
		SessionTimeout: v.duration(u.SessionTimeout, u.SessionTimeoutRange, DefaultSessionTimeout, false),
		Responses:      v.count(u.Responses, u.ResponsesRange, "responses", DefaultResponses, "no limit"),
		MaxSessions:    DefaultMaxSessions,
	}
	if u.Mode != nil {
		out.Mode = *u.Mode
		v.oneOf(out.Mode, u.ModeRange, "UDP mode", udpModes)
	}
	if u.MaxSessions != nil {
		out.MaxSessions = *u.MaxSessions
		if out.MaxSessions < 1 {
			v.errorf(u.MaxSessionsRange, "Invalid max_sessions", "%d is below 1; each client address needs a session", out.MaxSessions)
		}
	}
	return out
}
