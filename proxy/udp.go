package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// maxDatagram fits any UDP payload (65507 bytes over IPv4).
const maxDatagram = 65535

// udpReadBuffer is the receive buffer asked for a UDP listener's socket.
const udpReadBuffer = 8 << 20

// Reasons a datagram is dropped, as reported in Stats.Dropped.
const (
	dropNoBackend = iota
	dropSessionLimit
	dropSocket
	dropSendError
	dropReplyUnknownSource
	dropReplySendError
	numDropReasons
)

var dropNames = [numDropReasons]string{
	"no_backend", "session_limit", "socket_error", "send_error",
	"reply_unknown_source", "reply_send_error",
}

// replyBuffers holds datagram buffers for replies, so that an idle session
// holds no buffer while it waits.
var replyBuffers = sync.Pool{New: func() any {
	b := make([]byte, maxDatagram)
	return &b
}}

// udpListener forwards datagrams. Each client address gets a flow: its own
// upstream socket, so that replies can be routed back to it. One goroutine
// reads the listener socket and alone owns the flow table, so the forward
// path takes no lock and allocates nothing once a flow exists.
type udpListener struct {
	logger hclog.Logger
	conn   *net.UDPConn
	cfg    atomic.Pointer[Config]
	pool   *pool

	flows map[netip.AddrPort]*flow // owned by the reader goroutine
	pick  pick                     // reused by the reader goroutine
	out   sender                   // the reader goroutine's send batch

	// Flows that ended on their own, for the reader to remove from flows.
	endedMu sync.Mutex
	ended   []*flow
	nEnded  atomic.Int32

	wg       sync.WaitGroup // the reader and one per flow
	stopOnce sync.Once

	sessions                           atomic.Int64
	datagramsIn, datagramsOut, replies atomic.Uint64
	bytesIn, bytesOut                  atomic.Uint64
	dropped                            [numDropReasons]atomic.Uint64
	dropLog                            [numDropReasons]rateLog
}

func listenUDP(cfg Config, logger hclog.Logger) (*udpListener, error) {
	addr, err := net.ResolveUDPAddr("udp", cfg.Address)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, err
	}
	// Room for bursts: the default (about 200 KB) holds fifty 4 KB
	// datagrams. The kernel caps it at net.core.rmem_max.
	conn.SetReadBuffer(udpReadBuffer)
	l := &udpListener{
		logger: logger,
		conn:   conn,
		pool:   newPool(cfg.Balance),
		flows:  map[netip.AddrPort]*flow{},
	}
	l.out.sendFn = l.out.send
	l.cfg.Store(&cfg)
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

func (l *udpListener) Addr() net.Addr { return l.conn.LocalAddr() }

func (l *udpListener) Update(cfg Config) error {
	if err := checkUpdate(l.cfg.Load(), cfg); err != nil {
		return err
	}
	l.pool.setBalance(cfg.Balance)
	l.cfg.Store(&cfg)
	return nil
}

// SetEndpoints replaces the endpoint set. Sessions bound to an endpoint
// that left move on their next datagram.
func (l *udpListener) SetEndpoints(eps []Endpoint) { l.pool.update(eps) }

func (l *udpListener) Stats() Stats {
	s := Stats{
		DatagramsIn:  l.datagramsIn.Load(),
		DatagramsOut: l.datagramsOut.Load(),
		Replies:      l.replies.Load(),
		BytesIn:      l.bytesIn.Load(),
		BytesOut:     l.bytesOut.Load(),
		Sessions:     l.sessions.Load(),
		Dropped:      make(map[string]uint64, numDropReasons),
	}
	for i := range l.dropped {
		s.Dropped[dropNames[i]] = l.dropped[i].Load()
	}
	return s
}

func (l *udpListener) Endpoints() []EndpointStatus { return l.pool.status(l.cfg.Load(), nil) }

// Shutdown closes the socket and every session at once: a UDP listener has
// nothing to drain, and replies need the socket that is going away.
func (l *udpListener) Shutdown(context.Context) error {
	l.stopOnce.Do(func() { l.conn.Close() })
	l.wg.Wait()
	return nil
}

// udpBatch is how many datagrams one system call may read. Each buffer
// fits the largest datagram; only the bytes datagrams fill are touched, so
// the resident cost follows the traffic.
const udpBatch = 32

func (l *udpListener) serve() {
	defer l.wg.Done()
	defer func() {
		for _, f := range l.flows {
			f.sock.Close()
		}
	}()
	raw, err := l.conn.SyscallConn()
	if err != nil {
		l.logger.Error("udp listener cannot read its socket", "error", err)
		return
	}
	b := newBatch(udpBatch, maxDatagram)
	for {
		if err := raw.Read(b.read); err != nil {
			return // closed
		}
		if b.err != nil {
			l.drop(dropSocket, netip.AddrPort{}, b.err)
			continue
		}
		if l.nEnded.Load() > 0 {
			l.reap()
		}
		now := time.Now().UnixNano() // they arrived together
		for i := range b.n {
			p, client := b.message(i)
			l.enqueue(p, client, now)
		}
		l.flush()
	}
}

