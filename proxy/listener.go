package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pinlb/pinlb/proxy/pool"
)

// Protocols.
const (
	TCP = "tcp"
	UDP = "udp"
)

// Unhealthy policies.
const (
	DrainConnections = "drain"
	CloseConnections = "close"
)

// UDP modes.
const (
	// PacketMode balances every datagram.
	PacketMode = "packet"
	// SessionMode keeps a client address on one backend until its session
	// ends.
	SessionMode = "session"
)

// Config describes one listener. The proxy applies no defaults: the caller
// passes every value.
type Config struct {
	Name     string
	Protocol string // TCP or UDP
	Address  string // host:port to bind
	Balance  string

	// Endpoint rules, for TCP connections and UDP datagrams alike.
	MaxFails    int           // failed connects within FailTimeout that take an endpoint out for FailTimeout; 0 disables
	FailTimeout time.Duration //
	MaxConns    int           // open connections (or sessions) per endpoint; 0 means no limit
	SlowStart   time.Duration // a new or recovered endpoint's share ramps up over this; 0 disables

	// TCP.
	ConnectTimeout time.Duration
	Tries          int           // connect attempts per connection, each on another endpoint; 0 tries each endpoint once
	NextTimeout    time.Duration // time for all attempts together; 0 means no limit
	IdleTimeout    time.Duration // no byte either way for this long closes a connection; 0 disables
	MaxConnections int           // 0 means no limit
	DrainTimeout   time.Duration // connections to an endpoint that left the pool are closed after this; 0 lets them end by themselves
	// BufferSize fixes the receive and send buffers of both sockets of a
	// connection and the size of its splice pipes (capBuffers): the most
	// the kernel holds for it in each place when a peer stops reading. 0
	// leaves the sockets to the kernel's autotuning and the pipes at
	// reactor.MaxPipeSize.
	BufferSize int
	// OnUnhealthy is what happens to the open connections of an endpoint
	// that leaves the pool: DrainConnections or CloseConnections. Draining
	// endpoints (maintenance) always drain.
	OnUnhealthy string
	Rebalance   RebalanceConfig
	// HTTP2GoAway moves h2c clients (plaintext HTTP/2, as gRPC agents
	// speak it) by asking them, with an HTTP/2 GOAWAY of pinlb's, instead
	// of closing their connection: calls in progress finish where they
	// are, and the next ones come on a new connection. Connections that
	// are not h2c are moved as before.
	HTTP2GoAway bool
	// GRPCEndCalls, with HTTP2GoAway, ends each call still open on an
	// asked connection once it is quiet for a moment, with a gRPC status
	// OK of pinlb's (h2c.EndCall): clients such as Pinpoint's agents keep
	// a stream open for minutes, and would never leave otherwise. For
	// gRPC only: an HTTP/2 client of another protocol would take it for
	// its server's answer.
	GRPCEndCalls bool
	// Access says which clients the listener serves, by their real address
	// (an accepted PROXY header's): TCP connections and UDP datagrams
	// from others are refused before any backend is dialled.
	Access AccessConfig
	// Limits bound what one client address may take.
	Limits LimitsConfig
	// ProxyProtocol is what the listener accepts of the PROXY protocol.
	ProxyProtocol ProxyProtocolConfig
	// SendProxyProtocol, ProxyV1 or ProxyV2, starts every backend
	// connection with a PROXY header carrying the client's address; ""
	// sends none.
	SendProxyProtocol string
	// TLS, when its Config is set, terminates TLS on every connection,
	// after its PROXY header and its admission, before any backend is
	// dialled.
	TLS TLSConfig

	// UDP.
	UDP UDPConfig

	// Recorder, if set, hears of every finished connection and session.
	Recorder Recorder
	// Events, if set, hears of what the proxy decides about endpoints
	// (passive health, drains, rebalance rounds), on the goroutine that
	// decided: it must not block.
	Events func(Event)
}

// PROXY protocol versions a listener sends.
const (
	ProxyV1 = "v1"
	ProxyV2 = "v2"
)

// ProxyProtocolConfig says which peers may put a PROXY protocol header
// (v1 or v2, told apart by its first bytes) before a connection's data.
type ProxyProtocolConfig struct {
	Accept bool
	// Trusted are the peers (the balancers in front) whose connections
	// must start with a header. A connection from any other peer is taken
	// as it comes: its address is the socket's, and its bytes go to the
	// backend unread, so no client can claim another's address.
	Trusted []netip.Prefix
	// Timeout bounds the reading of the header.
	Timeout time.Duration
}

