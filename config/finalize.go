package config

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-bexpr"
	"github.com/hashicorp/hcl/v2"
)

// Accepted values of enumerated attributes.
var (
	logLevels = []string{"trace", "debug", "info", "warn", "error"}
	protocols = []string{"tcp", "udp"}
	balances  = []string{"round_robin", "least_conn", "random_two", "hash", "least_time"}
	policies  = []string{"drain", "close"}
	udpModes  = []string{"packet", "session"}
	logFormat = []string{"text", "json"}
)

var listenerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// finalize applies defaults to the merged user layer and validates it,
// collecting every problem.
func finalize(fc *fileConfig) (*Config, hcl.Diagnostics) {
	v := &validator{}
	cfg := &Config{
		LogLevel:        DefaultLogLevel,
		ShutdownTimeout: v.duration(fc.ShutdownTimeout, fc.ShutdownTimeoutRange, DefaultShutdownTimeout, false),
		Consul:          Consul{StaleTTL: DefaultConsulStaleTTL, ResyncHold: DefaultConsulResyncHold},
		API:             API{Enabled: DefaultAPIEnabled, Address: DefaultAPIAddress},
		Telemetry: Telemetry{
			MetricsPrefix:           DefaultMetricsPrefix,
			DisableHostname:         DefaultDisableHostname,
			PrometheusRetentionTime: DefaultPrometheusRetentionTime,
		},
	}
	if fc.LogLevel != nil {
		cfg.LogLevel = strings.ToLower(*fc.LogLevel)
		v.oneOf(cfg.LogLevel, fc.LogLevelRange, "log level", logLevels)
	}
	if fc.LogJSON != nil {
		cfg.LogJSON = *fc.LogJSON
	}
	if c := fc.Consul; c != nil {
		cfg.Consul = v.consul(c)
	}
	if a := fc.API; a != nil {
		cfg.API = v.api(a)
	}
	if t := fc.Telemetry; t != nil {
		cfg.Telemetry = v.telemetry(t)
	}
	if l := fc.AccessLog; l != nil {
		cfg.AccessLog = v.accessLog(l)
	}
	if r := fc.RegisterSelf; r != nil {
		cfg.RegisterSelf = v.registerSelf(r)
	}

	seenName := map[string]*listenerBlock{}
	seenAddr := map[string]*listenerBlock{}
	for _, lb := range fc.Listeners {
		l := v.listener(lb)
		if first, ok := seenName[l.Name]; ok {
			v.errorf(lb.NameRange, "Duplicate listener",
				"listener %q is already defined at %s; listener names must be unique across all files",
				l.Name, position(first.NameRange))
		} else {
			seenName[l.Name] = lb
		}
		key := l.Protocol + " " + l.Address
		if first, ok := seenAddr[key]; ok && lb.Address != nil {
			v.errorf(lb.AddressRange, "Duplicate listener address",
				"listener %q binds %s %s, which listener %q at %s binds already",
				l.Name, l.Protocol, l.Address, first.Name, position(first.AddressRange))
		} else {
			seenAddr[key] = lb
		}
		cfg.Listeners = append(cfg.Listeners, l)
	}
	if len(fc.Listeners) == 0 {
		v.diags = append(v.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No listeners",
			Detail:   `define at least one listener "NAME" { ... } block`,
		})
	}
	sort.Slice(cfg.Listeners, func(i, j int) bool { return cfg.Listeners[i].Name < cfg.Listeners[j].Name })
	return cfg, v.diags
}

