//go:build linux

package proxy

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Accept error back-off bounds.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

type tcpListener struct {
	logger hclog.Logger
	ln     *net.TCPListener
	cfg    atomic.Pointer[Config]
	pool   *pool

	// dialCtx is cancelled when open connections are force-closed, so
	// connects still in progress give up too.
	dialCtx    context.Context
	cancelDial context.CancelFunc

	mu     sync.Mutex
	conns  map[*tcpConn]struct{}
	forced bool // Shutdown's deadline passed: close whatever is still open

	handlers  sync.WaitGroup // the accept loop and one per connection
	stopOnce  sync.Once      // closes the socket
	endOnce   sync.Once      // stops the watchdog
	watchDone chan struct{}

	stats                                            tcpStats
	acceptLog, limitLog, dialLog, emptyLog, localLog rateLog
}

type tcpStats struct {
	accepted, acceptErrors, rejected, connectFailures, noBackend atomic.Uint64
	localErrors                                                  atomic.Uint64
	idleClosed, drainClosed, unhealthyClosed, passiveOut         atomic.Uint64
	rebalanceMoves, rebalanceBusy, rebalanceForced, lifetime     atomic.Uint64
	active                                                       atomic.Int64
	bytesIn, bytesOut                                            atomic.Uint64
}

// closeReason says why pinlb closed a connection, for the log.
type closeReason int32

const (
	closedByPeer closeReason = iota
	closedIdle
	closedDrained
	closedUnhealthy
	closedRebalance
	closedLifetime
	closedShutdown
)

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

func listenTCP(cfg Config, logger hclog.Logger) (*tcpListener, error) {
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, err
	}
	l := &tcpListener{
		logger:    logger,
		ln:        ln.(*net.TCPListener),
		pool:      newPool(cfg.Balance),
		conns:     map[*tcpConn]struct{}{},
		watchDone: make(chan struct{}),
	}
	l.dialCtx, l.cancelDial = context.WithCancel(context.Background())
	l.cfg.Store(&cfg)
	l.handlers.Add(1)
	go l.serve()
	go l.watch()
	return l, nil
}

func (l *tcpListener) Addr() net.Addr { return l.ln.Addr() }

func (l *tcpListener) Update(cfg Config) error {
	if err := checkUpdate(l.cfg.Load(), cfg); err != nil {
		return err
	}
	l.pool.setBalance(cfg.Balance)
	l.cfg.Store(&cfg)
	return nil
}

// SetEndpoints replaces the endpoint set. The open connections of an
// endpoint that left drain, or are closed at once under CloseConnections.
func (l *tcpListener) SetEndpoints(eps []Endpoint) {
	left := l.pool.update(eps)
	if len(left) == 0 || l.cfg.Load().OnUnhealthy != CloseConnections {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		for _, b := range left {
			if c.backend == b {
				c.abort(closedUnhealthy)
			}
		}
	}
}

func (l *tcpListener) Stats() Stats { return l.statsWith(l.liveBytes()) }

// Status reads the open connections' byte counters once, for both.
func (l *tcpListener) Status() (Stats, []EndpointStatus) {
	live := l.liveBytes()
	return l.statsWith(live), l.pool.status(l.cfg.Load(), live)
}

// statsWith is the listener's counters, with live's bytes of the open
// connections added.
func (l *tcpListener) statsWith(live map[*backend][2]uint64) Stats {
	s := &l.stats
	var liveIn, liveOut uint64
	for _, v := range live {
		liveIn, liveOut = liveIn+v[0], liveOut+v[1]
	}
	return Stats{
		Accepted:        s.accepted.Load(),
		AcceptErrors:    s.acceptErrors.Load(),
		Active:          s.active.Load(),
		Rejected:        s.rejected.Load(),
		ConnectFailures: s.connectFailures.Load(),
		NoBackend:       s.noBackend.Load(),
		LocalErrors:     s.localErrors.Load(),
		IdleClosed:      s.idleClosed.Load(),
		DrainClosed:     s.drainClosed.Load(),
		UnhealthyClosed: s.unhealthyClosed.Load(),
		PassiveOut:      s.passiveOut.Load(),
		RebalanceMoves:  s.rebalanceMoves.Load(),
		RebalanceBusy:   s.rebalanceBusy.Load(),
		RebalanceForced: s.rebalanceForced.Load(),
		LifetimeClosed:  s.lifetime.Load(),
		BytesIn:         s.bytesIn.Load() + liveIn,
		BytesOut:        s.bytesOut.Load() + liveOut,
	}
}

