//go:build linux

package proxy

import (
	"crypto/tls"
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
	// On a TLS listener: the client's TLS, and its socket as TLS uses it.
	tls  *tls.Conn
	wire *wireConn

	start    time.Time
	lifetime time.Duration // max_lifetime with this connection's jitter; 0 none

	// What the end of the connection needs: its listener's config then,
	// who it is from, and its per-source hold.
	cfg   *Config
	peers peers
	src   *source

	// flow is set once a loop relays the connection; its sockets are the
	// loop's then, and reached only through commands.
	flow atomic.Pointer[tcpFlow]

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
	if f := c.flow.Load(); f != nil {
		f.lp.post(opMove, f)
		return
	}
	if c.tls != nil {
		// A close_notify first; it waits for a write in progress, which
		// must not hold up the watchdog.
		go c.closeWriteClient()
		return
	}
	c.client.CloseWrite()
}

// closeWriteClient ends the stream toward the client; under TLS, with a
// close_notify first, so that its TLS stack sees an end and no truncation.
func (c *tcpConn) closeWriteClient() {
	if c.tls != nil {
		c.tls.CloseWrite()
	}
	c.client.CloseWrite()
}

// clientBytes are the bytes received from the client and sent to it: the
// relay loop's counters, the kernel's, or those of the TLS side's socket.
func (c *tcpConn) clientBytes() (in, out uint64, err error) {
	if f := c.flow.Load(); f != nil {
		return f.dirs[clientSide].bytes.Load(), f.dirs[upstreamSide].bytes.Load(), nil
	}
	if c.wire != nil {
		return c.wire.in.Load(), c.wire.out.Load(), nil
	}
	return tcpBytes(c.client)
}

// abort closes both sockets; the copies in flight return at once.
func (c *tcpConn) abort(r closeReason) {
	c.reason.CompareAndSwap(int32(closedByPeer), int32(r))
	if f := c.flow.Load(); f != nil {
		f.lp.post(opAbort, f)
		return
	}
	c.closeBoth()
}

// moved is a counter that grows whenever bytes move either way.
func (c *tcpConn) moved() (uint64, error) {
	if f := c.flow.Load(); f != nil {
		return f.dirs[clientSide].bytes.Load() + f.dirs[upstreamSide].bytes.Load(), nil
	}
	return bytesMoved(c.client, c.upstream)
}

// setLifetime draws the connection's max_lifetime, ±10%, so that
// connections opened together do not all end at once.
func (c *tcpConn) setLifetime() {
	if lt := c.cfg.Rebalance.MaxLifetime; lt > 0 {
		c.lifetime = time.Duration(float64(lt) * (0.9 + 0.2*rand.Float64()))
	}
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
	if p.tls != nil {
		st := p.tls.ConnectionState()
		r.TLS = &st
	}
	cfg.Recorder.Record(r)
}

// handle serves a connection to a TLS listener on its own goroutine: the
// handshake waits on the client, and the relay copies through crypto/tls.
func (l *tcpListener) handle(client *net.TCPConn, cfg *Config) {
	start := time.Now()
	c := &tcpConn{client: client, start: start, lastActive: start, cfg: cfg}
	var ok bool
	if c.peers, c.src, ok = l.gate(c, cfg); !ok {
		client.Close()
		l.done(c)
		return
	}
	upstream, b, status := l.connect(c.peers.client, cfg)
	if upstream == nil {
		addr := netip.AddrPort{}
		if b != nil {
			addr = b.addr
		}
		l.record(cfg, c.peers, addr, start, 0, 0, status)
		client.Close()
		l.done(c)
		return
	}
	c.upstream, c.backend = upstream, b
	c.setLifetime()
	if !l.track(c) {
		c.abort(closedShutdown)
		releaseConn(cfg, b)
		l.done(c)
		return
	}
	if err := sendProxyHeader(upstream, cfg.SendProxyProtocol, c.peers); err != nil {
		c.closeBoth()
		l.finish(c, 0, 0, err)
		return
	}
	var firstByte func()
	if cfg.Balance == LeastTime {
		firstByte = func() { b.observe(time.Since(start)) }
	}
	in, out, err := c.relay(firstByte)
	l.finish(c, in, out, err)
}

// finish ends a relayed connection: its bytes, its backend's count, the
// access log.
func (l *tcpListener) finish(c *tcpConn, in, out int64, err error) {
	if c.wire != nil {
		in, out = int64(c.wire.in.Load()), int64(c.wire.out.Load())
	}
	releaseConn(c.cfg, c.backend)
	l.untrack(c)
	l.ended(c, c.cfg, c.peers, in, out, err)
	l.done(c)
}

