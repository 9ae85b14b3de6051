package proxy

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/shoenig/test/must"
	"golang.org/x/sys/unix"
)

// keepAliveOf reads a socket's keep-alive settings: on, idle and interval
// in seconds, and the probe count.
func keepAliveOf(t *testing.T, c syscall.Conn) [4]int {
	t.Helper()
	rc, err := c.SyscallConn()
	must.NoError(t, err)
	var got [4]int
	must.NoError(t, rc.Control(func(fd uintptr) {
		for i, o := range [...][2]int{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
			{unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
		} {
			got[i], err = unix.GetsockoptInt(int(fd), o[0], o[1])
			must.NoError(t, err)
		}
	}))
	return got
}

var wantKeepAlive = [4]int{1, int(keepAliveIdle / time.Second), int(keepAliveInterval / time.Second), keepAliveCount}

// The listener carries the keep-alive, and a socket it accepts has it
// without a setsockopt of its own.
func TestTCP_AcceptedSocketsInheritKeepAlive(t *testing.T) {
	l := startTCP(t, tcpConfig())
	must.Eq(t, wantKeepAlive, keepAliveOf(t, l.(*tcpListener).ln))

	ln, err := listenKeepAlive("127.0.0.1:0")
	must.NoError(t, err)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	must.NoError(t, err)
	defer c.Close()
	accepted, err := ln.Accept()
	must.NoError(t, err)
	defer accepted.Close()
	must.Eq(t, wantKeepAlive, keepAliveOf(t, accepted.(*net.TCPConn)))
}
