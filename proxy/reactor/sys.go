//go:build linux

package reactor

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The reactor's system calls never block (its descriptors are
// non-blocking), so they skip the scheduler's hand-off that a blocking
// call needs, and allocate nothing. EINTR is retried at once.

// Read reads what fd holds into p.
func Read(fd int, p []byte) (int, error) {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e != unix.EINTR {
			return retval(n, e)
		}
	}
}

// Send writes p to a socket without SIGPIPE: a peer's reset is an error,
// not a signal.
func Send(fd int, p []byte) (int, error) {
	return sockIO(unix.SYS_SENDTO, fd, p, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
}

// Peek reads what a socket holds without taking it.
func Peek(fd int, p []byte) (int, error) {
	return sockIO(unix.SYS_RECVFROM, fd, p, unix.MSG_PEEK|unix.MSG_DONTWAIT)
}

// sockIO is sendto(2) or recvfrom(2), with flags and no address.
func sockIO(trap uintptr, fd int, p []byte, flags int) (int, error) {
	for {
		n, _, e := unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(flags), 0, 0)
		if e != unix.EINTR {
			return retval(n, e)
		}
	}
}

// Splice moves up to n bytes from in to out, kernel-side; one of them is a
// pipe.
func Splice(in, out, n int) (int, error) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n),
			unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		if e != unix.EINTR {
			return retval(r, e)
		}
	}
}

// Accept takes a connection from a listening socket, non-blocking, with
// its peer's address.
func Accept(fd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	for {
		alen := uint32(unix.SizeofSockaddrAny)
		n, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == 0 {
			return int(n), AddrPort(&rsa), nil
		}
		if e != unix.EINTR {
			return -1, netip.AddrPort{}, e
		}
	}
}

// LocalAddr is a socket's own address.
func LocalAddr(fd int) (netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	alen := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)))
	if e != 0 {
		return netip.AddrPort{}, e
	}
	return AddrPort(&rsa), nil
}

// AddrPort decodes a sockaddr_in or sockaddr_in6; anything else is the
// zero AddrPort.
func AddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

func ntohs(port uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&port))
	return uint16(b[0])<<8 | uint16(b[1])
}

func retval(n uintptr, e unix.Errno) (int, error) {
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
