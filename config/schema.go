package config

import "github.com/hashicorp/hcl/v2"

// The user layer: what one file says, decoded by gohcl. Pointers tell "unset"
// from a zero value, and each attribute keeps the source range of its value
// so that Validate can point at it.

type fileConfig struct {
	LogLevel             *string   `hcl:"log_level,optional"`
	LogLevelRange        hcl.Range `hcl:"log_level,attr_value_range"`
	LogJSON              *bool     `hcl:"log_json,optional"`
	ShutdownTimeout      *string   `hcl:"shutdown_timeout,optional"`
	ShutdownTimeoutRange hcl.Range `hcl:"shutdown_timeout,attr_value_range"`
	Allow                *[]string `hcl:"allow,optional"`
	AllowRange           hcl.Range `hcl:"allow,attr_value_range"`
	Deny                 *[]string `hcl:"deny,optional"`
	DenyRange            hcl.Range `hcl:"deny,attr_value_range"`

	Consul       *consulBlock       `hcl:"consul,block"`
	API          *apiBlock          `hcl:"api,block"`
	Telemetry    *telemetryBlock    `hcl:"telemetry,block"`
	AccessLog    *accessLogBlock    `hcl:"access_log,block"`
	RegisterSelf *registerSelfBlock `hcl:"register_self,block"`
	Listeners    []*listenerBlock   `hcl:"listener,block"`
}

type consulBlock struct {
	Address          *string         `hcl:"address,optional"`
	AddressRange     hcl.Range       `hcl:"address,attr_value_range"`
	Datacenter       *string         `hcl:"datacenter,optional"`
	Token            *string         `hcl:"token,optional"`
	TokenRange       hcl.Range       `hcl:"token,attr_value_range"`
	TokenFile        *string         `hcl:"token_file,optional"`
	TokenFileRange   hcl.Range       `hcl:"token_file,attr_value_range"`
	StaleTTL         *string         `hcl:"stale_ttl,optional"`
	StaleTTLRange    hcl.Range       `hcl:"stale_ttl,attr_value_range"`
	ResyncHold       *string         `hcl:"resync_hold,optional"`
	ResyncHoldRange  hcl.Range       `hcl:"resync_hold,attr_value_range"`
	Consistency      *string         `hcl:"consistency,optional"`
	ConsistencyRange hcl.Range       `hcl:"consistency,attr_value_range"`
	TLS              *consulTLSBlock `hcl:"tls,block"`
}

type consulTLSBlock struct {
	CAFile     *string   `hcl:"ca_file,optional"`
	CertFile   *string   `hcl:"cert_file,optional"`
	KeyFile    *string   `hcl:"key_file,optional"`
	ServerName *string   `hcl:"server_name,optional"`
	DefRange   hcl.Range `hcl:",def_range"`
}

type apiBlock struct {
	Enabled        *bool        `hcl:"enabled,optional"`
	Address        *string      `hcl:"address,optional"`
	AddressRange   hcl.Range    `hcl:"address,attr_value_range"`
	Token          *string      `hcl:"token,optional"`
	TokenRange     hcl.Range    `hcl:"token,attr_value_range"`
	TokenFile      *string      `hcl:"token_file,optional"`
	TokenFileRange hcl.Range    `hcl:"token_file,attr_value_range"`
	EnablePprof    *bool        `hcl:"enable_pprof,optional"`
	TLS            *apiTLSBlock `hcl:"tls,block"`
}

type apiTLSBlock struct {
	CertFile     *string   `hcl:"cert_file,optional"`
	KeyFile      *string   `hcl:"key_file,optional"`
	ClientCAFile *string   `hcl:"client_ca_file,optional"`
	DefRange     hcl.Range `hcl:",def_range"`
}

type telemetryBlock struct {
	MetricsPrefix                *string   `hcl:"metrics_prefix,optional"`
	MetricsPrefixRange           hcl.Range `hcl:"metrics_prefix,attr_value_range"`
	DisableHostname              *bool     `hcl:"disable_hostname,optional"`
	PrometheusRetentionTime      *string   `hcl:"prometheus_retention_time,optional"`
	PrometheusRetentionTimeRange hcl.Range `hcl:"prometheus_retention_time,attr_value_range"`
	StatsdAddress                *string   `hcl:"statsd_address,optional"`
	StatsdAddressRange           hcl.Range `hcl:"statsd_address,attr_value_range"`
	DogstatsdAddr                *string   `hcl:"dogstatsd_addr,optional"`
	DogstatsdAddrRange           hcl.Range `hcl:"dogstatsd_addr,attr_value_range"`
	DogstatsdTags                *[]string `hcl:"dogstatsd_tags,optional"`
}

type accessLogBlock struct {
	Path        *string   `hcl:"path,optional"`
	PathRange   hcl.Range `hcl:"path,attr_value_range"`
	Format      *string   `hcl:"format,optional"`
	FormatRange hcl.Range `hcl:"format,attr_value_range"`
	DefRange    hcl.Range `hcl:",def_range"`
}

