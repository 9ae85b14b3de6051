package proxy

import (
	"github.com/pinlb/pinlb/proxy/reactor"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// acceptQueueLen is how many completed connections wait in a listening
// socket's accept queue: TCP_INFO's unacked, for a listener.
func acceptQueueLen(fd int) (int, error) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, err
	}
	return int(info.Unacked), nil
}

// waitReadable returns once the socket has data or has ended, without
// reading it.
func waitReadable(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var b [1]byte
	return rc.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN
	})
}

// recvfrom reads one datagram without blocking and without allocating: the
// source address is decoded from a sockaddr on the stack.
func recvfrom(fd uintptr, p []byte) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	alen := uint32(unix.SizeofSockaddrAny)
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd,
		uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)))
	if errno != 0 {
		return 0, netip.AddrPort{}, errno
	}
	return int(n), reactor.AddrPort(&rsa), nil
}

// udpBatch is how many datagrams one system call may read. Each buffer
// fits the largest datagram; only the bytes datagrams fill are touched, so
// the resident cost follows the traffic.
const udpBatch = 32

// batch holds the buffers of one recvmmsg(2): up to len(bufs) datagrams
// with one system call, into memory allocated once.
type batch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	bufs  [][]byte

	n    int   // datagrams read by the last call
	err  error // its error
	read func(fd uintptr) bool
}

func newBatch(n, size int) *batch {
	b := &batch{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrAny, n),
		bufs:  make([][]byte, n),
	}
	for i := range n {
		b.bufs[i] = make([]byte, size)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(size)
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	b.read = b.recv
	return b
}

// recv is the RawConn callback: one recvmmsg that does not wait; false
// (wait for the socket) when nothing is there.
func (b *batch) recv(fd uintptr) bool {
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrAny
		b.hdrs[i].Hdr.Flags = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)),
		unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		b.n, b.err = int(n), nil
	case unix.EAGAIN:
		return false
	case unix.EINTR:
		b.n, b.err = 0, nil
	default:
		b.n, b.err = 0, errno
	}
	return true
}

// message returns datagram i of the last call and where it came from.
func (b *batch) message(i int) ([]byte, netip.AddrPort) {
	return b.bufs[i][:b.hdrs[i].Len], reactor.AddrPort(&b.names[i])
}

// socketDrops returns how many datagrams the kernel dropped on c since the
// socket was made, for want of room in its receive buffer: the socket's
// sk_drops, which SO_RXQ_OVFL would report per read, read here with one
// getsockopt(SO_MEMINFO) so that the data path stays as it is.
func socketDrops(c *net.UDPConn) (uint64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var mem [unix.SK_MEMINFO_VARS]uint32
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(mem))
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return uint64(mem[unix.SK_MEMINFO_DROPS]), nil
}