func (v *validator) consul(c *consulBlock) Consul {
	out := Consul{
		Address:    deref(c.Address),
		Datacenter: deref(c.Datacenter),
		Token:      deref(c.Token),
		TokenFile:  deref(c.TokenFile),
		StaleTTL:   v.duration(c.StaleTTL, c.StaleTTLRange, DefaultConsulStaleTTL, true),
		ResyncHold: v.duration(c.ResyncHold, c.ResyncHoldRange, DefaultConsulResyncHold, true),
	}
	if c.Address != nil && strings.TrimSpace(out.Address) == "" {
		v.errorf(c.AddressRange, "Invalid Consul address",
			`address is empty; remove it to use $CONSUL_HTTP_ADDR or 127.0.0.1:8500, or give e.g. "127.0.0.1:8500"`)
	}
	if c.Token != nil && c.TokenFile != nil {
		v.errorf(c.TokenFileRange, "Conflicting Consul token settings",
			"set token or token_file, not both")
	}
	if c.TokenFile != nil && c.Token == nil {
		out.Token = v.tokenFile(*c.TokenFile, c.TokenFileRange, "Consul")
	}
	if t := c.TLS; t != nil {
		out.TLS = ConsulTLS{
			CAFile:     deref(t.CAFile),
			CertFile:   deref(t.CertFile),
			KeyFile:    deref(t.KeyFile),
			ServerName: deref(t.ServerName),
		}
		if (out.TLS.CertFile == "") != (out.TLS.KeyFile == "") {
			v.errorf(t.DefRange, "Incomplete Consul client certificate",
				"cert_file and key_file go together; set both or neither")
		}
	}
	return out
}

func (v *validator) api(a *apiBlock) API {
	out := API{
		Enabled:     boolOr(a.Enabled, DefaultAPIEnabled),
		Address:     DefaultAPIAddress,
		Token:       deref(a.Token),
		EnablePprof: boolOr(a.EnablePprof, false),
	}
	if a.Address != nil {
		out.Address = *a.Address
		v.hostPort(out.Address, a.AddressRange, true)
	}
	if a.Token != nil && a.TokenFile != nil {
		v.errorf(a.TokenFileRange, "Conflicting API token settings", "set token or token_file, not both")
	}
	if a.Token != nil && strings.TrimSpace(out.Token) == "" {
		v.errorf(a.TokenRange, "Empty API token", "remove token to leave the API open, or set a secret")
	}
	if a.TokenFile != nil {
		out.Token = v.tokenFile(*a.TokenFile, a.TokenFileRange, "API")
	}
	if t := a.TLS; t != nil {
		out.TLS = APITLS{CertFile: deref(t.CertFile), KeyFile: deref(t.KeyFile), ClientCAFile: deref(t.ClientCAFile)}
		if out.TLS.CertFile == "" || out.TLS.KeyFile == "" {
			v.errorf(t.DefRange, "Incomplete API certificate",
				"the API serves HTTPS with cert_file and key_file; set both (client_ca_file alone cannot work)")
		}
	}
	return out
}

func (v *validator) telemetry(t *telemetryBlock) Telemetry {
	out := Telemetry{
		MetricsPrefix:           DefaultMetricsPrefix,
		DisableHostname:         boolOr(t.DisableHostname, DefaultDisableHostname),
		PrometheusRetentionTime: v.duration(t.PrometheusRetentionTime, t.PrometheusRetentionTimeRange, DefaultPrometheusRetentionTime, true),
		StatsdAddress:           deref(t.StatsdAddress),
		DogstatsdAddr:           deref(t.DogstatsdAddr),
	}
	if t.MetricsPrefix != nil {
		out.MetricsPrefix = *t.MetricsPrefix
		if !listenerName.MatchString(out.MetricsPrefix) {
			v.errorf(t.MetricsPrefixRange, "Invalid metrics prefix", "%q: use letters, digits, '_', '-' and '.'", out.MetricsPrefix)
		}
	}
	if t.DogstatsdTags != nil {
		out.DogstatsdTags = *t.DogstatsdTags
	}
	for _, a := range []struct {
		s *string
		r hcl.Range
	}{{t.StatsdAddress, t.StatsdAddressRange}, {t.DogstatsdAddr, t.DogstatsdAddrRange}} {
		if a.s != nil {
			if _, _, err := net.SplitHostPort(*a.s); err != nil {
				v.errorf(a.r, "Invalid address", `%q is not host:port (use e.g. "127.0.0.1:8125")`, *a.s)
			}
		}
	}
	return out
}

