//go:build linux

package proxy

import "time"

func (l *tcpListener) track(c *tcpConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.forced {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *tcpListener) untrack(c *tcpConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// tracked lists the relayed connections, to be read without the lock.
func (l *tcpListener) tracked() []*tcpConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	conns := make([]*tcpConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	return conns
}

// watch closes connections that moved no byte for the idle timeout and
// connections whose endpoint left the pool longer than the drain timeout
// ago; it moves (tcp_moves.go) the connections of an endpoint that left,
// every connection once the listener is shutting down, those past their
// max_lifetime and, with rebalancing, those of overloaded endpoints. It
// reads the flows' byte counters, so the data path stays bare.
func (l *tcpListener) watch() {
	var rb rebalancer
	for {
		cfg := l.cfg.Load()
		r := cfg.Rebalance
		select {
		case <-l.watchDone:
			return
		case <-time.After(watchPeriod(cfg.IdleTimeout, cfg.DrainTimeout, r.tick())):
		}
		if cfg.IdleTimeout <= 0 && !r.Enabled && cfg.DrainTimeout <= 0 && !cfg.HTTP2GoAway {
			continue
		}
		stopping, now := l.stopping.Load(), time.Now()
		conns := l.tracked()
		live := conns[:0]
		for _, c := range conns {
			if l.look(c, cfg, &r, now, stopping) {
				live = append(live, c)
			}
		}
		if r.Enabled && r.Skew > 0 && !stopping {
			l.rebalance(&rb, &r, live, now)
		}
	}
}

// look decides what becomes of a connection at a tick; true when it stays
// and counts for rebalancing.
func (l *tcpListener) look(c *tcpConn, cfg *Config, r *RebalanceConfig, now time.Time, stopping bool) bool {
	drained := c.backend().DrainedFor(now)
	switch {
	case cfg.DrainTimeout > 0 && drained >= cfg.DrainTimeout:
		c.abort(outcomeDrained)
		return false
	case drained > 0 && c.ask(now, outcomeLeft), stopping && c.ask(now, outcomeShutdown):
		return false
	case l.leaving(c, r, now):
		return false
	}
	if n := c.moved(); n != c.lastBytes {
		c.lastBytes, c.lastActive = n, now
	}
	quiet := now.Sub(c.lastActive)
	switch {
	case cfg.IdleTimeout > 0 && quiet >= cfg.IdleTimeout:
		c.abort(outcomeIdle)
	case c.lifetime > 0 && now.Sub(c.start) >= c.lifetime && quiet >= r.MinIdle:
		l.stats.lifetime.Add(1)
		if !c.ask(now, outcomeLifetime) {
			l.closeToMove(c, now, outcomeLifetime, movedQuiet)
		}
	default:
		return true
	}
	return false
}

// watchPeriod is how often the watchdog looks: a quarter of the shorter
// timeout, between 10ms and 5s.
func watchPeriod(timeouts ...time.Duration) time.Duration {
	shortest := time.Duration(0)
	for _, d := range timeouts {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	if shortest == 0 {
		return time.Second
	}
	return min(max(shortest/4, 10*time.Millisecond), 5*time.Second)
}