type registerSelfBlock struct {
	Service        *string   `hcl:"service,optional"`
	ServiceRange   hcl.Range `hcl:"service,attr_value_range"`
	ID             *string   `hcl:"id,optional"`
	Address        *string   `hcl:"address,optional"`
	AddressRange   hcl.Range `hcl:"address,attr_value_range"`
	Tags           *[]string `hcl:"tags,optional"`
	TTL            *string   `hcl:"ttl,optional"`
	TTLRange       hcl.Range `hcl:"ttl,attr_value_range"`
	LeaveWait      *string   `hcl:"leave_wait,optional"`
	LeaveWaitRange hcl.Range `hcl:"leave_wait,attr_value_range"`
	DefRange       hcl.Range `hcl:",def_range"`
}

type listenerBlock struct {
	Name      string    `hcl:"name,label"`
	NameRange hcl.Range `hcl:"name,label_range"`
	DefRange  hcl.Range `hcl:",def_range"`

	Protocol            *string   `hcl:"protocol,optional"`
	ProtocolRange       hcl.Range `hcl:"protocol,attr_value_range"`
	Address             *string   `hcl:"address,optional"`
	AddressRange        hcl.Range `hcl:"address,attr_value_range"`
	Balance             *string   `hcl:"balance,optional"`
	BalanceRange        hcl.Range `hcl:"balance,attr_value_range"`
	ConnectTimeout      *string   `hcl:"connect_timeout,optional"`
	ConnectTimeoutRange hcl.Range `hcl:"connect_timeout,attr_value_range"`
	IdleTimeout         *string   `hcl:"idle_timeout,optional"`
	IdleTimeoutRange    hcl.Range `hcl:"idle_timeout,attr_value_range"`
	MaxConnections      *int      `hcl:"max_connections,optional"`
	MaxConnectionsRange hcl.Range `hcl:"max_connections,attr_value_range"`
	DrainTimeout        *string   `hcl:"drain_timeout,optional"`
	DrainTimeoutRange   hcl.Range `hcl:"drain_timeout,attr_value_range"`
	OnUnhealthy         *string   `hcl:"on_unhealthy,optional"`
	OnUnhealthyRange    hcl.Range `hcl:"on_unhealthy,attr_value_range"`
	Tries               *int      `hcl:"tries,optional"`
	TriesRange          hcl.Range `hcl:"tries,attr_value_range"`
	NextTimeout         *string   `hcl:"next_timeout,optional"`
	NextTimeoutRange    hcl.Range `hcl:"next_timeout,attr_value_range"`
	MaxFails            *int      `hcl:"max_fails,optional"`
	MaxFailsRange       hcl.Range `hcl:"max_fails,attr_value_range"`
	FailTimeout         *string   `hcl:"fail_timeout,optional"`
	FailTimeoutRange    hcl.Range `hcl:"fail_timeout,attr_value_range"`
	MaxConns            *int      `hcl:"max_conns,optional"`
	MaxConnsRange       hcl.Range `hcl:"max_conns,attr_value_range"`
	SlowStart           *string   `hcl:"slow_start,optional"`
	SlowStartRange      hcl.Range `hcl:"slow_start,attr_value_range"`
	Allow               *[]string `hcl:"allow,optional"`
	AllowRange          hcl.Range `hcl:"allow,attr_value_range"`
	Deny                *[]string `hcl:"deny,optional"`
	DenyRange           hcl.Range `hcl:"deny,attr_value_range"`
	HTTP2GoAway         *bool     `hcl:"http2_goaway,optional"`
	HTTP2GoAwayRange    hcl.Range `hcl:"http2_goaway,attr_value_range"`
	GRPCEndCalls        *bool     `hcl:"grpc_end_calls,optional"`
	GRPCEndCallsRange   hcl.Range `hcl:"grpc_end_calls,attr_value_range"`
	BufferSize          *string   `hcl:"buffer_size,optional"`
	BufferSizeRange     hcl.Range `hcl:"buffer_size,attr_value_range"`

	Rebalance     *rebalanceBlock     `hcl:"rebalance,block"`
	ProxyProtocol *proxyProtocolBlock `hcl:"proxy_protocol,block"`
	Limits        *limitsBlock        `hcl:"limits,block"`
	TLS           *listenerTLSBlock   `hcl:"tls,block"`

	Upstream *upstreamBlock `hcl:"upstream,block"`
	UDP      *udpBlock      `hcl:"udp,block"`
}

