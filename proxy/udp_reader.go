//go:build linux

package proxy

import (
	"errors"
	"github.com/pinlb/pinlb/proxy/pool"
	"golang.org/x/sys/unix"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// udpReader is one socket of a UDP listener and the goroutine that reads it,
// with the flows of the clients the kernel sends to it.
type udpReader struct {
	l    *udpListener
	conn *net.UDPConn

	flows map[netip.AddrPort]*flow // owned by the reader goroutine
	pick  pool.Pick                // reused by the reader goroutine
	out   sender                   // the reader goroutine's send batch
	// scratch joins a PROXY header and a datagram sent on their own.
	scratch []byte

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
		cfg := l.cfg.Load()
		for i := range b.n {
			p, peer := b.message(i)
			r.enqueue(p, peer, &cfg.ProxyProtocol, now)
		}
		r.flush()
	}
}

// forward sends one datagram from client on: the path of a datagram on its
// own (the batched one is enqueue and flush).
func (r *udpReader) forward(p []byte, client netip.AddrPort) {
	l := r.l
	l.received(p)
	r.route(p, client, origin{client: client}, time.Now().UnixNano())
}

// unwrap takes the PROXY v2 header off a datagram from a trusted peer, and
// says whose the bytes after it are. A datagram from a trusted peer
// without a valid header is dropped and counted; any other is taken as it
// comes, so that no sender can claim another's address.
func (r *udpReader) unwrap(p []byte, peer netip.AddrPort, cfg *ProxyProtocolConfig) ([]byte, origin, bool) {
	o := origin{client: peer}
	if !cfg.Accept || !cfg.trusted(peer.Addr()) {
		return p, o, true
	}
	n, client, server, err := datagramHeader(p)
	if err != nil {
		r.l.drop(dropProxyHeader, peer, err)
		return nil, o, false
	}
	if client.IsValid() {
		o = origin{client: client, server: server, proxied: true}
	}
	return p[n:], o, true
}

// received counts a datagram from a client.
func (l *udpListener) received(p []byte) {
	l.datagramsIn.Add(1)
	l.bytesIn.Add(uint64(len(p)))
}

// sent counts a datagram that left for b through f.
//
// It is called before the send: a reply can end the session (its responses
// limit) and record it as soon as the datagram is out, and the record must
// count it. unsent takes back what a failed send counted.
func (l *udpListener) sent(p []byte, f *flow, b *pool.Backend) {
	n := uint64(len(p))
	l.datagramsOut.Add(1)
	l.bytesOut.Add(n)
	b.Sent(len(p))
	f.datagramsIn.Add(1)
	f.bytesIn.Add(n)
}

// unsent takes back what sent counted for a datagram that was not sent.
func (l *udpListener) unsent(p []byte, f *flow, b *pool.Backend) {
	n := -uint64(len(p))
	l.datagramsOut.Add(^uint64(0))
	l.bytesOut.Add(n)
	b.Unsent(len(p))
	f.datagramsIn.Add(^uint64(0))
	f.bytesIn.Add(n)
}

// choose finds (or opens) the flow of the datagram that peer sent for o,
// and its backend; nil when the datagram is dropped, which it counts with
// the reason. Flows are the peers': a balancer in front sends each client
// from a socket of its own, and the replies go back to it.
func (r *udpReader) choose(peer netip.AddrPort, o origin, now int64) (*flow, *pool.Backend) {
	l := r.l
	cfg := l.cfg.Load()
	set := l.pool.Set()
	client := o.client
	if set.Empty() {
		l.drop(dropNoBackend, client, nil) // before a flow: no socket for a datagram going nowhere
		return nil, nil
	}
	f := r.flows[peer]
	switch {
	case f == nil || f.dead.Load():
		// Checked once per flow and config: a denied source never gets
		// one, and each of its datagrams is checked again and dropped.
		if !cfg.Access.allows(client.Addr()) {
			l.drop(dropDenied, client, nil)
			return nil, nil
		}
		if f = r.newFlow(peer, o, cfg); f == nil {
			return nil, nil
		}
	case f.admitted != cfg: // a reload since: a deny it added stops a live flow too
		if !cfg.Access.allows(f.origin.client.Addr()) {
			l.drop(dropDenied, client, nil)
			return nil, nil
		}
		f.admitted = cfg
	}
	if f.origin.client != client {
		l.drop(dropProxyHeader, peer, errV2Client)
		return nil, nil
	}
	if rate := cfg.Limits.DatagramRatePerSource; rate > 0 && !f.src.allow(now, rate) {
		l.drop(dropLimited, client, nil)
		return nil, nil
	}
	b := r.target(f, set, cfg, client, now)
	switch {
	case b == nil:
		l.drop(dropNoBackend, client, nil)
		return nil, nil
	case !f.reaches(b):
		l.drop(dropAddressFamily, client, errNoIPv6)
		return nil, nil
	}
	f.last.Store(now)
	return f, b
}

