//go:build linux

package proxy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/pinlb/pinlb/proxy/pool"
)

// rebalanceSettle bounds the wait, after a round of moves, for the moved
// clients to come back before skew is judged again.
const rebalanceSettle = 15 * time.Second

// poolSettle is how long the pool must stay as it is before a plan is made:
// collectors that scale out together reach the pool one by one, each as
// its first check passes (within pinlb register's 5s interval), and a
// plan per arrival would move some connections twice.
const poolSettle = 5 * time.Second

// rebalancer is the watchdog's plan of moves.
type rebalancer struct {
	set         *pool.Set             // the set the plan was made for
	plan        map[*pool.Backend]int // moves left, by overloaded backend
	planned     int                   // connections counted when planning
	settleUntil time.Time
	setAt       time.Time // when set was first seen
	tokens      float64   // token bucket of max_rate
	last        time.Time
	done        [numMoveKinds]int // this round's moves, by how
}

// rebalance moves the excess of overloaded endpoints: when an endpoint
// holds more than skew times its fair share, it plans to bring it down to
// its share, then moves connections picked at random at max_rate: h2c ones
// are asked at once (tcp_moves.go); others are closed once quiet (no byte
// for min_idle), or after max_wait if that is set. Moved clients reconnect
// and land on the least loaded endpoints. The next plan waits until they
// are back.
func (l *tcpListener) rebalance(rb *rebalancer, r *RebalanceConfig, conns []*tcpConn, now time.Time) {
	if !rb.last.IsZero() {
		rb.tokens = min(max(1, r.MaxRate), rb.tokens+now.Sub(rb.last).Seconds()*r.MaxRate)
	}
	rb.last = now
	set := l.pool.Set()
	if set != rb.set { // the pool changed: plan afresh
		rb.set, rb.plan, rb.settleUntil, rb.setAt = set, nil, time.Time{}, now
	}
	if len(rb.plan) == 0 {
		if len(conns) < rb.planned && now.Before(rb.settleUntil) {
			return // moved clients are still reconnecting
		}
		if now.Sub(rb.setAt) < poolSettle {
			return // more of a scale-out may be on its way
		}
		rb.plan, rb.planned = planMoves(set, conns, r.Skew), len(conns)
		if len(rb.plan) == 0 {
			for _, c := range conns {
				c.excessSince = time.Time{}
			}
			return
		}
		total := 0
		for _, n := range rb.plan {
			total += n
		}
		l.logger.Info("rebalancing: moving connections off overloaded endpoints", "moves", total, "connections", len(conns))
		if cfg := l.cfg.Load(); cfg.Events != nil {
			cfg.Events(Event{Kind: EventRebalance, Cause: rebalanceCause(rb.plan, total, len(conns))})
		}
	}
	rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	for _, c := range conns {
		if rb.plan[c.backend()] > 0 {
			l.moveOne(rb, r, c, now)
		}
	}
	for b, n := range rb.plan {
		if n <= 0 {
			delete(rb.plan, b)
		}
	}
	if len(rb.plan) == 0 {
		rb.settleUntil = now.Add(rebalanceSettle)
		l.roundDone(rb)
	}
}

// moveOne moves c if it may go now: an h2c client is asked at once, busy
// or not; another connection once quiet, or busy at max_wait.
func (l *tcpListener) moveOne(rb *rebalancer, r *RebalanceConfig, c *tcpConn, now time.Time) {
	if rb.tokens >= 1 && c.ask(now, outcomeRebalance) {
		rb.took(c, movedGoAway)
		l.stats.rebalanceMoves.Add(1)
		return
	}
	first := c.excessSince.IsZero()
	if first {
		c.excessSince = now
	}
	quiet := now.Sub(c.lastActive) >= r.MinIdle
	forced := !quiet && r.MaxWait > 0 && now.Sub(c.excessSince) >= r.MaxWait
	switch {
	case !quiet && !forced:
		if first {
			l.stats.rebalanceBusy.Add(1)
		}
		return
	case rb.tokens < 1:
		return
	case quiet && c.moved() != c.lastBytes:
		return // a byte moved since the last look: not quiet after all
	}
	kind := movedQuiet
	if forced {
		kind = movedForced
	}
	rb.took(c, kind)
	l.stats.rebalanceMoves.Add(1)
	l.closeToMove(c, now, outcomeRebalance, kind)
}

// took spends a token and a planned move on c, moved as kind.
func (rb *rebalancer) took(c *tcpConn, kind moveKind) {
	rb.tokens--
	rb.plan[c.backend()]--
	rb.done[kind]++
}

// roundDone says how a round's moves went, in the log and the timeline.
func (l *tcpListener) roundDone(rb *rebalancer) {
	cause := fmt.Sprintf("moved %d: %d asked by GOAWAY, %d closed once quiet, %d closed busy at max_wait",
		rb.done[movedGoAway]+rb.done[movedQuiet]+rb.done[movedForced], rb.done[movedGoAway], rb.done[movedQuiet], rb.done[movedForced])
	rb.done = [numMoveKinds]int{}
	l.logger.Info("rebalancing: round done", "moves", cause)
	if cfg := l.cfg.Load(); cfg.Events != nil {
		cfg.Events(Event{Kind: EventRebalance, Cause: cause})
	}
}

// planMoves counts conns by backend and has the set say which are too
// many where.
func planMoves(set *pool.Set, conns []*tcpConn, skew float64) map[*pool.Backend]int {
	counts := map[*pool.Backend]int{}
	for _, c := range conns {
		counts[c.backend()]++
	}
	return set.Excess(counts, skew)
}

// rebalanceCause says where a rebalance round's moves come from.
func rebalanceCause(plan map[*pool.Backend]int, total, conns int) string {
	from := make([]string, 0, len(plan))
	for b, n := range plan {
		from = append(from, fmt.Sprintf("%s (%d)", b.Addr(), n))
	}
	slices.Sort(from)
	return fmt.Sprintf("moving %d of %d connections to less loaded endpoints, from %s", total, conns, strings.Join(from, ", "))
}
