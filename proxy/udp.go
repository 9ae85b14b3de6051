//go:build linux

package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
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

// dropReceiveBuffer is the reason for the datagrams the kernel dropped
// before pinlb could read them: its listening sockets' buffers were full.
const dropReceiveBuffer = "receive_buffer"

// replyBuffers holds datagram buffers for replies, so that an idle session
// holds no buffer while it waits.
var replyBuffers = sync.Pool{New: func() any {
	b := make([]byte, maxDatagram)
	return &b
}}

// udpListener forwards datagrams. Each client address gets a flow: its own
// upstream socket, so that replies can be routed back to it. The listener
// has a socket per CPU, bound with SO_REUSEPORT: the kernel sends a client
// address always to the same one, and one goroutine reads each socket and
// alone owns its flow table, so the forward path takes no lock and
// allocates nothing once a flow exists.
type udpListener struct {
	logger  hclog.Logger
	readers []*udpReader
	cfg     atomic.Pointer[Config]
	pool    *pool

	wg       sync.WaitGroup // the readers and one per flow
	stopOnce sync.Once

	sessions                           atomic.Int64
	datagramsIn, datagramsOut, replies atomic.Uint64
	bytesIn, bytesOut                  atomic.Uint64
	dropped                            [numDropReasons]atomic.Uint64
	dropLog                            [numDropReasons]rateLog
}

// udpReader is one socket of a UDP listener and the goroutine that reads it,
// with the flows of the clients the kernel sends to it.
type udpReader struct {
	l    *udpListener
	conn *net.UDPConn

	flows map[netip.AddrPort]*flow // owned by the reader goroutine
	pick  pick                     // reused by the reader goroutine
	out   sender                   // the reader goroutine's send batch

	// Flows that ended on their own, for the reader to remove from flows:
	// when it next reads, or when reapDelay after the first of them wakes
	// it, so that a burst followed by silence is not held until traffic
	// comes back.
	endedMu sync.Mutex
	ended   []*flow
	nEnded  atomic.Int32
	held    atomic.Int64 // len(flows), for tests
	peak    int          // len(flows) at its highest since the map was made
}

// reapDelay is how long an ended flow may stay in its reader's table.
const reapDelay = time.Second

// udpReaders is how many sockets and readers a UDP listener has.
func udpReaders() int { return min(runtime.GOMAXPROCS(0), 8) }

func listenUDP(cfg Config, logger hclog.Logger) (*udpListener, error) {
	conns, err := listenReusePort(cfg.Address, udpReaders())
	if err != nil {
		return nil, err
	}
	l := &udpListener{logger: logger, pool: newPool(cfg.Balance)}
	for _, c := range conns {
		// Room for bursts: the default (about 200 KB) holds fifty 4 KB
		// datagrams. The kernel caps it at net.core.rmem_max.
		c.SetReadBuffer(udpReadBuffer)
		r := &udpReader{l: l, conn: c, flows: map[netip.AddrPort]*flow{}}
		r.out.sendFn = r.out.send
		l.readers = append(l.readers, r)
	}
	l.cfg.Store(&cfg)
	for _, r := range l.readers {
		l.wg.Add(1)
		go r.serve()
	}
	return l, nil
}

// listenReusePort binds n UDP sockets to address with SO_REUSEPORT. It
// binds once without it first, so that a port another process holds is an
// error here, not a share of that process's traffic.
func listenReusePort(address string, n int) ([]*net.UDPConn, error) {
	probe, err := net.ListenPacket("udp", address)
	if err != nil {
		return nil, err
	}
	bound := probe.LocalAddr().String() // port 0 resolved
	probe.Close()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	conns := make([]*net.UDPConn, 0, n)
	for range n {
		pc, err := lc.ListenPacket(context.Background(), "udp", bound)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		conns = append(conns, pc.(*net.UDPConn))
	}
	return conns, nil
}

func (l *udpListener) Addr() net.Addr { return l.readers[0].conn.LocalAddr() }

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
	s.Dropped[dropReceiveBuffer] = l.kernelDrops()
	return s
}

// kernelDrops adds up what the kernel dropped on the listening sockets.
func (l *udpListener) kernelDrops() uint64 {
	var n uint64
	for _, r := range l.readers {
		if d, err := socketDrops(r.conn); err == nil { // closing: nothing more to count
			n += d
		}
	}
	return n
}

func (l *udpListener) Status() (Stats, []EndpointStatus) {
	return l.Stats(), l.pool.status(l.cfg.Load(), nil)
}

// Shutdown closes the socket and every session at once: a UDP listener has
// nothing to drain, and replies need the socket that is going away.
func (l *udpListener) Shutdown(context.Context) error {
	l.stopOnce.Do(func() {
		for _, r := range l.readers {
			r.conn.Close()
		}
	})
	l.wg.Wait()
	return nil
}

// udpBatch is how many datagrams one system call may read. Each buffer
// fits the largest datagram; only the bytes datagrams fill are touched, so
// the resident cost follows the traffic.
const udpBatch = 32