// route sends a counted datagram on its own.
func (r *udpReader) route(p []byte, peer netip.AddrPort, o origin, now int64) {
	l := r.l
	// One retry: a flow can end (timeout) between the lookup and the send.
	for range 2 {
		f, b := r.choose(peer, o, now)
		if f == nil {
			return
		}
		l.sent(p, f, b)
		_, err := f.sock.WriteToUDPAddrPort(r.withHeader(f, p), b.Addr())
		if err == nil {
			return
		}
		l.unsent(p, f, b)
		if !f.dead.Load() {
			l.drop(dropSendError, o.client, err)
			return
		}
	}
	l.drop(dropSendError, o.client, net.ErrClosed)
}

// withHeader is p after f's PROXY header, if it sends one, in the reader's
// scratch buffer: the batched path sends the two from their own places.
func (r *udpReader) withHeader(f *flow, p []byte) []byte {
	if len(f.header) == 0 {
		return p
	}
	if r.scratch == nil {
		r.scratch = make([]byte, 0, maxDatagram)
	}
	r.scratch = append(append(r.scratch[:0], f.header...), p...)
	return r.scratch
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

// enqueue is forward's first half: count, choose the flow and the backend,
// and queue the datagram for flush. A datagram that cannot go is dropped
// here, with its reason.
func (r *udpReader) enqueue(p []byte, peer netip.AddrPort, pp *ProxyProtocolConfig, now int64) {
	l := r.l
	l.received(p)
	p, o, ok := r.unwrap(p, peer, pp)
	if !ok {
		return
	}
	f, b := r.choose(peer, o, now)
	if f == nil {
		return
	}
	s := &r.out
	s.q[s.n] = queued{p: p, peer: peer, o: o, f: f, b: b}
	s.n++
}

// flush sends what enqueue queued, flow by flow, and counts it. A datagram
// whose flow ended meanwhile (a timeout) goes again through forward, which
// opens a new flow; so do the datagrams of a message of several that
// failed, each to go or fail on its own.
func (r *udpReader) flush() {
	l := r.l
	s := &r.out
	for i := range s.n {
		f := s.q[i].f
		if s.q[i].done {
			continue
		}
		s.m, s.nq = 0, 0
		for j := i; j < s.n; j++ {
			if q := &s.q[j]; !q.done && q.f == f {
				q.done = true
				s.add(q, f)
				s.mine[s.nq] = j
				s.nq++
				l.sent(q.p, f, q.b) // counted before it leaves: see sent
			}
		}
		s.layout(f)
		s.sendAll(f)
		for _, j := range s.mine[:s.nq] {
			q := &s.q[j]
			err := s.fail[q.msg]
			if err == nil {
				continue
			}
			l.unsent(q.p, f, q.b)
			switch {
			case f.dead.Load():
				r.route(q.p, q.peer, q.o, time.Now().UnixNano())
			case s.segs[q.msg] > 1: // one by one now: each goes, or fails, on its own
				if refusesSegments(err) {
					r.unsegment(f, err)
				}
				r.route(q.p, q.peer, q.o, time.Now().UnixNano())
			default:
				l.drop(dropSendError, q.o.client, err)
			}
		}
	}
	clear(s.q[:s.n])
	s.n = 0
}

// refusesSegments reports whether a send failed for being a message of
// segments: a path whose MTU is below the datagrams' size, a socket
// without checksums, a kernel without UDP_SEGMENT.
func refusesSegments(err error) bool {
	return err == unix.EINVAL || err == unix.EIO || err == unix.EMSGSIZE || err == unix.ENOPROTOOPT
}

// unsegment turns segmentation off for f, whose socket refused a message
// of several datagrams: they go one by one from then on.
func (r *udpReader) unsegment(f *flow, err error) {
	if f.unsegmented {
		return
	}
	f.unsegmented = true
	l := r.l
	if n, ok := l.segmentLog.allow(); ok {
		l.logger.Info("the kernel refused datagrams sent as segments of one; this flow sends them one by one",
			"client", f.client, "error", err, "suppressed", n)
	}
}
