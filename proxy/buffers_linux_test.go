package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
	"golang.org/x/sys/unix"
)

// buffersOf is a socket's receive and send buffer sizes, as the kernel
// keeps them: twice what was asked.
func buffersOf(t *testing.T, fd int) [2]int {
	t.Helper()
	r, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	must.NoError(t, err)
	s, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	must.NoError(t, err)
	return [2]int{r, s}
}

// BufferSize fixes both buffers of the listening socket (which its accepted
// sockets inherit) and of every backend socket; a reload's new size
// applies to the listening socket at once.
func TestTCP_BufferSizeFixesBothSockets(t *testing.T) {
	accepted := make(chan *net.TCPConn, 1)
	b := testsupport.StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
		accepted <- c
		io.Copy(io.Discard, c)
	})
	cfg := tcpConfig()
	cfg.BufferSize = 64 << 10
	l := startTCP(t, cfg, b.Addr)
	must.Eq(t, [2]int{128 << 10, 128 << 10}, buffersOf(t, l.(*tcpListener).fd))
	dial(t, l)
	upstream := socketOf(t, unix.SOCK_STREAM, (<-accepted).RemoteAddr().(*net.TCPAddr).AddrPort())
	must.Eq(t, [2]int{128 << 10, 128 << 10}, buffersOf(t, upstream))

	cfg.BufferSize = 32 << 10
	must.NoError(t, l.Update(cfg))
	must.Eq(t, [2]int{64 << 10, 64 << 10}, buffersOf(t, l.(*tcpListener).fd))
}

// A size above what the kernel allows (net.core.rmem_max, wmem_max) is
// said, with what the kernel gave.
func TestTCP_BufferSizeAboveTheKernelsIsSaid(t *testing.T) {
	max := min(sysctl(t, "net/core/rmem_max"), sysctl(t, "net/core/wmem_max"))
	var logs bytes.Buffer
	cfg := tcpConfig()
	cfg.BufferSize = 2 * max
	l, err := Listen(cfg, hclog.New(&hclog.LoggerOptions{Output: &logs}))
	must.NoError(t, err)
	defer l.Shutdown(context.Background())
	must.StrContains(t, logs.String(), "buffer_size is above what the kernel allows")
	must.StrContains(t, logs.String(), "granted="+strconv.Itoa(max))
}

func sysctl(t *testing.T, name string) int {
	b, err := os.ReadFile("/proc/sys/" + name)
	must.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	must.NoError(t, err)
	return n
}
