package proxy

import (
	"github.com/pinlb/pinlb/proxy/reactor"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
	"golang.org/x/sys/unix"
)

// tcpOptionsOf reads a socket's keep-alive settings (on, idle and interval
// in seconds, the probe count) and TCP_NODELAY.
func tcpOptionsOf(t *testing.T, fd int) [5]int {
	t.Helper()
	var got [5]int
	for i, o := range [...][2]int{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
		{unix.IPPROTO_TCP, unix.TCP_NODELAY},
	} {
		var err error
		got[i], err = unix.GetsockoptInt(fd, o[0], o[1])
		must.NoError(t, err)
	}
	return got
}

var wantTCPOptions = [5]int{1, int(keepAliveIdle / time.Second), int(keepAliveInterval / time.Second), keepAliveCount, 1}

// The listener carries keep-alive, TCP_NODELAY and its buffer sizes, and
// a socket it accepts has them without a setsockopt of its own.
func TestTCP_AcceptedSocketsInheritTCPOptions(t *testing.T) {
	l := startTCP(t, tcpConfig())
	must.Eq(t, wantTCPOptions, tcpOptionsOf(t, l.(*tcpListener).fd))

	fd, addr, err := listenFD("127.0.0.1:0", 48<<10)
	must.NoError(t, err)
	defer unix.Close(fd)
	c, err := net.Dial("tcp", addr.String())
	must.NoError(t, err)
	defer c.Close()
	accepted, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	must.NoError(t, err)
	defer unix.Close(accepted)
	must.Eq(t, wantTCPOptions, tcpOptionsOf(t, accepted))
	must.Eq(t, [2]int{96 << 10, 96 << 10}, buffersOf(t, accepted)) // the kernel doubles them
}

// A backend connection gets keep-alive once it is keepAliveAfter old: the
// connect sets only TCP_NODELAY, so that one that ends sooner never pays
// for it.
func TestTCP_BackendSocketsGetKeepAliveOnceOld(t *testing.T) {
	accepted := make(chan *net.TCPConn, 1)
	b := testsupport.StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
		accepted <- c
		io.Copy(io.Discard, c)
	})
	l := startTCP(t, tcpConfig(), b.Addr)
	dial(t, l)
	fd := socketOf(t, unix.SOCK_STREAM, (<-accepted).RemoteAddr().(*net.TCPAddr).AddrPort()) // pinlb's, in this process
	testsupport.WaitFor(t, "keep-alive on the backend socket", func() bool { return tcpOptionsOf(t, fd) == wantTCPOptions })
}

// socketOf is this process's socket of the type (SOCK_STREAM, SOCK_DGRAM)
// bound to local, or to its port on every address.
func socketOf(t *testing.T, typ int, local netip.AddrPort) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	must.NoError(t, err)
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		got, err := reactor.LocalAddr(fd)
		if err != nil || got.Port() != local.Port() || (got.Addr() != local.Addr() && !got.Addr().IsUnspecified()) {
			continue
		}
		if st, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil && st == typ {
			return fd
		}
	}
	t.Fatalf("no socket of this process is bound to %s", local)
	return -1
}
