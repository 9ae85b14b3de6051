//go:build linux

package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/proxy/pool"
	"github.com/pinlb/pinlb/proxy/reactor"
	"golang.org/x/sys/unix"
)

// Accept error back-off bounds (see acceptor.failed).
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

type tcpListener struct {
	logger hclog.Logger
	// The listening socket, owned by the reactors, which accept on it.
	fd        int
	addr      net.Addr
	local     netip.AddrPort // addr as bound
	acceptors []*acceptor    // one per reactor
	cfg       atomic.Pointer[Config]
	pool      *pool.Pool

	// dialCtx is cancelled when open connections are force-closed, so
	// connects still in progress give up too.
	dialCtx    context.Context
	cancelDial context.CancelFunc

	mu     sync.Mutex
	conns  map[*tcpConn]struct{}
	forced bool // Shutdown's deadline passed: close whatever is still open

	stopping atomic.Bool // Shutdown began: the watchdog moves what it can

	handlers  sync.WaitGroup // one per connection
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
	goAwaySent, quietCloses, callsEnded                                 atomic.Uint64
	active                                                              atomic.Int64
	bytesIn, bytesOut                                                   atomic.Uint64
}

// reactors are the process's reactors, which every TCP listener acquires:
// one per CPU, each accepting, connecting and relaying for them all.
var reactors reactor.Group

func listenTCP(cfg Config, logger hclog.Logger) (*tcpListener, error) {
	fd, addr, err := listenFD(cfg.Address, cfg.BufferSize)
	if err != nil {
		return nil, err
	}
	if err := reactors.Acquire(); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("reactors: %w", err)
	}
	l := &tcpListener{
		logger:    logger,
		fd:        fd,
		addr:      addr,
		local:     addrPort(addr),
		pool:      newPool(&cfg),
		conns:     map[*tcpConn]struct{}{},
		watchDone: make(chan struct{}),
		sources:   newSources(),
	}
	l.dialCtx, l.cancelDial = context.WithCancel(context.Background())
	l.cfg.Store(&cfg)
	warnIfCapped(logger, fd, cfg.BufferSize)
	if err := l.listen(); err != nil {
		l.unlisten()
		unix.Close(fd)
		reactors.Release()
		return nil, fmt.Errorf("reactors: %w", err)
	}
	go l.watch()
	return l, nil
}

// listen has every reactor accept on the listener's socket.
func (l *tcpListener) listen() error {
	for _, r := range reactors.Reactors() {
		a := &acceptor{l: l, r: r}
		if err := r.Call(a.listen); err != nil {
			return err
		}
		l.acceptors = append(l.acceptors, a)
	}
	return nil
}

// unlisten has the reactors stop accepting; what they accepted stays theirs.
func (l *tcpListener) unlisten() {
	for _, a := range l.acceptors {
		a.r.Call(a.unlisten)
	}
}

func (l *tcpListener) Addr() net.Addr { return l.addr }

func (l *tcpListener) Update(cfg Config) error {
	if err := checkUpdate(l.cfg.Load(), cfg); err != nil {
		return err
	}
	if err := capBuffers(l.fd, cfg.BufferSize); err != nil { // for the connections accepted from now on
		return fmt.Errorf("listener %q: buffer_size: %w", cfg.Name, err)
	}
	warnIfCapped(l.logger, l.fd, cfg.BufferSize)
	l.pool.Configure(rulesOf(&cfg))
	l.cfg.Store(&cfg)
	return nil
}

// SetEndpoints replaces the endpoint set. The open connections of an
// endpoint that left drain, or are closed at once under CloseConnections.
func (l *tcpListener) SetEndpoints(eps []Endpoint) {
	left := l.pool.Update(eps)
	if len(left) == 0 || l.cfg.Load().OnUnhealthy != CloseConnections {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		for _, b := range left {
			if c.backend() == b {
				c.abort(outcomeUnhealthy)
			}
		}
	}
}

func (l *tcpListener) Stats() Stats { return l.statsWith(l.liveBytes()) }

// Status reads the open connections' byte counters once, for both.
func (l *tcpListener) Status() (Stats, []EndpointStatus) {
	live := l.liveBytes()
	return l.statsWith(live), l.pool.Status(live)
}

// statsWith is the listener's counters, with live's bytes of the open
// connections added.
func (l *tcpListener) statsWith(live map[*pool.Backend][2]uint64) Stats {
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
		GoAwaySent:         s.goAwaySent.Load(),
		QuietCloses:        s.quietCloses.Load(),
		CallsEnded:         s.callsEnded.Load(),
		BytesIn:            s.bytesIn.Load() + liveIn,
		BytesOut:           s.bytesOut.Load() + liveOut,
	}
}

// liveBytes reads what the open connections have moved so far, by
// backend, from their drivers' counters.
func (l *tcpListener) liveBytes() map[*pool.Backend][2]uint64 {
	live := make(map[*pool.Backend][2]uint64)
	for _, c := range l.tracked() {
		in, out := c.drv.bytes()
		b := c.backend()
		v := live[b]
		live[b] = [2]uint64{v[0] + in, v[1] + out}
	}
	return live
}
