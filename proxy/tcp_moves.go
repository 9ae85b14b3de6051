//go:build linux

package proxy

import (
	"time"

	"github.com/pinlb/pinlb/proxy/h2c"
)

// How pinlb moves a connection off its endpoint (rebalancing, an endpoint
// that left, shutdown), gently first:
//   - An h2c client (http2_goaway) is asked, with a GOAWAY of pinlb's: its
//     calls in progress finish where they are, its next calls come on a
//     new connection. The old one stays, no longer counted, until its
//     client closes it (gRPC clients do once their last call ends), it is
//     quiet for min_idle, or max_wait passes; then it is closed as below.
//   - Any other connection is closed once quiet for min_idle (or forced
//     at max_wait): a FIN to the client, which reconnects while what it
//     sent still reaches the backend; cut moveGrace later if it did not
//     close.
//
// The moves' fields of a tcpConn are the watchdog goroutine's.

// moveKind is how a connection was moved, as the access log's move names
// it.
type moveKind uint32

const (
	notMoved       moveKind = iota
	movedGoAway             // asked by GOAWAY; its client closed it
	movedQuiet              // closed once quiet
	movedForced             // closed at max_wait, busy
	movedEndedCall          // asked by GOAWAY, and pinlb ended a call of its that would not end
	numMoveKinds
)

var moveKindNames = [numMoveKinds]string{"", "goaway", "quiet_close", "forced_close", "ended_call"}

func (k moveKind) String() string { return moveKindNames[k] }

// goAwayFrames are pinlb's GOAWAYs by the outcome that asks, each naming
// why in its debug data, which clients log.
var goAwayFrames = map[outcome][]byte{
	outcomeRebalance: h2c.GoAway("pinlb: moving to a less loaded endpoint"),
	outcomeLifetime:  h2c.GoAway("pinlb: max_lifetime"),
	outcomeLeft:      h2c.GoAway("pinlb: endpoint left the pool"),
	outcomeShutdown:  h2c.GoAway("pinlb: shutting down"),
}

// moveGrace is how long a client sent a FIN may take to close.
const moveGrace = 5 * time.Second

// ask asks an h2c client to move for o; false when the connection cannot
// take a GOAWAY, and nothing was done.
func (c *tcpConn) ask(now time.Time, o outcome) bool {
	if !c.askedAt.IsZero() || !c.drv.goAway(goAwayFrames[o], c.cfg.GRPCEndCalls) {
		return false
	}
	c.outcome.CompareAndSwap(int32(outcomeOK), int32(o))
	c.move.CompareAndSwap(uint32(notMoved), uint32(movedGoAway))
	c.askedAt, c.lastActive, c.lastBytes = now, now, c.moved()
	return true
}

// closeToMove closes a connection to move it, with a FIN, for o; kind says
// why now, and is counted: quiet_closes, or rebalance_forced.
func (l *tcpListener) closeToMove(c *tcpConn, now time.Time, o outcome, kind moveKind) {
	switch kind {
	case movedQuiet:
		l.stats.quietCloses.Add(1)
	case movedForced:
		l.stats.rebalanceForced.Add(1)
	}
	c.outcome.CompareAndSwap(int32(outcomeOK), int32(o))
	c.move.Store(uint32(kind))
	c.closedAt = now
	c.drv.closeWrite()
}

// leave closes an asked connection once it carries no call and moved no
// byte since the last look, once it is quiet for min_idle, or at max_wait.
func (l *tcpListener) leave(c *tcpConn, r *RebalanceConfig, now time.Time) {
	still := true
	if n := c.moved(); n != c.lastBytes {
		c.lastBytes, c.lastActive, still = n, now, false
	}
	switch {
	case still && c.drv.calls() == 0:
		l.closeToMove(c, now, outcomeOK, moveKind(c.move.Load()))
	case now.Sub(c.lastActive) >= r.MinIdle:
		l.closeToMove(c, now, outcomeOK, movedQuiet)
	case r.MaxWait > 0 && now.Sub(c.askedAt) >= r.MaxWait:
		l.closeToMove(c, now, outcomeOK, movedForced)
	}
}

// leaving handles a connection that was asked or sent a FIN; false for
// the others, which stay counted.
func (l *tcpListener) leaving(c *tcpConn, r *RebalanceConfig, now time.Time) bool {
	switch {
	case !c.closedAt.IsZero():
		if now.Sub(c.closedAt) >= moveGrace {
			c.abort(outcomeOK) // the outcome the move set
		}
	case !c.askedAt.IsZero():
		l.leave(c, r, now)
	default:
		return false
	}
	return true
}
