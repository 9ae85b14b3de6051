package config

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"time"
)

// Config is the finalized, validated configuration handed to the rest of
// pinlb. It holds plain values: every default has been applied.
type Config struct {
	// Files lists the files the configuration was read from, in merge order.
	Files []string

	LogLevel        string
	LogJSON         bool
	ShutdownTimeout time.Duration

	Consul       Consul
	API          API
	Telemetry    Telemetry
	AccessLog    AccessLog
	RegisterSelf RegisterSelf

	// Listeners are sorted by name.
	Listeners []Listener
}

// Consul holds the consul {} block. Empty strings mean "use the Consul API
// client's default", which honours the CONSUL_* environment variables.
type Consul struct {
	Address    string
	Datacenter string
	// Token is the token, or what token_file holds: read at every load,
	// so that a reload picks up a rotated file.
	Token      string
	TokenFile  string
	TLS        ConsulTLS
	StaleTTL   time.Duration
	ResyncHold time.Duration
	// Consistency is how the watches read: ConsistencyLeader,
	// ConsistencyStale or ConsistencyStreaming.
	Consistency string
}

// ConsulTLS holds the consul { tls {} } block.
type ConsulTLS struct {
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
}

// API holds the api {} block.
type API struct {
	Enabled bool
	Address string
	// Token, when set, must be presented by every request (token_file has
	// been read into it).
	Token       string
	EnablePprof bool
	TLS         APITLS
}

// APITLS holds the api { tls {} } block. CertFile and KeyFile make the API
// serve HTTPS; ClientCAFile then requires client certificates it signed.
type APITLS struct {
	CertFile     string
	KeyFile      string
	ClientCAFile string
}

// Telemetry holds the telemetry {} block, shaped like Consul's.
type Telemetry struct {
	MetricsPrefix   string
	DisableHostname bool
	// PrometheusRetentionTime keeps a series in /v1/metrics this long
	// after its last update; 0 turns the Prometheus output off.
	PrometheusRetentionTime time.Duration
	StatsdAddress           string
	DogstatsdAddr           string
	DogstatsdTags           []string
}

// AccessLog holds the access_log {} block. An empty Path disables it.
type AccessLog struct {
	Path   string // a file, or "-" for standard output
	Format string // "text", "json", or an nginx-style template with $variables
	// Template is Format split into its pieces, when it is a template.
	Template []LogSegment
}

// RegisterSelf holds the register_self {} block.
type RegisterSelf struct {
	Enabled bool
	Service string
	ID      string // empty: Service-hostname
	Address string // empty: the Consul agent's address
	Tags    []string
	TTL     time.Duration
	// LeaveWait is how long a stopping pinlb goes on serving as before
	// once it left Consul, so that DNS answers and caches that still
	// name it expire before it stops accepting.
	LeaveWait time.Duration
}

// Listener is one listener block: a TCP or UDP port and where it forwards.
type Listener struct {
	Name           string
	Protocol       string // "tcp" or "udp"
	Address        string // host:port to bind
	Balance        string
	ConnectTimeout time.Duration
	IdleTimeout    time.Duration // 0 disables
	MaxConnections int           // 0 means no limit
	DrainTimeout   time.Duration // 0: connections to a removed endpoint go on until they end
	OnUnhealthy    string        // "drain" or "close"
	Tries          int           // 0: each endpoint once
	NextTimeout    time.Duration // 0: no limit
	MaxFails       int           // 0 disables passive health
	FailTimeout    time.Duration
	MaxConns       int           // per endpoint; 0 means no limit
	SlowStart      time.Duration // 0 disables
	Rebalance      Rebalance     // TCP only; without the block, its min_idle and max_wait still time the moves of drains
	HTTP2GoAway    bool          // TCP only: h2c clients are moved by a GOAWAY of pinlb's
	GRPCEndCalls   bool          // with HTTP2GoAway: their calls that would not end are ended, status OK
	BufferSize     int           // TCP only: bytes of each socket buffer and splice pipe of a connection
	ProxyProtocol  ProxyProtocol // TCP only
	Access         Access        // the listener's allow and deny, else the top level's
	Limits         Limits        // TCP's, and UDP's datagram rate
	TLS            TLS           // TCP only; without a certificate, plain TCP
	Upstream       Upstream
	UDP            UDP // meaningful only when Protocol is "udp"
}