func (v *validator) accessLog(l *accessLogBlock) AccessLog {
	out := AccessLog{Path: deref(l.Path), Format: DefaultAccessLogFormat}
	if l.Path == nil || strings.TrimSpace(out.Path) == "" {
		r := l.DefRange
		if l.Path != nil {
			r = l.PathRange
		}
		v.errorf(r, "Missing access log path", `set path to a file, or "-" for standard output; remove the block to log nothing`)
	}
	if l.Format != nil {
		out.Format = *l.Format
		v.oneOf(out.Format, l.FormatRange, "access log format", logFormat)
	}
	return out
}

func (v *validator) registerSelf(r *registerSelfBlock) RegisterSelf {
	out := RegisterSelf{
		Enabled: true,
		Service: DefaultRegisterSelfService,
		ID:      deref(r.ID),
		Address: deref(r.Address),
		TTL:     v.duration(r.TTL, r.TTLRange, DefaultRegisterSelfTTL, false),
	}
	if r.Service != nil {
		out.Service = *r.Service
		if !listenerName.MatchString(out.Service) {
			v.errorf(r.ServiceRange, "Invalid service name", "%q: use letters, digits, '_', '-' and '.'", out.Service)
		}
	}
	if r.Address != nil {
		if _, err := netip.ParseAddr(out.Address); err != nil {
			v.errorf(r.AddressRange, "Invalid address", "%q is not an IP address", out.Address)
		}
	}
	if r.Tags != nil {
		out.Tags = *r.Tags
	}
	return out
}

