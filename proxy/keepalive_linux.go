package proxy

import (
	"context"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Keep-alive: Go's default for its connections (idle 15 s,
// probes every 15 s, 9 of them), so a client that vanished without a FIN
// is found in about 2.5 minutes.
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 15 * time.Second
	keepAliveCount    = 9
)

// listenKeepAlive listens on address with keep-alive, TCP_NODELAY and the
// buffer sizes set on the listening socket, before it binds (so that the
// window scale it offers fits the buffers). Accepted sockets inherit them
// all from the kernel, which saves seven setsockopt calls on every accept.
func listenKeepAlive(address string, bufferSize int) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setTCPOptions(int(fd), bufferSize) }); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", address)
}

// keepAliveAfter is how old a backend connection is when its keep-alive
// is turned on: one that ends sooner (most of a connection-rate run) saves
// four setsockopt calls, and one that lives on is probed a second later
// than it would be, after keepAliveIdle of silence all the same.
const keepAliveAfter = time.Second

// setTCPOptions sets what every client socket of the relay has:
// keep-alive, no Nagle delay and its buffers.
func setTCPOptions(fd, bufferSize int) error {
	if err := setKeepAlive(fd); err != nil {
		return err
	}
	return setUpstreamOptions(fd, bufferSize)
}

// setUpstreamOptions sets what every socket of the relay has from its
// start: no Nagle delay and its buffers. An upstream socket has its
// keep-alive later (keepAliveAfter).
func setUpstreamOptions(fd, bufferSize int) error {
	if err := setNoDelay(fd); err != nil {
		return err
	}
	return capBuffers(fd, bufferSize)
}

// setNoDelay turns off Nagle's delay: a proxy that batched small messages
// would add latency its peers did not ask for.
func setNoDelay(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) }

func setKeepAlive(fd int) error {
	for _, o := range [...]struct{ level, name, value int }{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepAliveIdle / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepAliveInterval / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			return err
		}
	}
	return nil
}
