//go:build linux

package proxy

import (
	"errors"
	"github.com/pinlb/pinlb/proxy/pool"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func (r *udpReader) newFlow(client netip.AddrPort, o origin, cfg *Config) *flow {
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
	f := &flow{l: l, r: r, client: client, origin: o, sock: sock, raw: raw, start: time.Now(), admitted: cfg,
		v6: sock.LocalAddr().(*net.UDPAddr).IP.To4() == nil}
	if cfg.SendProxyProtocol != "" {
		if f.header, err = datagramProxyHeader(o.client, r.server(o)); err != nil {
			sock.Close()
			l.sessions.Add(-1)
			l.drop(dropSocket, client, err)
			return nil
		}
	}
	f.src = l.sources.acquire(o.client.Addr().Unmap())
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

// server is the address o's client reached: the PROXY header's, else the
// listener's as bound (a datagram does not say which of the host's
// addresses it reached).
func (r *udpReader) server(o origin) netip.AddrPort {
	if o.proxied {
		return o.server
	}
	return addrPort(r.conn.LocalAddr())
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

// origin is whose a datagram is: its sender's, or, when a trusted peer put
// a PROXY v2 header before it, the header's client and the address it
// reached.
type origin struct {
	client, server netip.AddrPort
	proxied        bool
}

// flow is one client address's session: an upstream socket and, in session
// mode, the backend it sticks to.
type flow struct {
	l      *udpListener
	r      *udpReader     // whose socket the client reaches, and whose table holds the flow
	client netip.AddrPort // the sender, that replies go to
	origin origin         // whose datagrams they are: the sender's, or a PROXY header's
	header []byte         // the PROXY header sent before each datagram; nil for none
	sock   *net.UDPConn
	raw    syscall.RawConn
	v6     bool // the socket is AF_INET6 (dual-stack): backends are addressed as IPv6
	// unsegmented: the kernel refused a message of several datagrams on
	// the socket; they go one by one. The reader's alone.
	unsegmented bool
	// admitted is the config whose allow and deny last let the source
	// through; the reader's alone.
	admitted *Config
	start    time.Time
	src      *udpSource // the client address's datagram rate

	last atomic.Int64 // unix nanoseconds of the last datagram either way
	dead atomic.Bool
	// For the access log: datagrams and bytes from the client (written by
	// the reader) and replies to it (written by relayReplies).
	datagramsIn, bytesIn, datagramsOut, bytesOut atomic.Uint64
	mu                                           sync.Mutex // guards binding and unbinding backend (rare)
	backend                                      atomic.Pointer[pool.Backend]

	// Reply read state, used only by relayReplies and read.
	readFn func(uintptr) bool
	buf    *[]byte
	n      int
	from   netip.AddrPort
	rerr   error
}

func (f *flow) touch() { f.last.Store(time.Now().UnixNano()) }

// errNoIPv6 is a datagram for an IPv6 backend from a flow whose socket is
// IPv4's: the host has no IPv6 (booted without it, or disabled).
var errNoIPv6 = errors.New("the backend is IPv6 and this host's UDP sockets are IPv4 only")

// reaches reports whether f's socket can address b: an IPv4 socket cannot
// reach an IPv6 backend.
func (f *flow) reaches(b *pool.Backend) bool {
	a := b.Addr().Addr()
	return f.v6 || a.Is4() || a.Is4In6()
}

// target picks the backend for one datagram: per datagram in packet mode;
// in session mode the bound backend, re-elected when it left the pool.
func (r *udpReader) target(f *flow, set *pool.Set, cfg *Config, client netip.AddrPort, now int64) *pool.Backend {
	if cfg.UDP.Mode == SessionMode {
		if b := f.backend.Load(); b != nil && b.Usable() {
			return b
		}
	}
	p := &r.pick
	*p = pool.Pick{Client: client, Now: now}
	b := set.Choose(p)
	if b != nil && cfg.UDP.Mode == SessionMode {
		f.bind(b)
	}
	return b
}

func (f *flow) bind(b *pool.Backend) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead.Load() {
		return
	}
	b.Hold()
	if old := f.backend.Swap(b); old != nil {
		old.Drop()
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
		b := f.fromBackend(l.pool.Set())
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
		b.Replied(f.n)
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
func (f *flow) fromBackend(set *pool.Set) *pool.Backend {
	if b := f.backend.Load(); b != nil && b.Addr() == f.from {
		return b
	}
	return set.Lookup(f.from)
}

func (f *flow) end(status string) {
	f.mu.Lock()
	f.dead.Store(true)
	b := f.backend.Swap(nil)
	if b != nil {
		b.Drop()
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
			r.Upstream = b.Addr()
		}
		if f.origin.proxied {
			r.ProxyClient, r.ProxyServer = f.origin.client, f.origin.server
		}
		cfg.Recorder.Record(r)
	}
	f.sock.Close()
	l := f.l
	l.sources.release(f.src)
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
