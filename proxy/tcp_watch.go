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

// watch closes connections that moved no byte for the idle timeout,
// connections whose endpoint left the pool longer than the drain timeout
// ago, and, with rebalancing, quiet connections of overloaded endpoints and
// those past their max_lifetime. It reads the kernel's byte counters, so the
// data path stays a bare splice.
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
		activity := cfg.IdleTimeout > 0 || r.Enabled
		if !activity && cfg.DrainTimeout <= 0 {
			continue
		}
		conns := l.tracked()
		now := time.Now()
		live := conns[:0]
		for _, c := range conns {
			if cfg.DrainTimeout > 0 && c.backend().DrainedFor(now) >= cfg.DrainTimeout {
				c.abort(outcomeDrained)
				continue
			}
			if !c.movedAt.IsZero() { // leaving: no longer counted
				if now.Sub(c.movedAt) >= moveGrace {
					c.abort(outcomeOK) // the outcome the move set
				}
				continue
			}
			if !activity {
				continue
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
				c.move(now, outcomeLifetime)
			default:
				live = append(live, c)
			}
		}
		if r.Enabled && r.Skew > 0 {
			l.rebalance(&rb, &r, live, now)
		}
	}
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
