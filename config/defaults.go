package config

import "time"

// Defaults. Each one is documented in website/content/docs/configuration.md;
// change both together.
const (
	// DefaultLogLevel is the log level when neither log_level nor -log-level
	// is given.
	DefaultLogLevel = "info"

	// DefaultShutdownTimeout is how long SIGINT/SIGTERM waits for open
	// connections to finish before closing them.
	DefaultShutdownTimeout = 30 * time.Second

	// DefaultProtocol is a listener's protocol when protocol is not set.
	DefaultProtocol = "tcp"

	// DefaultBalance is a listener's balancing algorithm.
	DefaultBalance = "round_robin"

	// DefaultConnectTimeout bounds one connect attempt to a backend.
	DefaultConnectTimeout = 5 * time.Second

	// DefaultIdleTimeout closes a TCP connection that moved no byte in either
	// direction for this long. It is above the 5-minute ping of Pinpoint's
	// Thrift agent channel, so live agents are never cut.
	DefaultIdleTimeout = 10 * time.Minute

	// DefaultMaxConnections is the per-listener connection limit; 0 means no
	// limit other than the process's file descriptor limit.
	DefaultMaxConnections = 0

	// DefaultDrainTimeout is how long connections to an endpoint that left
	// the pool may go on; 0 lets them go on until they end by themselves.
	DefaultDrainTimeout = 0

	// DefaultOnUnhealthy drains the connections of an endpoint that fails
	// its checks or leaves Consul; "close" closes them at once.
	// Maintenance always drains.
	DefaultOnUnhealthy = "drain"

	// DefaultTries: each endpoint is tried once per connection (0).
	DefaultTries = 0

	// DefaultNextTimeout: no limit on the time for all tries (0).
	DefaultNextTimeout = 0

	// DefaultMaxFails failed connects within DefaultFailTimeout take an
	// endpoint out for DefaultFailTimeout, as in nginx. 0 disables it.
	DefaultMaxFails    = 1
	DefaultFailTimeout = 10 * time.Second

	// DefaultMaxConns: no per-endpoint connection limit (0).
	DefaultMaxConns = 0

	// DefaultMaxSources bounds the table of client addresses a listener's
	// per-source limits track: about 100 bytes each.
	DefaultMaxSources = 65536

	// DefaultProxyProtocolTimeout bounds the reading of a PROXY header.
	DefaultProxyProtocolTimeout = 5 * time.Second

	// DefaultTLSMinVersion is the oldest TLS version a listener accepts.
	DefaultTLSMinVersion = "1.2"
	// DefaultTLSHandshakeTimeout bounds a client's TLS handshake.
	DefaultTLSHandshakeTimeout = 10 * time.Second

	// DefaultSlowStart: no ramp-up for new endpoints (0).
	DefaultSlowStart = 0

	// Rebalance defaults, for a rebalance {} block that leaves them out.
	DefaultRebalanceSkew    = 1.2
	DefaultRebalanceMaxRate = 10.0
	DefaultRebalanceMinIdle = time.Second
	DefaultRebalanceMaxWait = 0

	// DefaultHTTP2GoAway: h2c clients (gRPC agents) are asked to move by a
	// GOAWAY frame rather than closed; other connections are not touched.
	DefaultHTTP2GoAway = true
	// DefaultGRPCEndCalls: after the GOAWAY, a gRPC call that would not end
	// by itself (Pinpoint's span and stat streams) is ended once quiet.
	DefaultGRPCEndCalls = true

	// DefaultBufferSize fixes each socket buffer and splice pipe of a TCP
	// connection at 512 KiB: a window that fills a 10 Gb/s link at 0.4 ms
	// of round trip, where the kernel's autotuning would grow the buffers
	// of a connection to a collector that stopped reading to megabytes
	// each. On loopback (make bench, paired runs) it moves bulk as fast as
	// autotuning or faster, for 0.42-0.49x nginx's CPU per GB against
	// 0.31-0.40x; 256 KiB cost 0.6x, 1 MiB 0.3-0.5x.
	DefaultBufferSize = 512 << 10
	// MinBufferSize and MaxBufferSize bound buffer_size: below a few pages
	// a connection crawls; above 64 MiB one stuck connection holds what a
	// host's every connection should.
	MinBufferSize = 4 << 10
	MaxBufferSize = 64 << 20

	// DefaultUDPMode balances every datagram: a Pinpoint agent sends from one
	// fixed source port, so a session would pin it to one collector forever.
	DefaultUDPMode = "packet"

	// DefaultSessionTimeout ends a UDP session (and frees its socket) after
	// this much silence in both directions.
	DefaultSessionTimeout = 30 * time.Second

	// DefaultResponses is the number of replies after which a session-mode
	// UDP session ends; 0 means no limit.
	DefaultResponses = 0

	// DefaultMaxSessions bounds the UDP session table of one listener. Each
	// session holds one socket.
	DefaultMaxSessions = 10000

	// DefaultConsulConsistency is how the watches read Consul, chosen from
	// the measurements in website/content/docs/consul.md, "Read modes".
	DefaultConsulConsistency = ConsistencyLeader

	// DefaultConsulStaleTTL is how long pools keep the last endpoints Consul
	// reported while Consul is unreachable.
	DefaultConsulStaleTTL = 10 * time.Minute

	// DefaultConsulResyncHold is how long, after Consul comes back or its
	// index goes backwards, instances it no longer lists stay in the pool:
	// client agents re-register their services by anti-entropy within
	// about a minute of a rebuilt Consul.
	DefaultConsulResyncHold = 2 * time.Minute

	// DefaultAPIAddress is where the HTTP API listens: loopback only.
	DefaultAPIAddress = "127.0.0.1:9700"
	// DefaultAPIEnabled: the API (and /ui) is served unless turned off.
	DefaultAPIEnabled = true

	// DefaultMetricsPrefix starts every metric name.
	DefaultMetricsPrefix = "pinlb"
	// DefaultDisableHostname keeps the host name out of metric names:
	// Prometheus and dogstatsd have labels for that.
	DefaultDisableHostname = true
	// DefaultPrometheusRetentionTime keeps a series in /v1/metrics for this
	// long after its last update, so an endpoint that left disappears.
	DefaultPrometheusRetentionTime = time.Minute

	// DefaultAccessLogFormat is one line of key=value pairs per connection.
	DefaultAccessLogFormat = "text"

	// DefaultRegisterSelfService is the Consul service pinlb registers as.
	DefaultRegisterSelfService = "pinlb"
	// DefaultRegisterSelfTTL is the TTL of the per-listener checks; pinlb
	// refreshes them three times per TTL.
	DefaultRegisterSelfTTL = 10 * time.Second
	// DefaultRegisterSelfLeaveWait: a stopping pinlb serves 5 s more after
	// it left Consul. Consul's DNS answers carry a TTL of 0 unless
	// dns_config sets one; 5 s covers a resolver's short cache and the
	// answers in flight.
	DefaultRegisterSelfLeaveWait = 5 * time.Second
)
