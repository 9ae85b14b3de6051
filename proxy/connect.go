//go:build linux

package proxy

import (
	"net"
	"net/netip"
)

// A connection's tries are its pool lease's (pool.Lease): the balancer's
// choices, each backend at most once, within the listener's tries and
// next_timeout. A flow starts each with a non-blocking connect on its
// reactor and goes on with the outcome; connect runs them on the TLS
// relay's goroutine. What the listener adds is what the pool cannot know:
// which failures are nobody's fault, and the counters and logs.
//
// A failure of pinlb's own (no file descriptor, buffer or local port) ends
// the tries: it is not the endpoint's fault, so it counts against no
// endpoint, and the next one would fail the same way.

// connect runs c's tries on the caller's goroutine: the TLS driver's
// connect, which blocks. When none connects, o says why.
func (l *tcpListener) connect(c *tcpConn) (conn *net.TCPConn, o outcome) {
	l.pool.Lease(&c.lease, c.peers.client)
	for addr, timeout, ok := c.lease.Next(); ok; addr, timeout, ok = c.lease.Next() {
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(l.dialCtx, "tcp", addr.String())
		if err == nil {
			c.lease.Connected()
			return conn.(*net.TCPConn), outcomeOK
		}
		if o, again := l.tryFailed(c, err); !again {
			return nil, o
		}
	}
	return nil, l.exhausted(c)
}

// tryFailed ends c's running try with err. again is false when no try may
// follow, with the outcome that says why.
func (l *tcpListener) tryFailed(c *tcpConn, err error) (o outcome, again bool) {
	addr := c.lease.Trying()
	switch {
	case localError(err):
		c.lease.Failed(err, false)
		l.localFailure(c.peers.client, addr, err)
		return outcomeLocalError, false
	case l.dialCtx.Err() != nil: // shutting down: nobody's fault
		c.lease.Failed(err, false)
		return outcomeConnectFailed, false
	}
	l.stats.connectFailures.Add(1)
	cfg := c.cfg
	if c.lease.Failed(err, true) {
		l.stats.passiveOut.Add(1)
		l.logger.Warn("endpoint taken out: too many failed connects", "endpoint", addr,
			"max_fails", cfg.MaxFails, "for", cfg.FailTimeout, "error", err)
	} else if s, ok := l.dialLog.allow(); ok {
		_, try := c.lease.Tried()
		l.logger.Warn("connect failed", "endpoint", addr, "try", try, "error", err, "suppressed", s)
	}
	return outcomeOK, true
}

// exhausted counts and logs a connection that no try connected, and says
// why.
func (l *tcpListener) exhausted(c *tcpConn) outcome {
	l.stats.noBackend.Add(1)
	last, tried := c.lease.Tried()
	if s, ok := l.emptyLog.allow(); ok {
		msg := "no endpoint reachable; closing client"
		if tried == 0 {
			msg = "no endpoint available; closing client"
		}
		l.logger.Warn(msg, "client", c.peers.client, "tried", tried,
			"endpoints", c.lease.Endpoints(), "suppressed", s)
	}
	if !last.IsValid() {
		return outcomeNoBackend
	}
	return outcomeConnectFailed
}

// localFailure counts a connect that failed for want of pinlb's own
// resources, against no endpoint.
func (l *tcpListener) localFailure(client, endpoint netip.AddrPort, err error) {
	l.stats.localErrors.Add(1)
	if s, ok := l.localLog.allow(); ok {
		l.logger.Error("cannot connect: pinlb is out of file descriptors, buffers or local ports; closing the client, the endpoint is not at fault",
			"client", client, "endpoint", endpoint, "error", err, "suppressed", s,
			"hint", "raise the open-file limit (ulimit -n, LimitNOFILE) or lower max_connections")
	}
}
