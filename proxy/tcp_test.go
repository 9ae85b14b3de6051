//go:build linux

package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
	"golang.org/x/sys/unix"
)

func tcpConfig() Config {
	return Config{
		Name:           "test",
		Protocol:       TCP,
		Address:        "127.0.0.1:0",
		Balance:        RoundRobin,
		ConnectTimeout: 2 * time.Second,
		IdleTimeout:    time.Minute,
	}
}

// startTCP runs a TCP listener forwarding to addrs and shuts it down at the
// end of the test.
func startTCP(t testing.TB, cfg Config, addrs ...netip.AddrPort) Listener {
	t.Helper()
	l, err := Listen(cfg, hclog.NewNullLogger())
	must.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		l.Shutdown(ctx)
	})
	eps := make([]Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = Endpoint{Addr: a, Weight: 1}
	}
	l.SetEndpoints(eps)
	return l
}

func dial(t *testing.T, l Listener) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	must.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	a := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return a
}

func TestTCP_BytesBeforeCloseArrive(t *testing.T) {
	payload := bytes.Repeat([]byte("pinpoint-span-"), 100_000) // 1.4 MB

	t.Run("client to backend", func(t *testing.T) {
		got := make(chan []byte, 1)
		be := testsupport.StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
			b, _ := io.ReadAll(c)
			got <- b
		})
		l := startTCP(t, tcpConfig(), be.Addr)
		c := dial(t, l)
		_, err := c.Write(payload)
		must.NoError(t, err)
		must.NoError(t, c.Close()) // full close right after the write
		must.Eq(t, len(payload), len(<-got))
	})

	t.Run("backend to client", func(t *testing.T) {
		be := testsupport.StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
			c.Write(payload)
		}) // the server closes right after the write
		l := startTCP(t, tcpConfig(), be.Addr)
		c := dial(t, l)
		b, err := io.ReadAll(c)
		must.NoError(t, err)
		must.Eq(t, len(payload), len(b))
	})
}

func TestTCP_HalfClose(t *testing.T) {
	t.Run("client closes its write side first", func(t *testing.T) {
		// The echo backend answers until the client's EOF, then closes.
		be := testsupport.StartTCP(t)
		l := startTCP(t, tcpConfig(), be.Addr)
		c := dial(t, l)
		_, err := c.Write([]byte("request"))
		must.NoError(t, err)
		must.NoError(t, c.CloseWrite())
		b, err := io.ReadAll(c) // the reply still comes, then EOF
		must.NoError(t, err)
		must.Eq(t, "request", string(b))
	})

	t.Run("backend closes its write side first", func(t *testing.T) {
		got := make(chan string, 1)
		be := testsupport.StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
			c.Write([]byte("greeting"))
			c.CloseWrite()
			b, _ := io.ReadAll(c) // still reads what the client sends
			got <- string(b)
		})
		l := startTCP(t, tcpConfig(), be.Addr)
		c := dial(t, l)
		b, err := io.ReadAll(c) // EOF after the greeting...
		must.NoError(t, err)
		must.Eq(t, "greeting", string(b))
		_, err = c.Write([]byte("late data")) // ...but the other way is open
		must.NoError(t, err)
		must.NoError(t, c.CloseWrite())
		must.Eq(t, "late data", <-got)
	})
}

func TestTCP_ConnectFailureTriesNextBackend(t *testing.T) {
	t.Run("next backend", func(t *testing.T) {
		be := testsupport.StartTCP(t)
		cfg := tcpConfig()
		cfg.MaxFails, cfg.FailTimeout = 1, time.Minute
		l := startTCP(t, cfg, deadAddr(t), be.Addr)
		for range 4 { // round robin starts on each backend in turn
			c := dial(t, l)
			_, err := c.Write([]byte("x"))
			must.NoError(t, err)
			c.CloseWrite()
			b, err := io.ReadAll(c)
			must.NoError(t, err)
			must.Eq(t, "x", string(b))
		}
		must.Eq(t, 4, be.Accepted.Load())
		// The first failure takes the dead endpoint out for fail_timeout.
		must.Eq(t, 1, l.Stats().ConnectFailures)
		must.Eq(t, 1, l.Stats().PassiveOut)
	})

	t.Run("give up", func(t *testing.T) {
		l := startTCP(t, tcpConfig(), deadAddr(t), deadAddr(t), deadAddr(t))
		c := dial(t, l)
		_, err := io.ReadAll(c) // closed without a byte
		must.NoError(t, err)
		s := l.Stats()
		must.Eq(t, 3, s.ConnectFailures) // each backend tried once
		must.Eq(t, 1, s.NoBackend)
	})

	t.Run("no endpoints", func(t *testing.T) {
		l := startTCP(t, tcpConfig())
		c := dial(t, l)
		_, err := io.ReadAll(c)
		must.NoError(t, err)
		must.Eq(t, 1, l.Stats().NoBackend)
	})
}

