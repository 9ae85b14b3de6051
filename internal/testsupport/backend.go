package testsupport

// This file starts real loopback servers for tests: TCP echo servers and
// UDP receivers that count what they get and answer Pinpoint's
// network-check probe.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Probe is Pinpoint's UDP network-check datagram; ProbeReply is the answer.
var (
	Probe      = []byte{0xEF, 0x10, 0x00, 0x0A}
	ProbeReply = []byte("OK")
)

// TCP is a loopback TCP echo server.
type TCP struct {
	Addr     netip.AddrPort
	ln       net.Listener
	Accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// StartTCP starts an echo server on 127.0.0.1 and stops it at the end of the
// test. Each connection is echoed until the client half-closes; then the
// server half-closes too.
func StartTCP(t testing.TB) *TCP {
	t.Helper()
	return StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
		io.Copy(c, c)
		c.CloseWrite()
	})
}

// StartTCPFunc starts a server on addr that hands each connection to serve
// and closes it when serve returns.
func StartTCPFunc(t testing.TB, addr string, serve func(*net.TCPConn)) *TCP {
	t.Helper()
	ln, err := bind(addr, func() (net.Listener, error) { return net.Listen("tcp", addr) })
	if err != nil {
		t.Fatalf("testsupport: listen: %v", err)
	}
	s := &TCP{Addr: ln.Addr().(*net.TCPAddr).AddrPort(), ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil { // EMFILE in a test that runs out of descriptors
				time.Sleep(time.Millisecond)
				continue
			}
			s.Accepted.Add(1)
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				serve(c.(*net.TCPConn))
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// bind runs listen, and for a fixed port (the fixture's) retries while the
// port is in use: ports such as 39994 lie in the kernel's ephemeral range,
// where a test running in parallel may hold one for a few seconds. Tests
// that bind fixed ports should also run under Isolate.
func bind[T any](addr string, listen func() (T, error)) (T, error) {
	fixed := !strings.HasSuffix(addr, ":0")
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := listen()
		if err == nil || !fixed || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BlackHole listens on a free loopback port and never accepts: once its
// accept queue is full the kernel drops every SYN, so a connect to it hangs
// until it times out, as to a collector behind a dead route.
func BlackHole(t testing.TB) netip.AddrPort {
	t.Helper()
	return BlackHoleAt(t, netip.MustParseAddrPort("127.0.0.1:0"))
}

// BlackHoleAt is BlackHole on an IPv4 address: the port of a collector
// that just died, say.
func BlackHoleAt(t testing.TB, at netip.AddrPort) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: at.Addr().As4(), Port: int(at.Port())}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))
	for range 2 { // fill the queue: a backlog of 0 holds one
		if c, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

// Close stops the server and closes its connections.
func (s *TCP) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// UDP is a loopback UDP receiver. It counts datagrams and bytes, answers the
// Pinpoint probe with "OK", and echoes datagrams that start with "echo:".
type UDP struct {
	Addr      netip.AddrPort
	conn      *net.UDPConn
	Datagrams atomic.Int64
	Bytes     atomic.Int64
	LastAt    atomic.Int64 // unix nanoseconds of the last datagram
	wg        sync.WaitGroup
	mu        sync.Mutex
	sources   map[netip.AddrPort]int
}

// StartUDP starts a receiver on 127.0.0.1 and stops it at the end of the
// test.
func StartUDP(t testing.TB) *UDP {
	t.Helper()
	return StartUDPAt(t, "127.0.0.1:0")
}

// StartUDPAt starts a receiver on addr.
func StartUDPAt(t testing.TB, addr string) *UDP {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatalf("testsupport: %v", err)
	}
	conn, err := bind(addr, func() (*net.UDPConn, error) { return net.ListenUDP("udp", ua) })
	if err != nil {
		t.Fatalf("testsupport: listen: %v", err)
	}
	u := &UDP{Addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), conn: conn, sources: map[netip.AddrPort]int{}}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			u.LastAt.Store(time.Now().UnixNano())
			u.Datagrams.Add(1)
			u.Bytes.Add(int64(n))
			u.mu.Lock()
			u.sources[from]++
			u.mu.Unlock()
			switch p := buf[:n]; {
			case bytes.Equal(p, Probe):
				conn.WriteToUDPAddrPort(ProbeReply, from)
			case bytes.HasPrefix(p, []byte("echo:")):
				conn.WriteToUDPAddrPort(p, from)
			}
		}
	}()
	t.Cleanup(u.Close)
	return u
}

// Sources returns how many datagrams came from each source address.
func (u *UDP) Sources() map[netip.AddrPort]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[netip.AddrPort]int, len(u.sources))
	for k, v := range u.sources {
		out[k] = v
	}
	return out
}

// Close stops the receiver.
func (u *UDP) Close() {
	u.conn.Close()
	u.wg.Wait()
}
