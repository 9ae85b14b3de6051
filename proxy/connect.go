//go:build linux

package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// tries is one connection's walk over the backends: the balancer's
// choices, each backend at most once, up to tries attempts within
// next_timeout. A try is counted on its backend while it runs, so that
// least_conn sees it at once. A flow starts each with a non-blocking
// connect on its reactor and goes on with the outcome; connect runs them
// on the TLS relay's goroutine.
//
// A failure of pinlb's own (no file descriptor, buffer or local port) ends
// the tries: it is not the endpoint's fault, so it counts against no
// endpoint, and the next one would fail the same way.
type tries struct {
	l     *tcpListener
	cfg   *Config
	set   *endpointSet
	p     pick
	start time.Time
	left  int
	cur   *backend // the backend of the try running, nil between tries
	probe bool     // cur is on probation: this connect is its one probe
	last  *backend // the backend of the last try
}

func (l *tcpListener) newTries(t *tries, client netip.AddrPort, cfg *Config) {
	start := time.Now()
	*t = tries{l: l, cfg: cfg, set: l.pool.load(), start: start, left: cfg.Tries}
	t.p = pick{client: client, now: start.UnixNano(), maxConns: int64(cfg.MaxConns), slowStart: cfg.SlowStart}
	if t.left <= 0 {
		t.left = len(t.set.backends)
	}
}

// next starts a try: its backend and connect timeout, or nil when no try
// is left; exhausted says why then.
func (t *tries) next() (*backend, time.Duration) {
	for t.left > 0 {
		b := t.set.choose(&t.p)
		if b == nil {
			return nil, 0
		}
		t.p.tried = append(t.p.tried, b)
		// A backend back from passive failure takes one connect at a
		// time until one succeeds, so that a black hole stalls one client,
		// not half of them.
		probe := !t.set.single && b.onProbation(t.p.now)
		if probe && !b.probing.CompareAndSwap(false, true) {
			continue
		}
		timeout, ok := dialTimeout(t.cfg, t.start)
		if !ok {
			if probe {
				b.probing.Store(false)
			}
			return nil, 0
		}
		t.left--
		t.cur, t.probe, t.last = b, probe, b
		b.active.Add(1)
		return b, timeout
	}
	return nil, 0
}

// end ends the running try.
func (t *tries) end() *backend {
	b := t.cur
	if t.probe {
		b.probing.Store(false)
	}
	t.cur, t.probe = nil, false
	return b
}

// connected ends the running try with the connection made.
func (t *tries) connected() *backend {
	b := t.end()
	if b.succeeded() {
		emit(t.l.cfg.Load(), backendEvent(EventRestored, b, "a connect succeeded after its fail_timeout"))
	}
	b.conns.Add(1)
	return b
}

// failed ends the running try with err. again is false when no try may
// follow, with the status that says why.
func (t *tries) failed(err error) (o outcome, again bool) {
	b, l := t.end(), t.l
	b.active.Add(-1)
	switch {
	case localError(err):
		l.localFailure(t.p.client, b, err)
		return outcomeLocalError, false
	case l.dialCtx.Err() != nil: // shutting down: nobody's fault
		return outcomeConnectFailed, false
	}
	l.connectFailed(b, err, t.cfg, t.set.single, len(t.p.tried))
	return outcomeOK, true
}

// exhausted counts and logs a connection that no try connected, and says
// why.
func (t *tries) exhausted() outcome {
	l := t.l
	l.stats.noBackend.Add(1)
	if s, ok := l.emptyLog.allow(); ok {
		msg := "no endpoint reachable; closing client"
		if t.last == nil {
			msg = "no endpoint available; closing client"
		}
		l.logger.Warn(msg, "client", t.p.client, "tried", len(t.p.tried),
			"endpoints", len(t.set.backends), "suppressed", s)
	}
	if t.last == nil {
		return outcomeNoBackend
	}
	return outcomeConnectFailed
}

// connect runs c's tries on the caller's goroutine: the TLS driver's
// connect, which blocks. When none connects, o says why.
func (l *tcpListener) connect(c *tcpConn) (conn *net.TCPConn, o outcome) {
	t := &c.tries
	l.newTries(t, c.peers.client, c.cfg)
	for b, timeout := t.next(); b != nil; b, timeout = t.next() {
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(l.dialCtx, "tcp", b.addr.String())
		if err == nil {
			c.backend = t.connected()
			return conn.(*net.TCPConn), outcomeOK
		}
		if o, again := t.failed(err); !again {
			return nil, o
		}
	}
	return nil, t.exhausted()
}

// dialTimeout is the connect timeout of the next try: connect_timeout,
// or what is left of next_timeout. ok is false when nothing is left.
func dialTimeout(cfg *Config, start time.Time) (time.Duration, bool) {
	if cfg.NextTimeout <= 0 {
		return cfg.ConnectTimeout, true
	}
	left := cfg.NextTimeout - time.Since(start)
	return min(cfg.ConnectTimeout, left), left > 0
}

// connectFailed counts a failed connect against its backend, which passive
// health may take out.
func (l *tcpListener) connectFailed(b *backend, err error, cfg *Config, single bool, try int) {
	b.connectFails.Add(1)
	l.stats.connectFailures.Add(1)
	if b.failed(time.Now().UnixNano(), cfg.MaxFails, cfg.FailTimeout) && !single {
		l.stats.passiveOut.Add(1)
		l.logger.Warn("endpoint taken out: too many failed connects", "endpoint", b.addr,
			"max_fails", cfg.MaxFails, "for", cfg.FailTimeout, "error", err)
		emit(cfg, backendEvent(EventEjected, b, fmt.Sprintf("%d failed connects within fail_timeout (%s), out for %s; last: %v",
			cfg.MaxFails, cfg.FailTimeout, cfg.FailTimeout, err)))
	} else if s, ok := l.dialLog.allow(); ok {
		l.logger.Warn("connect failed", "endpoint", b.addr, "try", try, "error", err, "suppressed", s)
	}
}

// localFailure counts a connect that failed for want of pinlb's own
// resources, against no endpoint.
func (l *tcpListener) localFailure(client netip.AddrPort, b *backend, err error) {
	l.stats.localErrors.Add(1)
	if s, ok := l.localLog.allow(); ok {
		l.logger.Error("cannot connect: pinlb is out of file descriptors, buffers or local ports; closing the client, the endpoint is not at fault",
			"client", client, "endpoint", b.addr, "error", err, "suppressed", s,
			"hint", "raise the open-file limit (ulimit -n, LimitNOFILE) or lower max_connections")
	}
}