func (v *validator) listener(lb *listenerBlock) Listener {
	l := Listener{
		Name:           lb.Name,
		Protocol:       DefaultProtocol,
		Balance:        DefaultBalance,
		ConnectTimeout: v.duration(lb.ConnectTimeout, lb.ConnectTimeoutRange, DefaultConnectTimeout, false),
		IdleTimeout:    v.duration(lb.IdleTimeout, lb.IdleTimeoutRange, DefaultIdleTimeout, true),
		MaxConnections: DefaultMaxConnections,
		DrainTimeout:   v.duration(lb.DrainTimeout, lb.DrainTimeoutRange, DefaultDrainTimeout, true),
		OnUnhealthy:    DefaultOnUnhealthy,
		Tries:          v.count(lb.Tries, lb.TriesRange, "tries", DefaultTries),
		NextTimeout:    v.duration(lb.NextTimeout, lb.NextTimeoutRange, DefaultNextTimeout, true),
		MaxFails:       v.count(lb.MaxFails, lb.MaxFailsRange, "max_fails", DefaultMaxFails),
		FailTimeout:    v.duration(lb.FailTimeout, lb.FailTimeoutRange, DefaultFailTimeout, false),
		MaxConns:       v.count(lb.MaxConns, lb.MaxConnsRange, "max_conns", DefaultMaxConns),
		SlowStart:      v.duration(lb.SlowStart, lb.SlowStartRange, DefaultSlowStart, true),
	}
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
	if lb.MaxConnections != nil {
		l.MaxConnections = *lb.MaxConnections
		if l.MaxConnections < 0 {
			v.errorf(lb.MaxConnectionsRange, "Invalid max_connections",
				"%d is negative; use 0 for no limit", l.MaxConnections)
		}
	}

	if u := lb.Upstream; u == nil {
		v.errorf(lb.DefRange, "Missing upstream block",
			`listener %q needs an upstream block: upstream { service = "pinpoint-collector" } or upstream { servers = ["ip:port", ...] }`, l.Name)
	} else {
		l.Upstream = v.upstream(u)
	}

	if r := lb.Rebalance; r != nil {
		if l.Protocol != "tcp" {
			v.errorf(r.DefRange, "Unexpected rebalance block",
				"listener %q has protocol %q; rebalancing moves TCP connections", l.Name, l.Protocol)
		}
		l.Rebalance = v.rebalance(r)
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
	v.protocolRules(lb, l)
	return l
}

func (v *validator) upstream(u *upstreamBlock) Upstream {
	out := Upstream{
		Servers:    u.Servers,
		Service:    deref(u.Service),
		Datacenter: deref(u.Datacenter),
		Filter:     deref(u.Filter),
		PortMeta:   deref(u.PortMeta),
		BackupTag:  deref(u.BackupTag),
		BackupMeta: deref(u.BackupMeta),
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

// count reads an optional non-negative number.
func (v *validator) count(n *int, r hcl.Range, what string, def int) int {
	if n == nil {
		return def
	}
	if *n < 0 {
		v.errorf(r, "Invalid "+what, "%d is negative; use 0 to turn it off", *n)
	}
	return *n
}

func (v *validator) udp(u *udpBlock) UDP {
	out := UDP{
		Mode:           DefaultUDPMode,
		SessionTimeout: v.duration(u.SessionTimeout, u.SessionTimeoutRange, DefaultSessionTimeout, false),
		Responses:      DefaultResponses,
		MaxSessions:    DefaultMaxSessions,
	}
	if u.Mode != nil {
		out.Mode = *u.Mode
		v.oneOf(out.Mode, u.ModeRange, "UDP mode", udpModes)
	}
	if u.Responses != nil {
		out.Responses = *u.Responses
		if out.Responses < 0 {
			v.errorf(u.ResponsesRange, "Invalid responses", "%d is negative; use 0 for no limit", out.Responses)
		}
	}
	if u.MaxSessions != nil {
		out.MaxSessions = *u.MaxSessions
		if out.MaxSessions < 1 {
			v.errorf(u.MaxSessionsRange, "Invalid max_sessions", "%d is below 1; each client address needs a session", out.MaxSessions)
		}
	}
	return out
}

// validator collects diagnostics.
type validator struct {
	diags hcl.Diagnostics
}

func (v *validator) errorf(r hcl.Range, summary, format string, args ...any) {
	v.diags = append(v.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  r.Ptr(),
	})
}

// duration parses an optional duration string; zero is allowed only when
// allowZero says so (it then means "disabled").
func (v *validator) duration(s *string, r hcl.Range, def time.Duration, allowZero bool) time.Duration {
	if s == nil {
		return def
	}
	d, err := time.ParseDuration(*s)
	switch {
	case err != nil:
		v.errorf(r, "Invalid duration", `%q is not a duration (use e.g. "5s", "250ms" or "10m")`, *s)
	case d < 0:
		v.errorf(r, "Invalid duration", "%q is negative", *s)
	case d == 0 && !allowZero:
		v.errorf(r, "Invalid duration", "%q must be greater than zero", *s)
	}
	return d
}

func (v *validator) oneOf(s string, r hcl.Range, what string, allowed []string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.errorf(r, "Invalid "+what, "%q is not a %s; use one of: %s", s, what, strings.Join(allowed, ", "))
}

// hostPort checks a bind address: an IP literal or empty host, and a port.
func (v *validator) hostPort(s string, r hcl.Range, allowPortZero bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.errorf(r, "Invalid address", `%q is not host:port (use e.g. "0.0.0.0:9991" or "[::1]:9991")`, s)
		return
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			v.errorf(r, "Invalid address", "%q is not an IP address; bind addresses take an IP, or nothing for all interfaces", host)
		}
	}
	p, err := strconv.Atoi(port)
	min := 1
	if allowPortZero {
		min = 0
	}
	if err != nil || p < min || p > 65535 {
		v.errorf(r, "Invalid port", "%q is not a port from %d to 65535", port, min)
	}
}

// position formats where a range starts as file:line:col.
func position(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
