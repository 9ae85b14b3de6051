package proxy

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bytesMoved returns the bytes the kernel has received on, and seen
// acknowledged from, both sockets: a counter that grows whenever data moves
// either way, read without touching the data path.
func bytesMoved(conns ...*net.TCPConn) (uint64, error) {
	var total uint64
	for _, c := range conns {
		in, out, err := tcpBytes(c)
		if err != nil {
			return 0, err
		}
		total += in + out
	}
	return total, nil
}

// tcpBytes returns the bytes received on c and those it sent that were
// acknowledged, from TCP_INFO.
func tcpBytes(c *net.TCPConn) (in, out uint64, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var info *unix.TCPInfo
	var serr error
	if err := rc.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return 0, 0, err
	}
	if serr != nil {
		return 0, 0, serr
	}
	return info.Bytes_received, info.Bytes_acked, nil
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
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		return int(n), netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port)), nil
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		return int(n), netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port)), nil
	}
	return int(n), netip.AddrPort{}, nil
}

func ntohs(port uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&port))
	return uint16(b[0])<<8 | uint16(b[1])
}
