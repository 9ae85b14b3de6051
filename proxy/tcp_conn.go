//go:build linux

package proxy

import (
	"math/rand/v2"

	"github.com/pinlb/pinlb/proxy/pool"
	"sync/atomic"
	"time"
)

// tcpConn is one proxied connection, whichever driver carries its bytes.
type tcpConn struct {
	// What its end needs: its listener's config when it came, who it is
	// between, its per-source hold (nil without limits), and its lease on
	// the pool: its tries, then the backend it reached.
	cfg   *Config
	peers peers
	src   *source
	lease pool.Lease

	start    time.Time
	lifetime time.Duration // max_lifetime with this connection's jitter; 0 none
	outcome  atomic.Int32  // an outcome set before its end, by the watchdog; outcomeOK otherwise

	// drv carries the bytes once the connection is relayed; set before it
	// is tracked, so the watchdog always finds it.
	drv driver

	move atomic.Uint32 // how it was moved (moveKind), read at its end

	// Owned by the watchdog goroutine (tcp_moves.go).
	lastBytes   uint64
	lastActive  time.Time
	excessSince time.Time // when the rebalancer first wanted to move it; zero if it does not
	askedAt     time.Time // when its h2c client was asked to move by a GOAWAY
	closedAt    time.Time // when it was sent a FIN to move it
}

// A driver carries a relayed connection's bytes: a flow on a reactor, or
// a TLS relay's goroutine pair. The watchdog, drain, rebalancing and the
// status reach a connection only through it, from any goroutine.
type driver interface {
	// bytes are what has moved so far: client to backend, backend to
	// client.
	bytes() (in, out uint64)
	// closeWrite ends the stream toward the client (a FIN; under TLS a
	// close_notify first), so that it closes and reconnects while what
	// it sent still reaches the backend.
	closeWrite()
	// abort closes both sockets; the connection ends with the outcome
	// set before.
	abort()
	// goAway asks an h2c client to move, with frame as the server's next
	// frame, and with endCalls ends its calls once each is quiet
	// (tcp_flow_h2c_moves.go); false when the connection cannot take one,
	// and nothing was done.
	goAway(frame []byte, endCalls bool) bool
	// calls is how many calls an h2c connection carries; -1 when unknown.
	calls() int
}

// abort closes the connection with outcome o.
func (c *tcpConn) abort(o outcome) {
	c.outcome.CompareAndSwap(int32(outcomeOK), int32(o))
	c.drv.abort()
}

// moved is a counter that grows whenever bytes move either way.
func (c *tcpConn) moved() uint64 {
	in, out := c.drv.bytes()
	return in + out
}

// backend is the backend the connection reached; nil before.
func (c *tcpConn) backend() *pool.Backend { return c.lease.Backend() }

// setLifetime draws the connection's max_lifetime, ±10%, so that
// connections opened together do not all end at once.
func (c *tcpConn) setLifetime() {
	if lt := c.cfg.Rebalance.MaxLifetime; lt > 0 {
		c.lifetime = time.Duration(float64(lt) * (0.9 + 0.2*rand.Float64()))
	}
}