// forward sends one datagram from client on: the path of a datagram on its
// own (the batched one is enqueue and flush).
func (l *udpListener) forward(p []byte, client netip.AddrPort) {
	l.received(p)
	l.route(p, client, time.Now().UnixNano())
}

// received counts a datagram from a client.
func (l *udpListener) received(p []byte) {
	l.datagramsIn.Add(1)
	l.bytesIn.Add(uint64(len(p)))
}

// sent counts a datagram that left for b through f.
func (l *udpListener) sent(p []byte, f *flow, b *backend) {
	n := uint64(len(p))
	l.datagramsOut.Add(1)
	l.bytesOut.Add(n)
	b.datagramsIn.Add(1)
	b.bytesIn.Add(n)
	f.datagramsIn.Add(1)
	f.bytesIn.Add(n)
}

// choose finds (or opens) client's flow and the backend for its datagram;
// nil when the datagram is dropped, which it counts with the reason.
func (l *udpListener) choose(client netip.AddrPort, now int64) (*flow, *backend) {
	cfg := l.cfg.Load()
	set := l.pool.load()
	if len(set.primary.idx)+len(set.backup.idx) == 0 {
		l.drop(dropNoBackend, client, nil) // before a flow: no socket for a datagram going nowhere
		return nil, nil
	}
	f := l.flows[client]
	if f == nil || f.dead.Load() {
		if f = l.newFlow(client, cfg); f == nil {
			return nil, nil
		}
	}
	b := l.target(f, set, cfg, client, now)
	if b == nil {
		l.drop(dropNoBackend, client, nil)
		return nil, nil
	}
	f.last.Store(now)
	return f, b
}

// route sends a counted datagram on its own.
func (l *udpListener) route(p []byte, client netip.AddrPort, now int64) {
	// One retry: a flow can end (timeout) between the lookup and the send.
	for range 2 {
		f, b := l.choose(client, now)
		if f == nil {
			return
		}
		_, err := f.sock.WriteToUDPAddrPort(p, b.addr)
		if err == nil {
			l.sent(p, f, b)
			return
		}
		if !f.dead.Load() {
			l.drop(dropSendError, client, err)
			return
		}
	}
	l.drop(dropSendError, client, net.ErrClosed)
}

func (l *udpListener) drop(reason int, client netip.AddrPort, err error) {
	l.dropped[reason].Add(1)
	if n, ok := l.dropLog[reason].allow(); ok {
		l.logger.Warn("datagram dropped", "reason", dropNames[reason], "client", client,
			"error", err, "suppressed", n, "total", l.dropped[reason].Load())
	}
}

// reap removes flows that ended on their own from the table.
func (l *udpListener) reap() {
	l.endedMu.Lock()
	ended := l.ended
	l.ended = nil
	l.nEnded.Store(0)
	l.endedMu.Unlock()
	for _, f := range ended {
		if l.flows[f.client] == f {
			delete(l.flows, f.client)
		}
	}
}

func (l *udpListener) newFlow(client netip.AddrPort, cfg *Config) *flow {
	delete(l.flows, client) // a dead flow, if any
	if l.sessions.Load() >= int64(cfg.UDP.MaxSessions) {
		l.drop(dropSessionLimit, client, nil)
		return nil
	}
	sock, err := net.ListenUDP("udp", nil)
	if err != nil {
		l.drop(dropSocket, client, err)
		return nil
	}
	raw, err := sock.SyscallConn()
	if err != nil {
		sock.Close()
		l.drop(dropSocket, client, err)
		return nil
	}
	f := &flow{l: l, client: client, sock: sock, raw: raw, start: time.Now(),
		v6: sock.LocalAddr().(*net.UDPAddr).IP.To4() == nil}
	// Set before relayReplies runs: at 0, it would find the session
	// timed out before its first datagram.
	f.last.Store(f.start.UnixNano())
	f.readFn = f.read
	l.flows[client] = f
	l.sessions.Add(1)
	l.wg.Add(1)
	go f.relayReplies()
	return f
}

// flow is one client address's session: an upstream socket and, in session
// mode, the backend it sticks to.
type flow struct {
	l      *udpListener
	client netip.AddrPort
	sock   *net.UDPConn
	raw    syscall.RawConn
	v6     bool // the socket is AF_INET6 (dual-stack): backends are addressed as IPv6
	start  time.Time

	last atomic.Int64 // unix nanoseconds of the last datagram either way
	dead atomic.Bool
	// For the access log: datagrams and bytes from the client (written by
	// the reader) and replies to it (written by relayReplies).
	datagramsIn, bytesIn, datagramsOut, bytesOut atomic.Uint64
	mu                                           sync.Mutex // guards binding and unbinding backend (rare)
	backend                                      atomic.Pointer[backend]

	// Reply read state, used only by relayReplies and read.
	readFn func(uintptr) bool
	buf    *[]byte
	n      int
	from   netip.AddrPort
	rerr   error
}