func TestTCP_IdleTimeout(t *testing.T) {
	be := testsupport.StartTCP(t)
	cfg := tcpConfig()
	cfg.IdleTimeout = 300 * time.Millisecond
	l := startTCP(t, cfg, be.Addr)

	idle := dial(t, l)
	busy := dial(t, l)
	start := time.Now()

	// The busy connection talks every 50ms for well over the idle timeout.
	buf := make([]byte, 4)
	for time.Since(start) < 4*cfg.IdleTimeout {
		_, err := busy.Write([]byte("ping"))
		must.NoError(t, err)
		_, err = io.ReadFull(busy, buf)
		must.NoError(t, err)
		time.Sleep(50 * time.Millisecond) // pacing the traffic, not waiting on a condition
	}

	// The idle one has been closed by the proxy by now.
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := idle.Read(buf)
	must.ErrorIs(t, err, io.EOF)
	must.Eq(t, 1, l.Stats().IdleClosed)
	_, err = busy.Write([]byte("ping"))
	must.NoError(t, err)
	_, err = io.ReadFull(busy, buf)
	must.NoError(t, err)
}

func TestTCP_MaxConnections(t *testing.T) {
	be := testsupport.StartTCP(t)
	cfg := tcpConfig()
	cfg.MaxConnections = 2
	l := startTCP(t, cfg, be.Addr)

	for range 2 {
		c := dial(t, l)
		_, err := c.Write([]byte("x"))
		must.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 1))
		must.NoError(t, err)
	}
	over := dial(t, l)
	_, err := io.ReadAll(over)
	must.NoError(t, err) // closed at once
	must.Eq(t, 1, l.Stats().Rejected)
	must.Eq(t, 2, l.Stats().Active)
}

func TestTCP_ShutdownDrainsThenForceCloses(t *testing.T) {
	be := testsupport.StartTCP(t)
	l := startTCP(t, tcpConfig(), be.Addr)
	c := dial(t, l)
	roundTrip := func() error {
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}
	must.NoError(t, roundTrip())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Shutdown(ctx) }()

	// Draining: no new connections, but the open one still works.
	testsupport.WaitFor(t, "listener to stop accepting", func() bool {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	must.NoError(t, roundTrip())
	select {
	case err := <-done:
		t.Fatalf("shutdown returned while a connection was open: %v", err)
	default:
	}

	cancel() // the deadline
	must.ErrorIs(t, <-done, context.Canceled)
	_, err := io.ReadAll(c)
	must.NoError(t, err) // closed by the proxy
}

func TestTCP_ShutdownReturnsWhenConnectionsEnd(t *testing.T) {
	be := testsupport.StartTCP(t)
	l := startTCP(t, tcpConfig(), be.Addr)
	c := dial(t, l)
	_, err := c.Write([]byte("x"))
	must.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, 1))
	must.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- l.Shutdown(context.Background()) }()
	c.Close()
	must.NoError(t, <-done)
}

func TestTCP_SetEndpointsAppliesToNewConnections(t *testing.T) {
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	l := startTCP(t, tcpConfig(), a.Addr)
	old := dial(t, l)
	testsupport.WaitFor(t, "first connection at a", func() bool { return a.Accepted.Load() == 1 })

	l.SetEndpoints([]Endpoint{{Addr: b.Addr}})
	c := dial(t, l)
	testsupport.WaitFor(t, "new connection at b", func() bool { return b.Accepted.Load() == 1 })
	must.Eq(t, 1, a.Accepted.Load())

	for _, conn := range []*net.TCPConn{old, c} { // both still flow
		_, err := conn.Write([]byte("x"))
		must.NoError(t, err)
		_, err = io.ReadFull(conn, make([]byte, 1))
		must.NoError(t, err)
	}
}

func TestTCP_AcceptErrorsDoNotKillListener(t *testing.T) {
	be := testsupport.StartTCP(t)
	l := startTCP(t, tcpConfig(), be.Addr)

	// Leave the process exactly one free descriptor, for the client: the
	// proxy's accept then fails with EMFILE until descriptors are free.
	var old unix.Rlimit
	must.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
	lim := unix.Rlimit{Cur: 256, Max: old.Max}
	must.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
	var fillers []*os.File
	restore := func() {
		for _, f := range fillers {
			f.Close()
		}
		fillers = nil
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	}
	t.Cleanup(restore)
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			must.ErrorIs(t, err, unix.EMFILE)
			break
		}
		fillers = append(fillers, f)
	}
	fillers[len(fillers)-1].Close()
	fillers = fillers[:len(fillers)-1]

	c := dial(t, l) // the kernel completes the handshake; accept fails
	testsupport.WaitFor(t, "accept errors", func() bool { return l.Stats().AcceptErrors > 0 })
	restore()

	// The same connection is accepted once descriptors are free again.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Write([]byte("x"))
	must.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, 1))
	must.NoError(t, err)
}

