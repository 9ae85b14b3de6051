package agent

import (
	"cmp"
	"github.com/pinlb/pinlb/internal/pinpoint"
	"net/netip"
	"slices"
	"time"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/proxy"
	"github.com/pinlb/pinlb/version"
)

// Status is the agent's own state, as /v1/status reports it.
type Status struct {
	Version       string       `json:"version"`
	Started       time.Time    `json:"started"`
	UptimeSeconds float64      `json:"uptime_seconds"`
	ConfigFiles   []string     `json:"config_files"`
	Listeners     int          `json:"listeners"`
	Reloads       uint64       `json:"reloads"`
	ReloadErrors  uint64       `json:"reload_errors"`
	LastReload    *ReloadEvent `json:"last_reload,omitempty"`
	Consul        ConsulStatus `json:"consul"`
}

// ReloadEvent is the outcome of the last reload.
type ReloadEvent struct {
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
}

// ConsulStatus is the state of the conversation with Consul: one watch per
// distinct query.
type ConsulStatus struct {
	// Used is set when a listener forwards to a Consul service.
	Used bool `json:"used"`
	// Address is what the Consul client talks to.
	Address string `json:"address,omitempty"`
	// Reachable is set when every watch's last call succeeded.
	Reachable bool `json:"reachable"`
	// Consistency is the read mode of the watches (consul { consistency }).
	Consistency string `json:"consistency"`
	// Stale is set when a watch has been unable to reach Consul for
	// longer than stale_ttl, or Consul answers without a leader: its pools
	// may be out of date.
	Stale   bool          `json:"stale"`
	Watches []WatchStatus `json:"watches"`
}

// WatchStatus is one Consul watch.
type WatchStatus struct {
	Service     string    `json:"service"`
	Datacenter  string    `json:"datacenter,omitempty"`
	Filter      string    `json:"filter,omitempty"`
	Reachable   bool      `json:"reachable"`
	LastContact time.Time `json:"last_contact"`
	Since       time.Time `json:"since"` // of the current reachable or unreachable state
	LastError   string    `json:"last_error,omitempty"`
	Stale       bool      `json:"stale"`
	NoLeader    bool      `json:"no_leader"` // Consul answers, but its servers have no leader
	ACLFiltered bool      `json:"acl_filtered"`
	// ACLProblem says why answers are not applied, while ACLFiltered.
	ACLProblem string `json:"acl_problem,omitempty"`
	Instances  int    `json:"instances"` // in the last answer applied, held ones included
	// HeldInstances are instances Consul stopped listing right after a
	// resync, kept in the pools until HoldUntil (consul { resync_hold }).
	HeldInstances int        `json:"held_instances"`
	HoldUntil     *time.Time `json:"hold_until,omitempty"`
}

// ListenerStatus is one listener, its pool and its counters.
type ListenerStatus struct {
	Name      string           `json:"name"`
	Protocol  string           `json:"protocol"`
	Address   string           `json:"address"` // as bound
	Balance   string           `json:"balance"`
	Upstream  string           `json:"upstream"`
	Edge      EdgeStatus       `json:"edge"`
	Pool      PoolCounts       `json:"pool"`
	Counters  proxy.Stats      `json:"counters"`
	Endpoints []EndpointStatus `json:"endpoints"`
	// Warnings are what an operator should know of the pool: that it
	// mixes Pinpoint versions whose agents and collectors do not agree.
	Warnings []string `json:"warnings"`
}

// EdgeStatus is what a listener accepts from the network in front and
// sends its backends besides the bytes.
type EdgeStatus struct {
	// AcceptProxy: connections from Trusted peers must start with a
	// PROXY header, read within ProxyTimeout.
	AcceptProxy  bool     `json:"accept_proxy_protocol"`
	Trusted      []string `json:"proxy_protocol_trusted"`
	ProxyTimeout string   `json:"proxy_protocol_timeout,omitempty"`
	// SendProxy is the PROXY version sent to backends, "" for none.
	SendProxy string `json:"send_proxy_protocol"`
	// Allow and Deny are the client blocks served and refused.
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
	// The per-source limits (limits {}); 0 means none.
	MaxConnsPerSource int     `json:"max_conns_per_source"`
	ConnRatePerSource float64 `json:"conn_rate_per_source"`
	MaxSources        int     `json:"max_sources"`
	// TLS is the listener's tls {}, when it terminates TLS.
	TLS *TLSStatus `json:"tls,omitempty"`
}

// TLSStatus is what a TLS listener serves: the files, read at the last
// load or reload, and the certificate they held.
type TLSStatus struct {
	CertFile         string    `json:"cert_file"`
	ClientCAFile     string    `json:"client_ca_file"` // "" when client certificates are not asked for
	MinVersion       string    `json:"min_version"`
	ALPN             []string  `json:"alpn"`
	HandshakeTimeout string    `json:"handshake_timeout"`
	Subject          string    `json:"subject"`   // the certificate's, e.g. CN=collector.example
	DNSNames         []string  `json:"dns_names"` // the names it is valid for
	NotAfter         time.Time `json:"not_after"` // when it expires
}