// liveBytes reads what the open connections have moved so far from the
// kernel's counters on their client sockets, by backend: bytes received
// from the client, and bytes sent to it and acknowledged.
func (l *tcpListener) liveBytes() map[*backend][2]uint64 {
	l.mu.Lock()
	conns := make([]*tcpConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	live := make(map[*backend][2]uint64)
	for _, c := range conns {
		if in, out, err := tcpBytes(c.client); err == nil { // closing meanwhile: counted when it ends
			v := live[c.backend]
			live[c.backend] = [2]uint64{v[0] + in, v[1] + out}
		}
	}
	return live
}

// record hands a finished connection to the recorder, if there is one.
func (l *tcpListener) record(cfg *Config, client *net.TCPConn, upstream netip.AddrPort, start time.Time, in, out int64, status string) {
	if cfg.Recorder == nil {
		return
	}
	cfg.Recorder.Record(&Record{
		Listener: cfg.Name,
		Protocol: TCP,
		Client:   client.RemoteAddr().(*net.TCPAddr).AddrPort(),
		Local:    client.LocalAddr().(*net.TCPAddr).AddrPort(),
		Upstream: upstream,
		Start:    start,
		Duration: time.Since(start),
		BytesIn:  uint64(in),
		BytesOut: uint64(out),
		Status:   status,
	})
}

func (l *tcpListener) serve() {
	defer l.handlers.Done()
	var delay time.Duration
	for {
		client, err := l.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE, ECONNABORTED and the like: back off and go on. The
			// listener never dies of an accept error.
			l.stats.acceptErrors.Add(1)
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			if n, ok := l.acceptLog.allow(); ok {
				l.logger.Error("accept failed; backing off", "error", err, "backoff", delay, "suppressed", n)
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		l.stats.accepted.Add(1)
		cfg := l.cfg.Load()
		if cfg.MaxConnections > 0 && l.stats.active.Load() >= int64(cfg.MaxConnections) {
			l.stats.rejected.Add(1)
			if n, ok := l.limitLog.allow(); ok {
				l.logger.Warn("max_connections reached; closing new connection",
					"client", client.RemoteAddr(), "max_connections", cfg.MaxConnections, "suppressed", n)
			}
			l.record(cfg, client, netip.AddrPort{}, time.Now(), 0, 0, "rejected")
			client.Close()
			continue
		}
		l.stats.active.Add(1)
		l.handlers.Add(1)
		go l.handle(client, cfg)
	}
}

func (l *tcpListener) handle(client *net.TCPConn, cfg *Config) {
	defer l.handlers.Done()
	defer l.stats.active.Add(-1)
	start := time.Now()

	upstream, b, status := l.connect(client, cfg)
	if upstream == nil {
		addr := netip.AddrPort{}
		if b != nil {
			addr = b.addr
		}
		l.record(cfg, client, addr, start, 0, 0, status)
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
	var firstByte func()
	if cfg.Balance == LeastTime {
		firstByte = func() { b.observe(time.Since(start)) }
	}
	in, out, err := splice(client, upstream, firstByte)
	b.active.Add(-1)
	l.untrack(c)
	l.stats.bytesIn.Add(uint64(in))
	l.stats.bytesOut.Add(uint64(out))
	b.bytesIn.Add(uint64(in))
	b.bytesOut.Add(uint64(out))

	reason := closeReason(c.reason.Load())
	l.record(cfg, client, b.addr, start, in, out, reason.String())
	switch reason {
	case closedIdle:
		l.stats.idleClosed.Add(1)
	case closedDrained:
		l.stats.drainClosed.Add(1)
	case closedUnhealthy:
		l.stats.unhealthyClosed.Add(1)
	}
	args := []any{"client", client.RemoteAddr(), "endpoint", b.addr,
		"bytes_in", in, "bytes_out", out, "duration", time.Since(start), "status", reason}
	if err != nil {
		args = append(args, "error", err)
	}
	l.logger.Debug("connection closed", args...)
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

// watch closes connections that moved no byte for the idle timeout,
// connections whose endpoint left the pool longer than the drain timeout
// ago, and, with rebalancing, quiet connections of overloaded endpoints and
// those past their max_lifetime. It reads the kernel's byte counters, so the
// data path stays a bare splice.
func (l *tcpListener) watch() {
	var (
		conns []*tcpConn
		rb    rebalancer
	)
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
		conns = conns[:0]
		l.mu.Lock()
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		now := time.Now()
		live := conns[:0]
		for _, c := range conns {
			if cfg.DrainTimeout > 0 && c.backend.drainedFor(now) >= cfg.DrainTimeout {
				c.abort(closedDrained)
				continue
			}
			if !c.movedAt.IsZero() { // leaving: no longer counted
				if now.Sub(c.movedAt) >= moveGrace {
					c.abort(closeReason(c.reason.Load()))
				}
				continue
			}
			if !activity {
				continue
			}
			if n, err := bytesMoved(c.client, c.upstream); err == nil && n != c.lastBytes {
				c.lastBytes, c.lastActive = n, now
			}
			quiet := now.Sub(c.lastActive)
			switch {
			case cfg.IdleTimeout > 0 && quiet >= cfg.IdleTimeout:
				c.abort(closedIdle)
			case c.lifetime > 0 && now.Sub(c.start) >= c.lifetime && quiet >= r.MinIdle:
				l.stats.lifetime.Add(1)
				c.move(now, closedLifetime)
			default:
				live = append(live, c)
			}
		}
		if r.Enabled && r.Skew > 0 {
			l.rebalance(&rb, &r, live, now)
		}
		clear(conns)
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

func (l *tcpListener) Shutdown(ctx context.Context) error {
	l.stopOnce.Do(func() {
		l.takeAcceptQueue(ctx)
		l.ln.Close()
	})
	drained := make(chan struct{})
	go func() {
		l.handlers.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		l.forceClose()
		<-drained
	}
	l.endOnce.Do(func() {
		close(l.watchDone)
		l.cancelDial()
	})
	return err
}

// acceptQueueWait bounds how long Shutdown lets the accept loop take the
// connections the kernel has already completed.
const acceptQueueWait = time.Second

// takeAcceptQueue waits, briefly, until the accept loop has taken every
// connection in the socket's accept queue: the kernel completed those
// handshakes, their clients may have sent data already, and closing the
// socket would reset them. The ones taken drain with the others.
func (l *tcpListener) takeAcceptQueue(ctx context.Context) {
	deadline := time.Now().Add(acceptQueueWait)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if n, err := acceptQueueLen(l.ln); err != nil || n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// forceClose closes every open connection and cancels connects in progress.
func (l *tcpListener) forceClose() {
	l.mu.Lock()
	l.forced = true
	n := len(l.conns)
	for c := range l.conns {
		c.abort(closedShutdown)
	}
	l.mu.Unlock()
	l.cancelDial()
	if n > 0 {
		l.logger.Warn("closed connections still open at the deadline", "connections", n)
	}
}
