//go:build linux

package proxy

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// closeReason says why pinlb closed a connection, for the log.
type closeReason int32

func (r closeReason) String() string {
	return [...]string{"ok", "idle_timeout", "drain_timeout", "unhealthy", "rebalance", "max_lifetime", "shutdown"}[r]
}

// tcpConn is one proxied connection.
type tcpConn struct {
	client, upstream *net.TCPConn
	backend          *backend
	reason           atomic.Int32 // closeReason

	start    time.Time
	lifetime time.Duration // max_lifetime with this connection's jitter; 0 none

	// Owned by the watchdog goroutine.
	lastBytes   uint64
	lastActive  time.Time
	excessSince time.Time // when the rebalancer first wanted to move it; zero if it does not
	movedAt     time.Time // when the rebalancer asked the client to go
}

// moveGrace is how long a client asked to go may take to close.
const moveGrace = 5 * time.Second

// move asks the client to go, gently: a FIN toward it, so that it closes
// and reconnects, while everything it sent until then still reaches the
// backend. A client that ignores it is closed after moveGrace.
func (c *tcpConn) move(now time.Time, r closeReason) {
	c.reason.CompareAndSwap(int32(closedByPeer), int32(r))
	c.movedAt = now
	c.client.CloseWrite()
}

// abort closes both sockets; the copies in flight return at once.
func (c *tcpConn) abort(r closeReason) {
	c.reason.CompareAndSwap(int32(closedByPeer), int32(r))
	c.client.Close()
	c.upstream.Close()
}

// record hands a finished connection to the recorder, if there is one.
func (l *tcpListener) record(cfg *Config, p peers, upstream netip.AddrPort, start time.Time, in, out int64, status string) {
	if cfg.Recorder == nil {
		return
	}
	r := &Record{
		Listener: cfg.Name,
		Protocol: TCP,
		Client:   p.peer,
		Local:    p.local,
		Upstream: upstream,
		Start:    start,
		Duration: time.Since(start),
		BytesIn:  uint64(in),
		BytesOut: uint64(out),
		Status:   status,
	}
	if p.proxied {
		r.ProxyClient, r.ProxyServer = p.client, p.server
	}
	cfg.Recorder.Record(r)
}

func (l *tcpListener) handle(client *net.TCPConn, cfg *Config) {
	defer l.handlers.Done()
	defer l.stats.active.Add(-1)
	start := time.Now()

	p, src, ok := l.gate(client, cfg, start)
	if !ok {
		client.Close()
		return
	}
	if src != nil {
		defer l.sources.release(src)
	}
	upstream, b, status := l.connect(p.client, cfg)
	if upstream == nil {
		addr := netip.AddrPort{}
		if b != nil {
			addr = b.addr
		}
		l.record(cfg, p, addr, start, 0, 0, status)
		client.Close()
		return
	}
	c := &tcpConn{client: client, upstream: upstream, backend: b, start: start, lastActive: start}
	if lt := cfg.Rebalance.MaxLifetime; lt > 0 {
		c.lifetime = time.Duration(float64(lt) * (0.9 + 0.2*rand.Float64())) // ±10%, so they do not all end at once
	}
	if !l.track(c) {
		c.abort(closedShutdown)
		b.active.Add(-1)
		return
	}
	early, err := sendFirst(upstream, cfg.SendProxyProtocol, p)
	var in, out int64
	if err == nil {
		var firstByte func()
		if cfg.Balance == LeastTime {
			firstByte = func() { b.observe(time.Since(start)) }
		}
		in, out, err = splice(client, upstream, firstByte)
	} else {
		client.Close()
		upstream.Close()
	}
	in += early
	b.active.Add(-1)
	l.untrack(c)
	l.stats.bytesIn.Add(uint64(in))
	l.stats.bytesOut.Add(uint64(out))
	b.bytesIn.Add(uint64(in))
	b.bytesOut.Add(uint64(out))

	reason := closeReason(c.reason.Load())
	l.record(cfg, p, b.addr, start, in, out, reason.String())
	switch reason {
	case closedIdle:
		l.stats.idleClosed.Add(1)
	case closedDrained:
		l.stats.drainClosed.Add(1)
	case closedUnhealthy:
		l.stats.unhealthyClosed.Add(1)
	}
	args := []any{"client", p.client, "endpoint", b.addr,
		"bytes_in", in, "bytes_out", out, "duration", time.Since(start), "status", reason}
	if err != nil {
		args = append(args, "error", err)
	}
	l.logger.Debug("connection closed", args...)
}