// TLSConfig terminates TLS on a TCP listener.
type TLSConfig struct {
	// Config is the server's side: certificate, client CAs, versions. A
	// new one (Update) applies to the connections that come after; the open
	// ones keep theirs. nil: plain TCP.
	Config *tls.Config
	// HandshakeTimeout bounds the handshake.
	HandshakeTimeout time.Duration
}

// UDPConfig holds the UDP settings of a listener.
type UDPConfig struct {
	Mode           string        // PacketMode or SessionMode
	SessionTimeout time.Duration // silence in both directions that ends a session
	Responses      int           // session mode: replies that end a session; 0 means no limit
	MaxSessions    int           // bound on the session table; datagrams of new clients beyond it are dropped
}

// RebalanceConfig moves long-lived TCP connections off endpoints that hold
// more than their share, gently: h2c clients are asked (HTTP2GoAway), other
// connections are moved only once quiet. MinIdle and MaxWait time the
// moves of drains and shutdown too, when Enabled is false.
type RebalanceConfig struct {
	Enabled bool
	// Skew: an endpoint above Skew times its weighted fair share gives up
	// its excess. 0 moves nothing (MaxLifetime still applies).
	Skew float64
	// MaxRate bounds moves per second, listener-wide.
	MaxRate float64
	// MinIdle is how long a connection must have moved no byte either way
	// before it is moved, so that no message is cut mid-way; and how long
	// an asked h2c connection may stay quiet before it is closed.
	MinIdle time.Duration
	// MaxWait moves a connection that never goes quiet after it has been
	// wanted this long, and closes an asked h2c connection this long after
	// its GOAWAY; 0 leaves them alone.
	MaxWait time.Duration
	// MaxLifetime closes a quiet connection older than this (±10%
	// jitter), as Envoy's max connection duration does; 0 never.
	MaxLifetime time.Duration
}

// tick is how often rebalancing reads the connections' byte counters, when
// enabled: a quarter of min_idle, between 25ms and 250ms. Each look costs a
// syscall per socket, so it is no finer than quietness needs.
func (r RebalanceConfig) tick() time.Duration {
	if !r.Enabled {
		return 0
	}
	return min(max(r.MinIdle/4, 25*time.Millisecond), 250*time.Millisecond)
}

// Listener is a running TCP or UDP listener.
type Listener interface {
	// Addr is the bound address.
	Addr() net.Addr
	// Update applies new settings to the running listener, keeping its
	// socket and open connections. Protocol and address cannot change.
	Update(Config) error
	// SetEndpoints replaces the endpoint set. Open connections stay on
	// their backends; new ones use the new set.
	SetEndpoints([]Endpoint)
	// Stats returns the listener's counters.
	Stats() Stats
	// Status returns the listener's counters and the state and counters of
	// every endpoint in the pool, and of those that left it with
	// connections still open, read together.
	Status() (Stats, []EndpointStatus)
	// Shutdown stops accepting, waits for open connections to end, and
	// closes those still open when ctx is done. It is safe to call more
	// than once and from several goroutines.
	Shutdown(ctx context.Context) error
}

