package proxy

import (
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// queued is a datagram of a received batch on its way out: the flow and
// backend chosen for it.
type queued struct {
	p    []byte
	peer netip.AddrPort
	o    origin
	f    *flow
	b    *backend
	done bool
}

// sender sends a received batch with one sendmmsg(2) per flow: a flow's
// datagrams (to whichever backends) leave its socket in one system call.
// It belongs to the reader goroutine.
type sender struct {
	q     [udpBatch]queued
	n     int
	hdrs  [udpBatch]unix.Mmsghdr
	iovs  [2 * udpBatch]unix.Iovec // each message's PROXY header, if any, and bytes
	names [udpBatch]unix.RawSockaddrInet6
	idx   [udpBatch]int   // q's index of each of hdrs
	fail  [udpBatch]error // why each of hdrs was not sent; nil if it was
	m     int             // messages in hdrs
	sent  int             // of them, handled so far
	err   error

	sendFn func(fd uintptr) bool
}

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
// opens a new flow.
func (r *udpReader) flush() {
	l := r.l
	s := &r.out
	for i := range s.n {
		f := s.q[i].f
		if s.q[i].done {
			continue
		}
		s.m = 0
		for j := i; j < s.n; j++ {
			if q := &s.q[j]; !q.done && q.f == f {
				q.done = true
				s.fill(s.m, q, f)
				s.idx[s.m] = j
				s.m++
			}
		}
		for k := range s.m { // counted before they leave: see sent
			q := &s.q[s.idx[k]]
			l.sent(q.p, f, q.b)
		}
		s.sendAll(f)
		for k := range s.m {
			q := &s.q[s.idx[k]]
			if s.fail[k] == nil {
				continue
			}
			l.unsent(q.p, f, q.b)
			switch {
			case f.dead.Load():
				r.route(q.p, q.peer, q.o, time.Now().UnixNano())
			default:
				l.drop(dropSendError, q.o.client, s.fail[k])
			}
		}
	}
	clear(s.q[:s.n])
	s.n = 0
}

// sendAll sends the batch on f's socket, going past a datagram the kernel
// refuses (noted in fail) to the next.
func (s *sender) sendAll(f *flow) {
	clear(s.fail[:s.m])
	for s.sent = 0; s.sent < s.m; {
		s.err = nil
		err := f.raw.Write(s.sendFn)
		if s.sent == s.m {
			return
		}
		if err != nil { // the socket is closed: nothing more goes through it
			for k := s.sent; k < s.m; k++ {
				s.fail[k] = err
			}
			return
		}
		s.fail[s.sent] = s.err
		s.sent++
	}
}

// fill writes message k of the send batch for q: f's PROXY header if it
// sends one, its bytes, and its backend, as the flow socket's address
// family wants it.
func (s *sender) fill(k int, q *queued, f *flow) {
	iov := s.iovs[2*k : 2*k+2]
	n := 0
	if len(f.header) > 0 {
		iov[0].Base = &f.header[0]
		iov[0].SetLen(len(f.header))
		n = 1
	}
	iov[n].Base = nil
	if len(q.p) > 0 {
		iov[n].Base = &q.p[0]
	}
	iov[n].SetLen(len(q.p))
	h := &s.hdrs[k].Hdr
	h.Iov = &iov[0]
	h.SetIovlen(n + 1)
	h.Name = (*byte)(unsafe.Pointer(&s.names[k]))
	port := ntohs(q.b.addr.Port()) // the swap is its own inverse
	if f.v6 {
		sa := &s.names[k]
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: port, Addr: q.b.addr.Addr().As16()}
		h.Namelen = unix.SizeofSockaddrInet6
	} else {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.names[k]))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: port, Addr: q.b.addr.Addr().Unmap().As4()}
		h.Namelen = unix.SizeofSockaddrInet4
	}
}

// send is the RawConn callback: sendmmsg until the batch is out; false
// (wait) when the socket's buffer is full.
func (s *sender) send(fd uintptr) bool {
	for s.sent < s.m {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[s.sent])), uintptr(s.m-s.sent), 0, 0, 0)
		switch errno {
		case 0:
			s.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			s.err = errno
			return true
		}
	}
	return true
}