// gate reads the PROXY header, then applies allow and deny and the
// per-source limits, before any backend is dialled. A refused connection
// is counted and recorded; the caller closes it. An admitted one holds src
// (nil without limits) until it ends.
func (l *tcpListener) gate(client *net.TCPConn, cfg *Config, start time.Time) (peers, *source, bool) {
	p, status, err := readPeers(l.dialCtx, client, &cfg.ProxyProtocol)
	if err != nil {
		l.proxyHeaderFailed(p, err)
		l.record(cfg, p, netip.AddrPort{}, start, 0, 0, status)
		return p, nil, false
	}
	if !cfg.Access.allows(p.client.Addr()) {
		l.stats.denied.Add(1)
		l.record(cfg, p, netip.AddrPort{}, start, 0, 0, statusDenied)
		return p, nil, false
	}
	if !cfg.Limits.on() {
		return p, nil, true
	}
	src, limit := l.sources.admit(p.client.Addr().Unmap(), cfg.Limits, start)
	if src == nil {
		l.stats.limited.Add(1)
		if n, ok := l.limitedLog.allow(); ok {
			l.logger.Warn("closing a connection over a per-source limit", "client", p.client.Addr(), "limit", limit, "suppressed", n)
		}
		l.record(cfg, p, netip.AddrPort{}, start, 0, 0, statusLimited)
		return p, nil, false
	}
	return p, src, true
}

// sendFirst writes what goes to the backend before the splice: the PROXY
// header when the upstream asks for one, then the client's bytes that the
// header's reader took. It returns how many of the client's bytes it sent.
func sendFirst(upstream *net.TCPConn, version string, p peers) (int64, error) {
	if version == "" && len(p.early) == 0 {
		return 0, nil
	}
	var b []byte
	if version != "" {
		h, err := proxyHeader(version, p)
		if err != nil {
			return 0, err
		}
		b = h
	}
	b = append(b, p.early...)
	if _, err := upstream.Write(b); err != nil {
		return 0, err
	}
	return int64(len(p.early)), nil
}

// proxyHeaderFailed counts and logs, rate-limited, a connection whose
// PROXY header could not be read.
func (l *tcpListener) proxyHeaderFailed(p peers, err error) {
	l.stats.proxyHeaderErrors.Add(1)
	if n, ok := l.proxyLog.allow(); ok {
		l.logger.Warn("closing a connection from a trusted peer without a valid PROXY header",
			"peer", p.peer, "error", err, "suppressed", n)
	}
}

// splice copies both ways until both directions end. A clean EOF on one side
// is passed on as a half-close and the other direction goes on; an error on
// either side aborts both. Bytes move kernel-side with splice(2).
//
// firstByte, if set, is called once the backend's first byte is ready to
// read (or the stream ended), before the copy toward the client starts: a
// readiness wait on the socket, so the copy still splices.
func splice(client, upstream *net.TCPConn, firstByte func()) (in, out int64, err error) {
	type result struct {
		n   int64
		err error
	}
	up := make(chan result, 1)
	go func() {
		n, err := spliceCopy(upstream, client)
		if err != nil {
			client.Close()
			upstream.Close()
		} else {
			upstream.CloseWrite()
		}
		up <- result{n, err}
	}()
	if firstByte != nil && waitReadable(upstream) == nil {
		firstByte()
	}
	out, err = spliceCopy(client, upstream)
	if err != nil {
		client.Close()
		upstream.Close()
	} else {
		client.CloseWrite()
	}
	r := <-up
	client.Close()
	upstream.Close()
	return r.n, out, firstCause(r.err, err)
}

// firstCause drops the "use of closed network connection" that one direction
// reports when the other direction's failure closed both sockets.
func firstCause(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
	}
	return nil
}
