//go:build linux

package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// How a connection that reached no backend ended, for the access log.
const (
	statusNoBackend     = "no_backend"     // no endpoint was available
	statusConnectFailed = "connect_failed" // every try failed
	statusLocalError    = "local_error"    // pinlb ran out of its own resources
)

// connect dials the backends the balancer chooses, each at most once, up to
// tries attempts within next_timeout. The connection is counted on its
// backend before connect returns, so that least_conn sees it at once. When
// no connect succeeds, it returns the last backend tried, if any, and the
// status that says why.
//
// A failure of pinlb's own (no file descriptor, buffer or local port) ends
// the tries: it is not the endpoint's fault, so it counts against no
// endpoint, and the next one would fail the same way.
func (l *tcpListener) connect(client netip.AddrPort, cfg *Config) (*net.TCPConn, *backend, string) {
	set := l.pool.load()
	start := time.Now()
	p := &pick{
		client: client, now: start.UnixNano(),
		maxConns: int64(cfg.MaxConns), slowStart: cfg.SlowStart,
	}
	tries := cfg.Tries
	if tries <= 0 {
		tries = len(set.backends)
	}
	var last *backend
	for dials := 0; dials < tries; dials++ {
		b := set.choose(p)
		if b == nil {
			break
		}
		p.tried = append(p.tried, b)
		// A backend back from passive failure takes one connect at a
		// time until one succeeds, so that a black hole stalls one client,
		// not half of them.
		probe := !set.single && b.onProbation(p.now)
		if probe && !b.probing.CompareAndSwap(false, true) {
			dials--
			continue
		}
		timeout, ok := dialTimeout(cfg, start)
		if !ok {
			if probe {
				b.probing.Store(false)
			}
			break
		}
		last = b
		conn, err := l.dial(b, timeout)
		if probe {
			b.probing.Store(false)
		}
		switch {
		case err == nil:
			return conn, b, ""
		case localError(err):
			l.localFailure(client, b, err)
			return nil, b, statusLocalError
		case l.dialCtx.Err() != nil: // shutting down: nobody's fault
			return nil, b, statusConnectFailed
		}
		l.connectFailed(b, err, cfg, set.single, len(p.tried))
	}
	l.stats.noBackend.Add(1)
	if s, ok := l.emptyLog.allow(); ok {
		msg := "no endpoint reachable; closing client"
		if last == nil {
			msg = "no endpoint available; closing client"
		}
		l.logger.Warn(msg, "client", client, "tried", len(p.tried),
			"endpoints", len(set.backends), "suppressed", s)
	}
	if last == nil {
		return nil, nil, statusNoBackend
	}
	return nil, last, statusConnectFailed
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

// dial connects to b, counted on it while it tries.
func (l *tcpListener) dial(b *backend, timeout time.Duration) (*net.TCPConn, error) {
	b.active.Add(1)
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(l.dialCtx, "tcp", b.addr.String())
	if err != nil {
		b.active.Add(-1)
		return nil, err
	}
	if b.succeeded() {
		emit(l.cfg.Load(), backendEvent(EventRestored, b, "a connect succeeded after its fail_timeout"))
	}
	b.conns.Add(1)
	return conn.(*net.TCPConn), nil
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