// tlsStatus reports a listener's tls {}; nil for a plain one.
func tlsStatus(t config.TLS) *TLSStatus {
	if t.Certificate == nil {
		return nil
	}
	leaf := t.Certificate.Leaf
	return &TLSStatus{
		CertFile: t.CertFile, ClientCAFile: t.ClientCAFile, MinVersion: t.MinVersion, ALPN: t.ALPN,
		HandshakeTimeout: t.HandshakeTimeout.String(),
		Subject:          leaf.Subject.String(), DNSNames: leaf.DNSNames, NotAfter: leaf.NotAfter,
	}
}

// edgeStatus reports l's edge settings.
func edgeStatus(l config.Listener) EdgeStatus {
	e := EdgeStatus{
		AcceptProxy: l.ProxyProtocol.Accept, Trusted: prefixStrings(l.ProxyProtocol.Trusted),
		SendProxy: l.Upstream.ProxyProtocol, Allow: prefixStrings(l.Access.Allow), Deny: prefixStrings(l.Access.Deny),
		MaxConnsPerSource: l.Limits.MaxConnsPerSource, ConnRatePerSource: l.Limits.ConnRatePerSource, MaxSources: l.Limits.MaxSources,
		TLS: tlsStatus(l.TLS),
	}
	if e.AcceptProxy {
		e.ProxyTimeout = l.ProxyProtocol.Timeout.String()
	}
	return e
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// PoolCounts counts a listener's endpoints by state.
type PoolCounts struct {
	Active   int `json:"active"`
	Draining int `json:"draining"`
	Out      int `json:"out"`
}

// EndpointStatus is one endpoint: where it is, its state and why, and its
// traffic.
type EndpointStatus struct {
	ID        string `json:"id"`
	Address   string `json:"address"`
	Node      string `json:"node,omitempty"`
	ServiceID string `json:"service_id,omitempty"`
	// PinpointVersion is the collector's, from its meta (pinlb register's
	// -pinpoint, or the generation its ports showed).
	PinpointVersion string `json:"pinpoint_version,omitempty"`
	Weight          int    `json:"weight"`
	Backup          bool   `json:"backup"`
	// State is active, draining or out; Reasons say why it is not simply
	// active: consul:critical, consul:warning, consul:maintenance,
	// consul:deregistered, consul:held (active, though Consul stopped
	// listing it, right after a resync), passive:N failures, slow_start N%,
	// max_conns N, no port in meta KEY, address is not an IP, removed by
	// reload.
	State   string     `json:"state"`
	Reasons []string   `json:"reasons"`
	Since   time.Time  `json:"since"`
	Until   *time.Time `json:"until,omitempty"` // when passive health lets it back

	Active          int64  `json:"active"` // open TCP connections, or UDP sessions bound to it
	Connections     uint64 `json:"connections"`
	ConnectFailures uint64 `json:"connect_failures"`
	BytesIn         uint64 `json:"bytes_in"`
	BytesOut        uint64 `json:"bytes_out"`
	DatagramsIn     uint64 `json:"datagrams_in"`
	DatagramsOut    uint64 `json:"datagrams_out"`
}

// outMark is an instance Consul lists that the listener does not use, and
// since when, for the API.
type outMark struct {
	inst   discovery.Instance
	addr   string
	reason string
	since  time.Time
}

// Status returns the agent's own state.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Status{
		Version:       version.String(),
		Started:       a.startedAt,
		UptimeSeconds: time.Since(a.startedAt).Seconds(),
		ConfigFiles:   a.cfg.Files,
		Listeners:     len(a.running),
		Reloads:       a.reloads,
		ReloadErrors:  a.reloadErrors,
		LastReload:    a.lastReload,
		Consul: ConsulStatus{
			Used: a.consul.client != nil && a.watching(), Consistency: a.cfg.Consul.Consistency, Reachable: true, Watches: []WatchStatus{},
		},
	}
	if s.ConfigFiles == nil {
		s.ConfigFiles = []string{}
	}
	if s.Consul.Used {
		s.Consul.Address = a.consul.client.Address()
	}
	for k, f := range a.feeds {
		if !k.consul() {
			continue
		}
		q, st := k.query, f.src.Status()
		s.Consul.Reachable = s.Consul.Reachable && st.Reachable
		s.Consul.Stale = s.Consul.Stale || st.Stale
		ws := WatchStatus{
			Service: q.Service, Datacenter: q.Datacenter, Filter: q.Filter,
			Reachable: st.Reachable, LastContact: st.LastContact, Since: st.Since, LastError: st.LastError,
			Stale: st.Stale, NoLeader: st.NoLeader, ACLFiltered: st.ACLFiltered, ACLProblem: st.ACLProblem, Instances: f.instances(),
			HeldInstances: st.Held,
		}
		if st.Held > 0 {
			ws.HoldUntil = &st.HoldUntil
		}
		s.Consul.Watches = append(s.Consul.Watches, ws)
	}
	s.Consul.Reachable = s.Consul.Reachable && s.Consul.Used
	slices.SortFunc(s.Consul.Watches, func(x, y WatchStatus) int { return cmp.Compare(x.Service+x.Filter, y.Service+y.Filter) })
	return s
}