// Upstream says where a listener forwards to: static Servers, or the
// healthy instances of a Consul Service.
type Upstream struct {
	// Servers are static backends as "ip:port".
	Servers []string

	Service        string
	Datacenter     string // empty: the Consul agent's
	Filter         string // Consul filter expression
	IncludeWarning bool
	// The backend port: Service.Meta[PortMeta] when PortMeta is set, else
	// Port when it is not 0, else the service's port.
	PortMeta string
	Port     int
	// Backup instances serve only when no other can: those with BackupTag
	// among their tags, or whose meta has BackupMeta's key=value.
	BackupTag  string
	BackupMeta string
	// ProxyProtocol, "v1" or "v2", starts every backend connection with a
	// PROXY header carrying the client's address; "" sends none.
	ProxyProtocol string
}

// Access says which client addresses a listener serves: none in Deny, and,
// when Allow is set, only those in it.
type Access struct {
	Allow []netip.Prefix
	Deny  []netip.Prefix
}

// Limits holds the limits {} block: what one client address may take.
type Limits struct {
	MaxConnsPerSource int     // 0 means no limit
	ConnRatePerSource float64 // new connections a second; 0 means no limit
	MaxSources        int     // client addresses tracked; the least recently seen is forgotten beyond
	// DatagramRatePerSource: UDP datagrams a second per client address; 0
	// means no limit.
	DatagramRatePerSource float64
}

// TLS holds a TCP listener's tls {} block, its files read at load: every
// reload reads them again, which is how a renewed certificate is taken.
type TLS struct {
	CertFile, KeyFile string // empty: plain TCP
	// ClientCAFile, when set, makes client certificates required, verified
	// against the CAs it holds.
	ClientCAFile     string
	MinVersion       string   // "1.0" to "1.3"
	ALPN             []string // the application protocols offered, in order of preference
	HandshakeTimeout time.Duration

	// Read from the files.
	Certificate *tls.Certificate
	ClientCAs   *x509.CertPool
}

// ProxyProtocol holds the proxy_protocol {} block: PROXY headers accepted
// from the balancers in front.
type ProxyProtocol struct {
	Accept bool
	// Trusted peers must start their connections with a header; others'
	// connections are taken as they come. Required with Accept.
	Trusted []netip.Prefix
	Timeout time.Duration // to read the header
}

// Rebalance holds the rebalance {} block of a TCP listener.
type Rebalance struct {
	Enabled     bool
	Skew        float64
	MaxRate     float64
	MinIdle     time.Duration
	MaxWait     time.Duration // 0: never force
	MaxLifetime time.Duration // 0: none
}

// UDP holds the udp {} block of a UDP listener.
type UDP struct {
	Mode           string // "packet" or "session"
	SessionTimeout time.Duration
	Responses      int // session mode: end the session after this many replies; 0 means no limit
	MaxSessions    int
}

// The read modes of consul { consistency }.
const (
	// ConsistencyLeader reads through the leader: the freshest answers,
	// all of the load on one server.
	ConsistencyLeader = "leader"
	// ConsistencyStale lets any server answer from its own state: load
	// spread over the servers, answers while there is no leader.
	ConsistencyStale = "stale"
	// ConsistencyStreaming has the local Consul agent answer from its
	// streaming view (its cache, where streaming is off): one subscription
	// per agent and service, whatever the number of blocking queries.
	ConsistencyStreaming = "streaming"
)