// done lets go of what the connection held from its accept on.
func (l *tcpListener) done(c *tcpConn) {
	if c.src != nil {
		l.sources.release(c.src)
	}
	l.stats.active.Add(-1)
	l.handlers.Done()
}

// ended counts, records and logs a connection that was relayed.
func (l *tcpListener) ended(c *tcpConn, cfg *Config, p peers, in, out int64, err error) {
	b := c.backend
	l.stats.bytesIn.Add(uint64(in))
	l.stats.bytesOut.Add(uint64(out))
	b.bytesIn.Add(uint64(in))
	b.bytesOut.Add(uint64(out))

	reason := closeReason(c.reason.Load())
	l.record(cfg, p, b.addr, c.start, in, out, reason.String())
	switch reason {
	case closedIdle:
		l.stats.idleClosed.Add(1)
	case closedDrained:
		l.stats.drainClosed.Add(1)
	case closedUnhealthy:
		l.stats.unhealthyClosed.Add(1)
	}
	if !l.logger.IsDebug() {
		return
	}
	args := []any{"client", p.client, "endpoint", b.addr,
		"bytes_in", in, "bytes_out", out, "duration", time.Since(c.start), "status", reason}
	if err != nil {
		args = append(args, "error", err)
	}
	l.logger.Debug("connection closed", args...)
}

// gate reads the PROXY header, admits the client, then terminates TLS
// when the listener does, all before any backend is dialled. A refused
// connection is counted and recorded; the caller closes it. src (nil
// without limits) is held until the connection ends, admitted or not.
func (l *tcpListener) gate(c *tcpConn, cfg *Config) (p peers, src *source, ok bool) {
	p, status, err := readPeers(l.dialCtx, c.client, &cfg.ProxyProtocol)
	if err != nil {
		l.proxyHeaderFailed(p, err)
	} else {
		src, status = l.admit(p.client, cfg, c.start)
	}
	if status == "" && cfg.TLS.Config != nil && l.handshake(c, &p, &cfg.TLS) != nil {
		status = statusTLSFailed
	}
	if status != "" {
		l.record(cfg, p, netip.AddrPort{}, c.start, 0, 0, status)
		return p, src, false
	}
	return p, src, true
}

// admit applies allow and deny and the per-source limits to a client;
// status says why one is refused. src is the client's hold under the
// limits, nil without them.
func (l *tcpListener) admit(client netip.AddrPort, cfg *Config, now time.Time) (src *source, status string) {
	switch {
	case !cfg.Access.allows(client.Addr()):
		l.stats.denied.Add(1)
		return nil, statusDenied
	case cfg.Limits.on():
		src, limit := l.sources.admit(client.Addr().Unmap(), cfg.Limits, now)
		if src == nil {
			l.overLimit(client, limit)
			return nil, statusLimited
		}
		return src, ""
	}
	return nil, ""
}

// overLimit counts and logs, rate-limited, a connection over a per-source
// limit.
func (l *tcpListener) overLimit(client netip.AddrPort, limit string) {
	l.stats.limited.Add(1)
	if n, ok := l.limitedLog.allow(); ok {
		l.logger.Warn("closing a connection over a per-source limit", "client", client.Addr(), "limit", limit, "suppressed", n)
	}
}

// sendProxyHeader starts the backend's stream with the PROXY header, when
// the listener sends one.
func sendProxyHeader(upstream *net.TCPConn, version string, p peers) error {
	if version == "" {
		return nil
	}
	h, err := proxyHeader(version, p)
	if err != nil {
		return err
	}
	_, err = upstream.Write(h)
	return err
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

// relay copies a TLS connection both ways, through a pooled buffer each
// way, until both directions end. A clean EOF on one side is passed on as
// a half-close and the other direction goes on; an error on either side
// aborts both.
//
// firstByte, if set, is called once the backend's first byte is ready to
// read (or the stream ended), before the copy toward the client starts.
func (c *tcpConn) relay(firstByte func()) (in, out int64, err error) {
	type result struct {
		n   int64
		err error
	}
	up := make(chan result, 1)
	go func() {
		n, err := c.copyUp()
		if err != nil {
			c.closeBoth()
		} else {
			c.upstream.CloseWrite()
		}
		up <- result{n, err}
	}()
	if firstByte != nil && waitReadable(c.upstream) == nil {
		firstByte()
	}
	out, err = c.copyDown()
	if err != nil {
		c.closeBoth()
	} else {
		c.closeWriteClient()
	}
	r := <-up
	c.closeBoth()
	return r.n, out, firstCause(r.err, err)
}

func (c *tcpConn) copyUp() (int64, error) { return copyBuffered(c.upstream, c.tls) }

func (c *tcpConn) copyDown() (int64, error) { return copyBuffered(c.tls, c.upstream) }

func (c *tcpConn) closeBoth() {
	c.client.Close()
	c.upstream.Close()
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