func (r *udpReader) serve() {
	l := r.l
	defer l.wg.Done()
	defer func() {
		for _, f := range r.flows {
			f.sock.Close()
		}
	}()
	raw, err := r.conn.SyscallConn()
	if err != nil {
		l.logger.Error("udp listener cannot read its socket", "error", err)
		return
	}
	b := newBatch(udpBatch, maxDatagram)
	for {
		if err := raw.Read(b.read); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) { // woken to reap
				r.conn.SetReadDeadline(time.Time{})
				r.reap()
				continue
			}
			return // closed
		}
		if b.err != nil {
			l.drop(dropSocket, netip.AddrPort{}, b.err)
			continue
		}
		if r.nEnded.Load() > 0 {
			r.reap()
		}
		now := time.Now().UnixNano() // they arrived together
		for i := range b.n {
			p, client := b.message(i)
			r.enqueue(p, client, now)
		}
		r.flush()
	}
}

// forward sends one datagram from client on: the path of a datagram on its
// own (the batched one is enqueue and flush).
func (r *udpReader) forward(p []byte, client netip.AddrPort) {
	l := r.l
	l.received(p)
	r.route(p, client, time.Now().UnixNano())
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
func (r *udpReader) choose(client netip.AddrPort, now int64) (*flow, *backend) {
	l := r.l
	cfg := l.cfg.Load()
	set := l.pool.load()
	if len(set.primary.idx)+len(set.backup.idx) == 0 {
		l.drop(dropNoBackend, client, nil) // before a flow: no socket for a datagram going nowhere
		return nil, nil
	}
	f := r.flows[client]
	if f == nil || f.dead.Load() {
		if f = r.newFlow(client, cfg); f == nil {
			return nil, nil
		}
	}
	b := r.target(f, set, cfg, client, now)
	if b == nil {
		l.drop(dropNoBackend, client, nil)
		return nil, nil
	}
	f.last.Store(now)
	return f, b
}

// route sends a counted datagram on its own.
func (r *udpReader) route(p []byte, client netip.AddrPort, now int64) {
	l := r.l
	// One retry: a flow can end (timeout) between the lookup and the send.
	for range 2 {
		f, b := r.choose(client, now)
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
func (r *udpReader) reap() {
	r.endedMu.Lock()
	ended := r.ended
	r.ended = nil
	r.nEnded.Store(0)
	r.endedMu.Unlock()
	for _, f := range ended {
		if r.flows[f.client] == f {
			delete(r.flows, f.client)
		}
	}
	// A Go map never shrinks: after a burst from many sources, copy what is
	// left into one of its size, so that the burst's buckets are freed.
	if n := len(r.flows); n < r.peak/4 {
		smaller := make(map[netip.AddrPort]*flow, n)
		for k, f := range r.flows {
			smaller[k] = f
		}
		r.flows, r.peak = smaller, n
	}
	r.held.Store(int64(len(r.flows)))
}

// wake makes the reader return from its read, to reap.
func (r *udpReader) wake() { r.conn.SetReadDeadline(time.Unix(1, 0)) }

func (r *udpReader) newFlow(client netip.AddrPort, cfg *Config) *flow {
	l := r.l
	delete(r.flows, client) // a dead flow, if any
	if !l.reserveSession(cfg.UDP.MaxSessions) {
		l.drop(dropSessionLimit, client, nil)
		return nil
	}
	sock, err := net.ListenUDP("udp", nil)
	if err != nil {
		l.sessions.Add(-1)
		l.drop(dropSocket, client, err)
		return nil
	}
	raw, err := sock.SyscallConn()
	if err != nil {
		sock.Close()
		l.sessions.Add(-1)
		l.drop(dropSocket, client, err)
		return nil
	}
	f := &flow{l: l, r: r, client: client, sock: sock, raw: raw, start: time.Now(),
		v6: sock.LocalAddr().(*net.UDPAddr).IP.To4() == nil}
	// Set before relayReplies runs: at 0, it would find the session
	// timed out before its first datagram.
	f.last.Store(f.start.UnixNano())
	f.readFn = f.read
	r.flows[client] = f
	r.peak = max(r.peak, len(r.flows))
	r.held.Store(int64(len(r.flows)))
	l.wg.Add(1)
	go f.relayReplies()
	return f
}

// reserveSession counts one more session if that stays within max. The
// readers race for the last ones: a check then an add let two through.
func (l *udpListener) reserveSession(max int) bool {
	for {
		n := l.sessions.Load()
		if n >= int64(max) {
			return false
		}
		if l.sessions.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// flow is one client address's session: an upstream socket and, in session
// mode, the backend it sticks to.
type flow struct {
	l      *udpListener
	r      *udpReader // whose socket the client reaches, and whose table holds the flow
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
func (r *udpReader) target(f *flow, set *endpointSet, cfg *Config, client netip.AddrPort, now int64) *backend {
	if cfg.UDP.Mode == SessionMode {
		if b := f.backend.Load(); b != nil && !b.removed.Load() {
			return b
		}
	}
	p := &r.pick
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
		_, err := f.r.conn.WriteToUDPAddrPort((*f.buf)[:f.n], f.client)
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
			Local: f.r.conn.LocalAddr().(*net.UDPAddr).AddrPort(), Start: f.start, Duration: time.Since(f.start),
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
	r := f.r
	r.endedMu.Lock()
	r.ended = append(r.ended, f)
	if r.nEnded.Add(1) == 1 {
		time.AfterFunc(reapDelay, r.wake)
	}
	r.endedMu.Unlock()
	l.logger.Trace("udp session ended", "client", f.client, "duration", time.Since(f.start))
}
