package proxy

import (
	"context"
	"errors"
	"io"
	"net"
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

	stats                                  tcpStats
	acceptLog, limitLog, dialLog, emptyLog rateLog
}

type tcpStats struct {
	accepted, acceptErrors, rejected, connectFailures, noBackend atomic.Uint64
	idleClosed, drainClosed                                      atomic.Uint64
	active                                                       atomic.Int64
	bytesIn, bytesOut                                            atomic.Uint64
}

// closeReason says why pinlb closed a connection, for the log.
type closeReason int32

const (
	closedByPeer closeReason = iota
	closedIdle
	closedDrained
	closedShutdown
)

func (r closeReason) String() string {
	return [...]string{"ok", "idle_timeout", "drain_timeout", "shutdown"}[r]
}

// tcpConn is one proxied connection.
type tcpConn struct {
	client, upstream *net.TCPConn
	backend          *backend
	reason           atomic.Int32 // closeReason

	// Owned by the watchdog goroutine.
	lastBytes  uint64
	lastActive time.Time
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

func (l *tcpListener) SetEndpoints(eps []Endpoint) { l.pool.update(eps) }

func (l *tcpListener) Stats() Stats {
	s := &l.stats
	return Stats{
		Accepted:        s.accepted.Load(),
		AcceptErrors:    s.acceptErrors.Load(),
		Active:          s.active.Load(),
		Rejected:        s.rejected.Load(),
		ConnectFailures: s.connectFailures.Load(),
		NoBackend:       s.noBackend.Load(),
		IdleClosed:      s.idleClosed.Load(),
		DrainClosed:     s.drainClosed.Load(),
		BytesIn:         s.bytesIn.Load(),
		BytesOut:        s.bytesOut.Load(),
	}
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

	upstream, b := l.connect(client, cfg)
	if upstream == nil {
		client.Close()
		return
	}
	c := &tcpConn{client: client, upstream: upstream, backend: b, lastActive: start}
	if !l.track(c) {
		c.abort(closedShutdown)
		return
	}
	b.active.Add(1)
	in, out, err := splice(client, upstream)
	b.active.Add(-1)
	l.untrack(c)
	l.stats.bytesIn.Add(uint64(in))
	l.stats.bytesOut.Add(uint64(out))

	reason := closeReason(c.reason.Load())
	switch reason {
	case closedIdle:
		l.stats.idleClosed.Add(1)
	case closedDrained:
		l.stats.drainClosed.Add(1)
	}
	args := []any{"client", client.RemoteAddr(), "endpoint", b.addr,
		"bytes_in", in, "bytes_out", out, "duration", time.Since(start), "status", reason}
	if err != nil {
		args = append(args, "error", err)
	}
	l.logger.Debug("connection closed", args...)
}

// connect dials the backends in balancer order, trying each at most once.
func (l *tcpListener) connect(client *net.TCPConn, cfg *Config) (*net.TCPConn, *backend) {
	set := l.pool.load()
	n := len(set.backends)
	if n == 0 {
		l.stats.noBackend.Add(1)
		if s, ok := l.emptyLog.allow(); ok {
			l.logger.Warn("no endpoints; closing client", "client", client.RemoteAddr(), "suppressed", s)
		}
		return nil, nil
	}
	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	first := set.balancer.Pick(client.RemoteAddr().(*net.TCPAddr).AddrPort())
	for i := range n {
		b := set.backends[(first+i)%n]
		conn, err := d.DialContext(l.dialCtx, "tcp", b.addr.String())
		if err == nil {
			return conn.(*net.TCPConn), b
		}
		l.stats.connectFailures.Add(1)
		if s, ok := l.dialLog.allow(); ok {
			l.logger.Warn("connect failed", "endpoint", b.addr, "try", i+1, "of", n, "error", err, "suppressed", s)
		}
		if l.dialCtx.Err() != nil {
			break
		}
	}
	l.stats.noBackend.Add(1)
	l.logger.Warn("no endpoint reachable; closing client", "client", client.RemoteAddr(), "tries", n)
	return nil, nil
}

// splice copies both ways until both directions end. A clean EOF on one side
// is passed on as a half-close and the other direction goes on; an error on
// either side aborts both. io.Copy between two *net.TCPConn uses splice(2).
func splice(client, upstream *net.TCPConn) (in, out int64, err error) {
	type result struct {
		n   int64
		err error
	}
	up := make(chan result, 1)
	go func() {
		n, err := io.Copy(upstream, client)
		if err != nil {
			client.Close()
			upstream.Close()
		} else {
			upstream.CloseWrite()
		}
		up <- result{n, err}
	}()
	out, err = io.Copy(client, upstream)
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

// watch closes connections that moved no byte for the idle timeout, and
// connections whose endpoint left the pool longer than the drain timeout
// ago. It reads the kernel's byte counters, so the data path stays a bare
// splice.
func (l *tcpListener) watch() {
	var conns []*tcpConn
	for {
		cfg := l.cfg.Load()
		idle, drain := cfg.IdleTimeout, cfg.DrainTimeout
		select {
		case <-l.watchDone:
			return
		case <-time.After(watchPeriod(idle, drain)):
		}
		if idle <= 0 && drain <= 0 {
			continue
		}
		conns = conns[:0]
		l.mu.Lock()
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		now := time.Now()
		for _, c := range conns {
			if drain > 0 && c.backend.drainedFor(now) >= drain {
				c.abort(closedDrained)
				continue
			}
			if idle <= 0 {
				continue
			}
			n, err := bytesMoved(c.client, c.upstream)
			if err != nil {
				continue // closing already
			}
			if n != c.lastBytes {
				c.lastBytes, c.lastActive = n, now
				continue
			}
			if now.Sub(c.lastActive) >= idle {
				c.abort(closedIdle)
			}
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
	l.stopOnce.Do(func() { l.ln.Close() })
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