func (f *flow) touch() { f.last.Store(time.Now().UnixNano()) }

// target picks the backend for one datagram: per datagram in packet mode;
// in session mode the bound backend, re-elected when it left the pool.
func (l *udpListener) target(f *flow, set *endpointSet, cfg *Config, client netip.AddrPort, now int64) *backend {
	if cfg.UDP.Mode == SessionMode {
		if b := f.backend.Load(); b != nil && !b.removed.Load() {
			return b
		}
	}
	p := &l.pick
	*p = pick{client: client, now: now, maxConns: int64(cfg.MaxConns), slowStart: cfg.SlowStart}
	b := set.choose(p)
	if b != nil && cfg.UDP.Mode == SessionMode {
		f.bind(b)
	}
	return b
}

func (f *flow) bind(b *backend) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead.Load() {
		return
	}
	b.active.Add(1)
	if old := f.backend.Swap(b); old != nil {
		old.active.Add(-1)
	}
}

// relayReplies sends the backends' replies to the client until the session
// times out, reaches its reply limit, or its socket closes.
func (f *flow) relayReplies() {
	l := f.l
	defer l.wg.Done()
	status := "shutdown"
	defer func() { f.end(status) }()
	replies := 0
	for {
		cfg := l.cfg.Load()
		deadline := time.Unix(0, f.last.Load()).Add(cfg.UDP.SessionTimeout)
		if !time.Now().Before(deadline) {
			status = "ok"
			return
		}
		f.sock.SetReadDeadline(deadline)
		if err := f.raw.Read(f.readFn); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue // the next turn checks whether the client spoke since
			}
			return
		}
		if f.rerr != nil {
			l.drop(dropSocket, f.client, f.rerr)
			continue
		}
		b := f.fromBackend(l.pool.load())
		if b == nil {
			replyBuffers.Put(f.buf)
			l.drop(dropReplyUnknownSource, f.client, nil)
			continue
		}
		_, err := l.conn.WriteToUDPAddrPort((*f.buf)[:f.n], f.client)
		replyBuffers.Put(f.buf)
		if err != nil {
			l.drop(dropReplySendError, f.client, err)
			continue
		}
		n := uint64(f.n)
		l.replies.Add(1)
		b.datagramsOut.Add(1)
		b.bytesOut.Add(n)
		f.datagramsOut.Add(1)
		f.bytesOut.Add(n)
		f.touch()
		replies++
		if cfg.UDP.Mode == SessionMode && cfg.UDP.Responses > 0 && replies >= cfg.UDP.Responses {
			status = "responses"
			return
		}
	}
}

// read is the RawConn callback: it takes a pooled buffer only once a reply
// is there to read.
func (f *flow) read(fd uintptr) bool {
	b := replyBuffers.Get().(*[]byte)
	n, from, err := recvfrom(fd, *b)
	if err == unix.EAGAIN {
		replyBuffers.Put(b)
		return false
	}
	if err != nil {
		replyBuffers.Put(b)
		b = nil
	}
	f.buf, f.n, f.from, f.rerr = b, n, from, err
	return true
}

// fromBackend returns the backend the reply came from, if this session may
// hear from it: its bound backend, or any endpoint in the pool.
func (f *flow) fromBackend(set *endpointSet) *backend {
	if b := f.backend.Load(); b != nil && b.addr == f.from {
		return b
	}
	return set.byAddr[f.from]
}

func (f *flow) end(status string) {
	f.mu.Lock()
	f.dead.Store(true)
	b := f.backend.Swap(nil)
	if b != nil {
		b.active.Add(-1)
	}
	f.mu.Unlock()
	if cfg := f.l.cfg.Load(); cfg.Recorder != nil {
		r := &Record{
			Listener: cfg.Name, Protocol: UDP, Client: f.client,
			Local: f.l.conn.LocalAddr().(*net.UDPAddr).AddrPort(), Start: f.start, Duration: time.Since(f.start),
			BytesIn: f.bytesIn.Load(), BytesOut: f.bytesOut.Load(),
			DatagramsIn: f.datagramsIn.Load(), DatagramsOut: f.datagramsOut.Load(), Status: status,
		}
		if b != nil {
			r.Upstream = b.addr
		}
		cfg.Recorder.Record(r)
	}
	f.sock.Close()
	l := f.l
	l.sessions.Add(-1)
	l.endedMu.Lock()
	l.ended = append(l.ended, f)
	l.nEnded.Add(1)
	l.endedMu.Unlock()
	l.logger.Trace("udp session ended", "client", f.client, "duration", time.Since(f.start))
}
