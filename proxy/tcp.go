//go:build linux

package proxy

import (
	"context"
	"errors"
	"fmt"
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

	stats                                                                          tcpStats
	acceptLog, limitLog, dialLog, emptyLog, localLog, proxyLog, limitedLog, tlsLog rateLog
	sources                                                                        *sources // per-source limits
}

type tcpStats struct {
	accepted, acceptErrors, rejected, connectFailures, noBackend        atomic.Uint64
	localErrors, proxyHeaderErrors, denied, limited, tlsHandshakeErrors atomic.Uint64
	idleClosed, drainClosed, unhealthyClosed, passiveOut                atomic.Uint64
	rebalanceMoves, rebalanceBusy, rebalanceForced, lifetime            atomic.Uint64
	active                                                              atomic.Int64
	bytesIn, bytesOut                                                   atomic.Uint64
}

const (
	closedByPeer closeReason = iota
	closedIdle
	closedDrained
	closedUnhealthy
	closedRebalance
	closedLifetime
	closedShutdown
)

func listenTCP(cfg Config, logger hclog.Logger) (*tcpListener, error) {
	ln, err := listenKeepAlive(cfg.Address)
	if err != nil {
		return nil, err
	}
	if err := acquireLoops(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("relay loops: %w", err)
	}
	l := &tcpListener{
		logger:    logger,
		ln:        ln.(*net.TCPListener),
		pool:      newPool(cfg.Balance),
		conns:     map[*tcpConn]struct{}{},
		watchDone: make(chan struct{}),
		sources:   newSources(),
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
		Accepted:           s.accepted.Load(),
		AcceptErrors:       s.acceptErrors.Load(),
		Active:             s.active.Load(),
		Rejected:           s.rejected.Load(),
		ConnectFailures:    s.connectFailures.Load(),
		NoBackend:          s.noBackend.Load(),
		LocalErrors:        s.localErrors.Load(),
		ProxyHeaderErrors:  s.proxyHeaderErrors.Load(),
		Denied:             s.denied.Load(),
		Limited:            s.limited.Load(),
		TLSHandshakeErrors: s.tlsHandshakeErrors.Load(),
		Sources:            l.sources.len(),
		IdleClosed:         s.idleClosed.Load(),
		DrainClosed:        s.drainClosed.Load(),
		UnhealthyClosed:    s.unhealthyClosed.Load(),
		PassiveOut:         s.passiveOut.Load(),
		RebalanceMoves:     s.rebalanceMoves.Load(),
		RebalanceBusy:      s.rebalanceBusy.Load(),
		RebalanceForced:    s.rebalanceForced.Load(),
		LifetimeClosed:     s.lifetime.Load(),
		BytesIn:            s.bytesIn.Load() + liveIn,
		BytesOut:           s.bytesOut.Load() + liveOut,
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
		if in, out, err := c.clientBytes(); err == nil { // closing meanwhile: counted when it ends
			v := live[c.backend]
			live[c.backend] = [2]uint64{v[0] + in, v[1] + out}
		}
	}
	return live
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
			l.record(cfg, socketPeers(client), netip.AddrPort{}, time.Now(), 0, 0, "rejected")
			client.Close()
			continue
		}
		l.stats.active.Add(1)
		l.handlers.Add(1)
		go l.handle(client, cfg)
	}
}