// watching reports whether a Consul watch runs. a.mu is held.
func (a *Agent) watching() bool {
	for k := range a.feeds {
		if k.consul() {
			return true
		}
	}
	return false
}

// Listeners returns every running listener, sorted by name.
func (a *Agent) Listeners() []ListenerStatus {
	a.mu.Lock()
	ls := make([]*listener, 0, len(a.running))
	for _, l := range a.running {
		ls = append(ls, l)
	}
	a.mu.Unlock()
	out := make([]ListenerStatus, len(ls))
	for i, l := range ls {
		out[i] = l.status()
	}
	slices.SortFunc(out, func(x, y ListenerStatus) int { return cmp.Compare(x.Name, y.Name) })
	return out
}

// Listener returns the named listener, if it runs.
func (a *Agent) Listener(name string) (ListenerStatus, bool) {
	a.mu.Lock()
	var found *listener
	for _, l := range a.running {
		if l.cfg.Name == name {
			found = l
		}
	}
	a.mu.Unlock()
	if found == nil {
		return ListenerStatus{}, false
	}
	return found.status(), true
}

func (l *listener) status() ListenerStatus {
	counters, eps := l.pl.Status()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := ListenerStatus{
		Name:      l.cfg.Name,
		Protocol:  l.cfg.Protocol,
		Address:   l.pl.Addr().String(),
		Balance:   l.cfg.Balance,
		Upstream:  upstreamString(l.cfg.Upstream),
		Edge:      edgeStatus(l.cfg),
		Counters:  counters,
		Endpoints: make([]EndpointStatus, 0, len(eps)+len(l.out)),
		Warnings:  []string{},
	}
	listed := map[string]bool{}
	for _, st := range eps {
		e := EndpointStatus{
			ID: st.ID, Address: st.Addr.String(), Weight: st.Weight, Backup: st.Backup,
			State: st.State, Reasons: st.Reasons, Since: st.Since,
			Active: st.Active, Connections: st.Connections, ConnectFailures: st.ConnectFailures,
			BytesIn: st.BytesIn, BytesOut: st.BytesOut, DatagramsIn: st.DatagramsIn, DatagramsOut: st.DatagramsOut,
		}
		if !st.Until.IsZero() {
			e.Until = &st.Until
		}
		if why := l.whyLeft(st); why != "" {
			e.Reasons = append([]string{why}, e.Reasons...)
		}
		if m, ok := l.out[st.ID]; ok {
			e.Node, e.ServiceID, e.PinpointVersion = m.inst.Node, m.inst.ServiceID, m.inst.Meta[pinpoint.MetaVersion]
			listed[st.ID] = true
		} else if inst, ok := l.instances[st.ID]; ok {
			e.Node, e.ServiceID, e.PinpointVersion = inst.Node, inst.ServiceID, inst.Meta[pinpoint.MetaVersion]
			if inst.Held {
				e.Reasons = append([]string{reasonHeld}, e.Reasons...)
			}
		}
		s.Endpoints = append(s.Endpoints, e)
	}
	for id, m := range l.out {
		if listed[id] {
			continue
		}
		s.Endpoints = append(s.Endpoints, EndpointStatus{
			ID: id, Address: m.addr, Node: m.inst.Node, ServiceID: m.inst.ServiceID, PinpointVersion: m.inst.Meta[pinpoint.MetaVersion],
			State: proxy.StateOut, Reasons: []string{m.reason}, Since: m.since,
		})
	}
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		if e.Reasons == nil {
			e.Reasons = []string{}
		}
		switch e.State {
		case proxy.StateActive:
			s.Pool.Active++
		case proxy.StateDraining:
			s.Pool.Draining++
		default:
			s.Pool.Out++
		}
	}
	if l.versionWarning != "" {
		s.Warnings = append(s.Warnings, l.versionWarning)
	}
	slices.SortFunc(s.Endpoints, func(x, y EndpointStatus) int { return cmp.Compare(x.ID, y.ID) })
	return s
}

// reasonHeld marks an endpoint the resync hold keeps.
const reasonHeld = "consul:held"

// whyLeft says why an endpoint takes no new traffic when the reason is
// Consul's or the configuration's, not the proxy's own.
func (l *listener) whyLeft(st proxy.EndpointStatus) string {
	if m, ok := l.out[st.ID]; ok {
		return m.reason
	}
	switch {
	case st.Draining:
		return "consul:" + discovery.Maintenance
	case !st.Left:
		return ""
	case l.cfg.Upstream.Service != "":
		return "consul:deregistered"
	}
	return "removed by reload"
}
