package proxy

// outcome is how a TCP connection ended, as the access log's status and
// the counters name it. The first outcome set for a connection wins: a
// watchdog's decision (idle, drain, rebalance…) stands over the close it
// causes.
type outcome int32

const (
	// Relayed: it reached a backend.
	outcomeOK        outcome = iota // its peers closed it
	outcomeIdle                     // idle_timeout passed with no byte either way
	outcomeDrained                  // its endpoint left the pool drain_timeout ago
	outcomeUnhealthy                // its endpoint left, under on_unhealthy = close
	outcomeRebalance                // moved off an overloaded endpoint
	outcomeLifetime                 // past max_lifetime
	outcomeShutdown                 // still open at the shutdown's deadline, or moved by it
	outcomeLeft                     // its endpoint left the pool, and it was moved off (asked by GOAWAY)

	// Refused or failed before any byte was relayed.
	outcomeRejected      // max_connections
	outcomeDenied        // allow and deny
	outcomeLimited       // a per-source limit
	outcomeProxyInvalid  // no, a malformed or a truncated PROXY header
	outcomeProxyTimeout  // no whole PROXY header within its timeout
	outcomeTLSFailed     // the TLS handshake failed or timed out
	outcomeNoBackend     // no endpoint was available
	outcomeConnectFailed // every try failed
	outcomeLocalError    // pinlb ran out of its own resources

	numOutcomes
)

// outcomeNames are the outcomes' names in the access log (Record.Status).
var outcomeNames = [numOutcomes]string{
	"ok", "idle_timeout", "drain_timeout", "unhealthy", "rebalance", "max_lifetime", "shutdown", "endpoint_left",
	"rejected", "denied", "limited", "proxy_header_invalid", "proxy_header_timeout",
	"tls_handshake_failed", "no_backend", "connect_failed", "local_error",
}

func (o outcome) String() string { return outcomeNames[o] }