// Stats are a listener's counters since it started.
type Stats struct {
	Accepted           uint64 `json:"accepted"`             // TCP connections accepted
	AcceptErrors       uint64 `json:"accept_errors"`        // failed accepts (EMFILE and the like), each followed by a back-off
	Active             int64  `json:"active"`               // open TCP connections
	Rejected           uint64 `json:"rejected"`             // TCP connections closed at once by max_connections
	ConnectFailures    uint64 `json:"connect_failures"`     // failed connects to a backend (each try counts)
	NoBackend          uint64 `json:"no_backend"`           // connections closed because no backend could be reached
	LocalErrors        uint64 `json:"local_errors"`         // connections closed because pinlb ran out of file descriptors, buffers or ports to connect with
	ProxyHeaderErrors  uint64 `json:"proxy_header_errors"`  // connections from a trusted peer closed without a valid PROXY header within its timeout
	Denied             uint64 `json:"denied"`               // TCP connections refused by allow or deny (UDP: Dropped["denied"])
	Limited            uint64 `json:"limited"`              // TCP connections refused by a per-source limit
	TLSHandshakeErrors uint64 `json:"tls_handshake_errors"` // TCP connections closed because their TLS handshake failed (or timed out)
	Sources            int    `json:"sources"`              // TCP: client addresses the per-source limits track (at most limits { max_sources }); UDP: those with a session
	IdleClosed         uint64 `json:"idle_closed"`          // connections closed by the idle timeout
	DrainClosed        uint64 `json:"drain_closed"`         // connections closed by the drain timeout of their endpoint
	UnhealthyClosed    uint64 `json:"unhealthy_closed"`     // connections closed at once when their endpoint left (on_unhealthy = close)
	PassiveOut         uint64 `json:"passive_out"`          // times an endpoint was taken out by max_fails
	RebalanceMoves     uint64 `json:"rebalance_moves"`      // connections moved to a less loaded endpoint: h2c ones asked by GOAWAY, others closed once quiet
	RebalanceBusy      uint64 `json:"rebalance_busy"`       // moves put off because the connection was not quiet
	RebalanceForced    uint64 `json:"rebalance_forced"`     // busy connections closed after max_wait, asked by GOAWAY first or not
	GoAwaySent         uint64 `json:"goaway_sent"`          // h2c clients asked to move by a GOAWAY of pinlb's (http2_goaway): rebalancing, endpoints that left, shutdown
	QuietCloses        uint64 `json:"quiet_closes"`         // connections closed to move them once they were quiet for min_idle (after a GOAWAY, or instead of one; max_lifetime's included)
	CallsEnded         uint64 `json:"calls_ended"`          // gRPC calls pinlb ended with status OK after its GOAWAY, so that their clients open the next on a new connection (grpc_end_calls)
	LifetimeClosed     uint64 `json:"lifetime_closed"`      // connections closed at max_lifetime
	BytesIn            uint64 `json:"bytes_in"`             // client to backend; for TCP, open connections included
	BytesOut           uint64 `json:"bytes_out"`            // backend to client; for TCP, open connections included

	DatagramsIn  uint64            `json:"datagrams_in"`      // from clients
	DatagramsOut uint64            `json:"datagrams_out"`     // to backends
	Replies      uint64            `json:"replies"`           // from backends to clients
	Sessions     int64             `json:"sessions"`          // open UDP sessions
	Dropped      map[string]uint64 `json:"dropped,omitempty"` // UDP datagrams dropped, by reason
}

// newPool is a listener's pool, under cfg's rules.
func newPool(cfg *Config) *pool.Pool {
	p := pool.New()
	p.Configure(rulesOf(cfg))
	return p
}

// rulesOf are the pool's share of a listener's settings.
func rulesOf(cfg *Config) pool.Rules {
	return pool.Rules{
		Balance:        cfg.Balance,
		MaxFails:       cfg.MaxFails,
		FailTimeout:    cfg.FailTimeout,
		MaxConns:       cfg.MaxConns,
		SlowStart:      cfg.SlowStart,
		Tries:          cfg.Tries,
		ConnectTimeout: cfg.ConnectTimeout,
		NextTimeout:    cfg.NextTimeout,
		Events:         cfg.Events,
	}
}

// checkUpdate vets a new config for a running listener.
func checkUpdate(cur *Config, next Config) error {
	if next.Protocol != cur.Protocol || next.Address != cur.Address {
		return fmt.Errorf("listener %q: cannot change %s %s to %s %s in place",
			cur.Name, cur.Protocol, cur.Address, next.Protocol, next.Address)
	}
	return check(next)
}

// check vets the values a caller might get wrong.
func check(cfg Config) error {
	if err := pool.CheckBalance(cfg.Balance); err != nil {
		return fmt.Errorf("listener %q: %w", cfg.Name, err)
	}
	switch cfg.OnUnhealthy {
	case "", DrainConnections, CloseConnections:
	default:
		return fmt.Errorf("listener %q: unknown unhealthy policy %q", cfg.Name, cfg.OnUnhealthy)
	}
	switch cfg.SendProxyProtocol {
	case "", ProxyV1, ProxyV2:
	default:
		return fmt.Errorf("listener %q: unknown PROXY protocol version %q", cfg.Name, cfg.SendProxyProtocol)
	}
	if cfg.Protocol == UDP && cfg.SendProxyProtocol == ProxyV1 {
		return fmt.Errorf("listener %q: a datagram takes a PROXY v2 header, not v1", cfg.Name)
	}
	if cfg.Protocol == UDP && cfg.UDP.Mode != PacketMode && cfg.UDP.Mode != SessionMode {
		return fmt.Errorf("listener %q: unknown UDP mode %q", cfg.Name, cfg.UDP.Mode)
	}
	return nil
}

// rateLog lets a recurring event through to the log at most once a second,
// and counts what it held back so the next line can say so.
type rateLog struct {
	last       atomic.Int64
	suppressed atomic.Uint64
}

// allow reports whether to log now, and how many events were held back
// since the last line.
func (r *rateLog) allow() (uint64, bool) {
	now := time.Now().UnixNano()
	last := r.last.Load()
	if now-last < int64(time.Second) || !r.last.CompareAndSwap(last, now) {
		r.suppressed.Add(1)
		return 0, false
	}
	return r.suppressed.Swap(0), true
}