func TestTCP_DrainTimeout(t *testing.T) {
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	cfg := tcpConfig()
	cfg.DrainTimeout = 200 * time.Millisecond
	l := startTCP(t, cfg, a.Addr, b.Addr)
	conns := []*net.TCPConn{dial(t, l), dial(t, l)} // round robin: one on each
	for _, c := range conns {
		_, err := c.Write([]byte("x"))
		must.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 1))
		must.NoError(t, err)
	}
	must.Eq(t, 1, a.Accepted.Load())

	l.SetEndpoints([]Endpoint{{Addr: b.Addr}}) // a leaves the pool
	testsupport.WaitFor(t, "the drain timeout", func() bool { return l.Stats().DrainClosed == 1 })

	// The connection on a was closed; the one on b still flows.
	var closed, open int
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("x")); err == nil {
			if _, err := io.ReadFull(c, make([]byte, 1)); err == nil {
				open++
				continue
			}
		}
		closed++
	}
	must.Eq(t, 1, closed)
	must.Eq(t, 1, open)
}

func TestTCP_EndpointBackBeforeDrainKeepsConnections(t *testing.T) {
	a := testsupport.StartTCP(t)
	cfg := tcpConfig()
	cfg.DrainTimeout = 300 * time.Millisecond
	l := startTCP(t, cfg, a.Addr)
	c := dial(t, l)
	roundTrip := func() {
		t.Helper()
		_, err := c.Write([]byte("x"))
		must.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 1))
		must.NoError(t, err)
	}
	roundTrip()
	l.SetEndpoints(nil)                        // a flaps out...
	l.SetEndpoints([]Endpoint{{Addr: a.Addr}}) // ...and back
	// Well past the drain timeout, the connection still flows.
	for start := time.Now(); time.Since(start) < 3*cfg.DrainTimeout; {
		roundTrip()
		time.Sleep(50 * time.Millisecond) // pacing the traffic
	}
	must.Eq(t, 0, l.Stats().DrainClosed)
}

// Pipes go back to a pool between uses: many connections at once, some
// cut mid-stream with bytes in flight, and every byte that arrives on the
// others is theirs.
func TestTCP_PooledPipesCarryNothingOver(t *testing.T) {
	backend := testsupport.StartTCP(t)
	l := startTCP(t, tcpConfig(), backend.Addr)
	errs := make(chan error, 64)
	for i := range 64 {
		go func() {
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := bytes.Repeat([]byte{byte(i)}, 1000+i*4096)
			if i%4 == 0 { // cut: write and close at once, echo unread
				c.Write(msg)
				c.(*net.TCPConn).SetLinger(0)
				errs <- nil
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			go c.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("connection %d got bytes that are not its own", i)
				return
			}
			errs <- nil
		}()
	}
	for range 64 {
		must.NoError(t, <-errs)
	}
}

// Shutdown takes the connections the kernel completed but pinlb had not
// accepted yet, instead of resetting them with the socket: their clients
// may have sent data already.
func TestTCP_ShutdownTakesTheAcceptQueue(t *testing.T) {
	be := testsupport.StartTCP(t)
	l, err := Listen(tcpConfig(), hclog.NewNullLogger())
	must.NoError(t, err)
	l.SetEndpoints([]Endpoint{{Addr: be.Addr, Weight: 1}})
	// Many clients at once, faster than one accept loop takes them.
	conns := make([]net.Conn, 400)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < len(conns); i += 16 {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					t.Error(err)
					return
				}
				c.Write([]byte("first|"))
				conns[i] = c
			}
		})
	}
	wg.Wait()
	for _, c := range conns {
		defer c.Close()
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- l.Shutdown(ctx)
	}()
	whole := 0
	for _, c := range conns {
		c.Write([]byte("second"))
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, _ := io.ReadAll(c); string(b) == "first|second" {
			whole++
		}
	}
	must.NoError(t, <-done)
	must.Eq(t, len(conns), whole)
}

// A Shutdown that reaches its deadline cuts the connects still in
// progress, which would otherwise hold it for their connect_timeout.
func TestTCP_ShutdownCutsConnectsInProgress(t *testing.T) {
	cfg := tcpConfig()
	cfg.ConnectTimeout = time.Minute
	l := startTCP(t, cfg, testsupport.BlackHole(t))
	c := dial(t, l)
	testsupport.WaitFor(t, "the connection to be accepted", func() bool { return l.Stats().Accepted == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Shutdown(ctx) }()
	select {
	case err := <-done:
		must.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown waited for a connect in progress")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	must.ErrorIs(t, err, io.EOF)             // closed by pinlb
	must.Eq(t, 0, l.Stats().ConnectFailures) // nobody's fault
}

// A backend that speaks first may have spoken by the time its connect is
// seen to complete: its bytes still reach the client.
func TestTCP_BackendSpeaksFirst(t *testing.T) {
	be := testsupport.StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
		c.Write([]byte("greeting"))
		c.Close()
	})
	l := startTCP(t, tcpConfig(), be.Addr)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				c := dial(t, l)
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				b, err := io.ReadAll(c)
				c.Close()
				if err != nil || string(b) != "greeting" {
					t.Errorf("got %q, %v", b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
