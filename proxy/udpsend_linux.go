package proxy

import (
	"github.com/pinlb/pinlb/proxy/pool"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// queued is a datagram of a received batch on its way out: the flow and
// backend chosen for it, and the message of the send batch it went into.
type queued struct {
	p    []byte
	peer netip.AddrPort
	o    origin
	f    *flow
	b    *pool.Backend
	msg  int
	done bool
}

// sender sends a received batch with one sendmmsg(2) per flow: a flow's
// datagrams (to whichever backends) leave its socket in one system call.
// Datagrams of one size to one backend go as one message of several
// segments (UDP_SEGMENT), which the kernel cuts into datagrams again: one
// trip through the stack for all of them. It belongs to the reader
// goroutine.
type sender struct {
	q    [udpBatch]queued
	n    int
	mine [udpBatch]int // q's indexes of the flow being sent, in order
	nq   int

	// The flow's messages, by index.
	hdrs  [udpBatch]unix.Mmsghdr
	names [udpBatch]unix.RawSockaddrInet6
	cmsgs [udpBatch][32]byte // UDP_SEGMENT, for a message of several datagrams (cmsgSegmentSpace of each)
	to    [udpBatch]*pool.Backend
	segs  [udpBatch]int   // datagrams in each
	size  [udpBatch]int   // of each datagram in it
	fail  [udpBatch]error // why each was not sent; nil if it was
	m     int             // messages
	sent  int             // of them, handled so far
	err   error

	iovs [2 * udpBatch]unix.Iovec // each datagram's PROXY header, if any, and bytes, by message

	sendFn func(fd uintptr) bool
}

// Bounds of a message of several datagrams: the kernel's segment limit
// (UDP_MAX_SEGMENTS is 64 on older kernels), and what one UDP datagram can
// carry.
const (
	maxSegments    = 64
	maxSegmentsLen = 65507
)

var cmsgSegmentSpace = unix.CmsgSpace(2)

// add puts q in a message: the flow's last one to q's backend, when that
// one takes segments of q's size, or a new one.
func (s *sender) add(q *queued, f *flow) {
	if k := s.lastTo(q.b); k >= 0 && s.joins(k, q, f) {
		s.segs[k]++
		q.msg = k
		return
	}
	k := s.m
	s.m++
	s.to[k], s.segs[k], s.size[k] = q.b, 1, len(q.p)
	s.address(k, q.b, f)
	q.msg = k
}

// lastTo is the index of the last message to b, or -1.
func (s *sender) lastTo(b *pool.Backend) int {
	for k := s.m - 1; k >= 0; k-- {
		if s.to[k] == b {
			return k
		}
	}
	return -1
}

// joins reports whether q can be one more segment of message k: same size
// (the kernel cuts a message into equal segments), no PROXY header (each
// datagram would need its own), and within the kernel's bounds.
func (s *sender) joins(k int, q *queued, f *flow) bool {
	size := s.size[k]
	return !f.unsegmented && len(f.header) == 0 && len(q.p) == size && size > 0 &&
		s.segs[k] < maxSegments && (s.segs[k]+1)*size <= maxSegmentsLen
}

// address writes message k's destination, b, as the flow socket's address
// family wants it.
func (s *sender) address(k int, b *pool.Backend, f *flow) {
	h := &s.hdrs[k].Hdr
	h.Name = (*byte)(unsafe.Pointer(&s.names[k]))
	port := ntohs(b.Addr().Port()) // the swap is its own inverse
	if f.v6 {
		sa := &s.names[k]
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: port, Addr: b.Addr().Addr().As16()}
		h.Namelen = unix.SizeofSockaddrInet6
	} else {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.names[k]))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: port, Addr: b.Addr().Addr().Unmap().As4()}
		h.Namelen = unix.SizeofSockaddrInet4
	}
}

// layout points each message at its datagrams' bytes, in order, after f's
// PROXY header if it sends one, and gives a message of several its
// segment size.
func (s *sender) layout(f *flow) {
	var next [udpBatch]int // each message's next iovs index
	iov := 0
	for k := range s.m {
		h := &s.hdrs[k].Hdr
		h.Iov = &s.iovs[iov]
		next[k] = iov
		n := s.segs[k]
		if len(f.header) > 0 {
			n++
		}
		h.SetIovlen(n)
		iov += n
		h.Control, h.Controllen = nil, 0
		if s.segs[k] > 1 {
			s.segment(k)
		}
	}
	for _, j := range s.mine[:s.nq] {
		q := &s.q[j]
		if len(f.header) > 0 {
			s.iovs[next[q.msg]].Base = &f.header[0]
			s.iovs[next[q.msg]].SetLen(len(f.header))
			next[q.msg]++
		}
		v := &s.iovs[next[q.msg]]
		v.Base = nil
		if len(q.p) > 0 {
			v.Base = &q.p[0]
		}
		v.SetLen(len(q.p))
		next[q.msg]++
	}
}

// segment gives message k its UDP_SEGMENT control message.
func (s *sender) segment(k int) {
	h := &s.hdrs[k].Hdr
	c := s.cmsgs[k][:cmsgSegmentSpace]
	cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
	cm.Level, cm.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	cm.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])) = uint16(s.size[k])
	h.Control = &c[0]
	h.SetControllen(len(c))
}

// sendAll sends the batch on f's socket, going past a message the kernel
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

// ntohs swaps a port between network and host order, either way.
func ntohs(port uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&port))
	return uint16(b[0])<<8 | uint16(b[1])
}
