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

	Consul    *consulBlock     `hcl:"consul,block"`
	API       *apiBlock        `hcl:"api,block"`
	Listeners []*listenerBlock `hcl:"listener,block"`
}

type consulBlock struct {
	Address        *string         `hcl:"address,optional"`
	AddressRange   hcl.Range       `hcl:"address,attr_value_range"`
	Datacenter     *string         `hcl:"datacenter,optional"`
	Token          *string         `hcl:"token,optional"`
	TokenRange     hcl.Range       `hcl:"token,attr_value_range"`
	TokenFile      *string         `hcl:"token_file,optional"`
	TokenFileRange hcl.Range       `hcl:"token_file,attr_value_range"`
	StaleTTL       *string         `hcl:"stale_ttl,optional"`
	StaleTTLRange  hcl.Range       `hcl:"stale_ttl,attr_value_range"`
	TLS            *consulTLSBlock `hcl:"tls,block"`
}

type consulTLSBlock struct {
	CAFile     *string   `hcl:"ca_file,optional"`
	CertFile   *string   `hcl:"cert_file,optional"`
	KeyFile    *string   `hcl:"key_file,optional"`
	ServerName *string   `hcl:"server_name,optional"`
	DefRange   hcl.Range `hcl:",def_range"`
}

type apiBlock struct {
	Address      *string   `hcl:"address,optional"`
	AddressRange hcl.Range `hcl:"address,attr_value_range"`
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
