//go:build linux

package proxy

import (
	"net/netip"
	"time"
)

// settle ends a connection's accounting, whichever driver carried it and
// however far it got: its hold on its backend and its place among the
// watched, its bytes, record and log line, its per-source hold, and its
// count among the open. o is its outcome unless the watchdog set one
// before.
func (l *tcpListener) settle(c *tcpConn, o outcome, in, out uint64, err error) {
	c.outcome.CompareAndSwap(int32(outcomeOK), int32(o))
	if c.backend() != nil {
		c.lease.Release(in, out)
		l.untrack(c)
		l.relayed(c, in, out, err)
	} else {
		tried, _ := c.lease.Tried()
		l.record(c, tried, 0, 0, outcome(c.outcome.Load()))
	}
	if c.src != nil {
		l.sources.release(c.src)
	}
	l.stats.active.Add(-1)
	l.handlers.Done()
}

// relayed counts, records and logs a connection that reached its backend.
func (l *tcpListener) relayed(c *tcpConn, in, out uint64, err error) {
	addr := c.backend().Addr()
	l.stats.bytesIn.Add(in)
	l.stats.bytesOut.Add(out)
	o := outcome(c.outcome.Load())
	l.record(c, addr, in, out, o)
	switch o {
	case outcomeIdle:
		l.stats.idleClosed.Add(1)
	case outcomeDrained:
		l.stats.drainClosed.Add(1)
	case outcomeUnhealthy:
		l.stats.unhealthyClosed.Add(1)
	}
	if !l.logger.IsDebug() {
		return
	}
	args := []any{"client", c.peers.client, "endpoint", addr,
		"bytes_in", in, "bytes_out", out, "duration", time.Since(c.start), "status", o}
	if err != nil {
		args = append(args, "error", err)
	}
	l.logger.Debug("connection closed", args...)
}

// record hands a finished connection to the recorder, if there is one.
func (l *tcpListener) record(c *tcpConn, upstream netip.AddrPort, in, out uint64, o outcome) {
	cfg, p := c.cfg, c.peers
	if cfg.Recorder == nil {
		return
	}
	r := &Record{
		Listener: cfg.Name,
		Protocol: TCP,
		Client:   p.peer,
		Local:    p.local,
		Upstream: upstream,
		Start:    c.start,
		Duration: time.Since(c.start),
		BytesIn:  in,
		BytesOut: out,
		Status:   o.String(),
		Move:     moveKind(c.move.Load()).String(),
	}
	if p.proxied {
		r.ProxyClient, r.ProxyServer = p.client, p.server
	}
	if p.tls != nil {
		st := p.tls.ConnectionState()
		r.TLS = &st
	}
	cfg.Recorder.Record(r)
}