type upstreamBlock struct {
	DefRange hcl.Range `hcl:",def_range"`

	Servers      []string  `hcl:"servers,optional"`
	ServersRange hcl.Range `hcl:"servers,attr_value_range"`

	Service             *string   `hcl:"service,optional"`
	ServiceRange        hcl.Range `hcl:"service,attr_value_range"`
	Datacenter          *string   `hcl:"datacenter,optional"`
	DatacenterRange     hcl.Range `hcl:"datacenter,attr_value_range"`
	Filter              *string   `hcl:"filter,optional"`
	FilterRange         hcl.Range `hcl:"filter,attr_value_range"`
	IncludeWarning      *bool     `hcl:"include_warning,optional"`
	IncludeWarningRange hcl.Range `hcl:"include_warning,attr_value_range"`
	PortMeta            *string   `hcl:"port_meta,optional"`
	PortMetaRange       hcl.Range `hcl:"port_meta,attr_value_range"`
	Port                *int      `hcl:"port,optional"`
	PortRange           hcl.Range `hcl:"port,attr_value_range"`
	BackupTag           *string   `hcl:"backup_tag,optional"`
	BackupTagRange      hcl.Range `hcl:"backup_tag,attr_value_range"`
	BackupMeta          *string   `hcl:"backup_meta,optional"`
	BackupMetaRange     hcl.Range `hcl:"backup_meta,attr_value_range"`
	ProxyProtocol       *string   `hcl:"proxy_protocol,optional"`
	ProxyProtocolRange  hcl.Range `hcl:"proxy_protocol,attr_value_range"`
}

type limitsBlock struct {
	DefRange               hcl.Range `hcl:",def_range"`
	MaxConnsPerSource      *int      `hcl:"max_conns_per_source,optional"`
	MaxConnsPerSourceRange hcl.Range `hcl:"max_conns_per_source,attr_value_range"`
	ConnRatePerSource      *float64  `hcl:"conn_rate_per_source,optional"`
	ConnRatePerSourceRange hcl.Range `hcl:"conn_rate_per_source,attr_value_range"`
	MaxSources             *int      `hcl:"max_sources,optional"`
	MaxSourcesRange        hcl.Range `hcl:"max_sources,attr_value_range"`
	DatagramRate           *float64  `hcl:"datagram_rate_per_source,optional"`
	DatagramRateRange      hcl.Range `hcl:"datagram_rate_per_source,attr_value_range"`
}

type listenerTLSBlock struct {
	DefRange              hcl.Range `hcl:",def_range"`
	CertFile              *string   `hcl:"cert_file,optional"`
	CertFileRange         hcl.Range `hcl:"cert_file,attr_value_range"`
	KeyFile               *string   `hcl:"key_file,optional"`
	KeyFileRange          hcl.Range `hcl:"key_file,attr_value_range"`
	ClientCAFile          *string   `hcl:"client_ca_file,optional"`
	ClientCAFileRange     hcl.Range `hcl:"client_ca_file,attr_value_range"`
	MinVersion            *string   `hcl:"min_version,optional"`
	MinVersionRange       hcl.Range `hcl:"min_version,attr_value_range"`
	ALPN                  *[]string `hcl:"alpn,optional"`
	ALPNRange             hcl.Range `hcl:"alpn,attr_value_range"`
	HandshakeTimeout      *string   `hcl:"handshake_timeout,optional"`
	HandshakeTimeoutRange hcl.Range `hcl:"handshake_timeout,attr_value_range"`
}

type proxyProtocolBlock struct {
	DefRange     hcl.Range `hcl:",def_range"`
	Accept       *bool     `hcl:"accept,optional"`
	AcceptRange  hcl.Range `hcl:"accept,attr_value_range"`
	Trusted      []string  `hcl:"trusted,optional"`
	TrustedRange hcl.Range `hcl:"trusted,attr_value_range"`
	Timeout      *string   `hcl:"timeout,optional"`
	TimeoutRange hcl.Range `hcl:"timeout,attr_value_range"`
}

type rebalanceBlock struct {
	DefRange         hcl.Range `hcl:",def_range"`
	Skew             *float64  `hcl:"skew,optional"`
	SkewRange        hcl.Range `hcl:"skew,attr_value_range"`
	MaxRate          *float64  `hcl:"max_rate,optional"`
	MaxRateRange     hcl.Range `hcl:"max_rate,attr_value_range"`
	MinIdle          *string   `hcl:"min_idle,optional"`
	MinIdleRange     hcl.Range `hcl:"min_idle,attr_value_range"`
	MaxWait          *string   `hcl:"max_wait,optional"`
	MaxWaitRange     hcl.Range `hcl:"max_wait,attr_value_range"`
	MaxLifetime      *string   `hcl:"max_lifetime,optional"`
	MaxLifetimeRange hcl.Range `hcl:"max_lifetime,attr_value_range"`
}

type udpBlock struct {
	DefRange            hcl.Range `hcl:",def_range"`
	Mode                *string   `hcl:"mode,optional"`
	ModeRange           hcl.Range `hcl:"mode,attr_value_range"`
	SessionTimeout      *string   `hcl:"session_timeout,optional"`
	SessionTimeoutRange hcl.Range `hcl:"session_timeout,attr_value_range"`
	Responses           *int      `hcl:"responses,optional"`
	ResponsesRange      hcl.Range `hcl:"responses,attr_value_range"`
	MaxSessions         *int      `hcl:"max_sessions,optional"`
	MaxSessionsRange    hcl.Range `hcl:"max_sessions,attr_value_range"`
}
