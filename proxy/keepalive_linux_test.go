package proxy

import (
	"net"
	"testing"
	"time"

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

// The listener carries keep-alive and TCP_NODELAY, and a socket it
// accepts has them without a setsockopt of its own.
func TestTCP_AcceptedSocketsInheritTCPOptions(t *testing.T) {
	l := startTCP(t, tcpConfig())
	must.Eq(t, wantTCPOptions, tcpOptionsOf(t, l.(*tcpListener).fd))

	fd, addr, err := listenFD("127.0.0.1:0")
	must.NoError(t, err)
	defer unix.Close(fd)
	c, err := net.Dial("tcp", addr.String())
	must.NoError(t, err)
	defer c.Close()
	accepted, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	must.NoError(t, err)
	defer unix.Close(accepted)
	must.Eq(t, wantTCPOptions, tcpOptionsOf(t, accepted))
}
