//go:build linux

package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/pinlb/pinlb/proxy/reactor"
	"github.com/shoenig/test/must"
	"golang.org/x/sys/unix"
)

// An idle relayed connection costs its sockets: no goroutine waits on it.
func TestTCP_IdleConnectionsHoldNoGoroutine(t *testing.T) {
	const conns = 200
	be := testsupport.StartTCP(t) // a goroutine per connection of its own
	l := startTCP(t, tcpConfig(), be.Addr)
	dial(t, l) // the first connection starts what runs once
	base := runtime.NumGoroutine()
	var b [1]byte
	for range conns {
		c := dial(t, l)
		_, err := c.Write(b[:])
		must.NoError(t, err)
		_, err = io.ReadFull(c, b[:]) // echoed: relayed, both ways
		must.NoError(t, err)
	}
	// The backend's echo goroutines are conns; pinlb's may add none.
	testsupport.WaitFor(t, "pinlb's per-connection goroutines to end", func() bool {
		return runtime.NumGoroutine()-base <= conns+conns/10
	})
}

// A gigabyte each way at once, written and read in random sizes from a
// byte to 256 KB, so that each direction keeps switching between reading
// small messages and splicing bulk, and the bytes are checked in order.
// With small socket buffers, the sockets fill often: bytes wait in pinlb,
// in a buffer or a pipe, for the destination to take them.
func TestTCP_RandomSizesEachWay(t *testing.T) {
	if testing.Short() {
		t.Skip("moves gigabytes")
	}
	for _, tc := range []struct {
		name   string
		total  int
		buffer int // SO_RCVBUF and SO_SNDBUF of the ends; 0 the kernel's
	}{
		{"a gigabyte", 1 << 30, 0},
		{"small socket buffers", 16 << 20, 16 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := net.ListenConfig{Control: smallSegments(tc.buffer)}
			ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
			must.NoError(t, err)
			defer ln.Close()
			errs := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					defer c.Close()
					err = exchange(c.(*net.TCPConn), 2, 1, tc.total, tc.buffer)
				}
				errs <- err
			}()
			l := startTCP(t, tcpConfig(), ln.Addr().(*net.TCPAddr).AddrPort())
			d := net.Dialer{Control: smallSegments(tc.buffer)}
			c, err := d.Dial("tcp", l.Addr().String())
			must.NoError(t, err)
			defer c.Close()
			must.NoError(t, exchange(c.(*net.TCPConn), 1, 2, tc.total, tc.buffer))
			must.NoError(t, <-errs)
		})
	}
}

// smallSegments keeps an end's segments well under its small buffers
// (buffer > 0): with loopback's 64 KB segments, a window smaller than one
// segment waits on the kernel's zero-window probes, up to 100 s, with or
// without a proxy between the ends.
func smallSegments(buffer int) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		if buffer == 0 {
			return nil
		}
		var serr error
		err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, buffer/4) })
		return errors.Join(err, serr)
	}
}

// exchange sends total bytes of stream send and reads, to its end, total
// bytes of stream recv, both in random sizes.
func exchange(c *net.TCPConn, send, recv uint64, total, buffer int) error {
	if buffer > 0 {
		c.SetReadBuffer(buffer)
		c.SetWriteBuffer(buffer)
	}
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		werr = writeStream(c, send, total)
		c.CloseWrite()
	})
	rerr := readStream(c, recv, total)
	wg.Wait()
	if werr != nil {
		return werr
	}
	return rerr
}

// randomSize is a write's or a read's size: half are up to 512 B, half up
// to 256 KB.
func randomSize(r *rand.Rand) int {
	if r.IntN(2) == 0 {
		return 1 + r.IntN(512)
	}
	return 1 + r.IntN(256<<10)
}

func writeStream(w io.Writer, seed uint64, total int) error {
	data := rand.NewChaCha8([32]byte{byte(seed)})
	sizes := rand.New(rand.NewPCG(seed, 1))
	buf := make([]byte, 256<<10)
	for left := total; left > 0; {
		n := min(randomSize(sizes), left)
		data.Read(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return fmt.Errorf("write at %d: %w", total-left, err)
		}
		left -= n
	}
	return nil
}

func readStream(r io.Reader, seed uint64, total int) error {
	data := rand.NewChaCha8([32]byte{byte(seed)})
	sizes := rand.New(rand.NewPCG(seed, 2))
	buf, want := make([]byte, 256<<10), make([]byte, 256<<10)
	got := 0
	for {
		n, err := r.Read(buf[:randomSize(sizes)])
		data.Read(want[:n])
		for i := range n {
			if buf[i] != want[i] {
				return fmt.Errorf("byte %d differs", got+i)
			}
		}
		got += n
		switch {
		case err == io.EOF && got == total:
			return nil
		case err == io.EOF:
			return fmt.Errorf("stream ended after %d of %d bytes", got, total)
		case err != nil:
			return fmt.Errorf("read at %d: %w", got, err)
		case got > total:
			return fmt.Errorf("%d bytes, more than the %d sent", got, total)
		}
	}
}

// Connections that come one at a time spread over the reactors, within
// reactor.Slack of each other: the kernel would give them all to the
// reactor it wakes first.
func TestTCP_ConnectionsSpreadOverTheReactors(t *testing.T) {
	be := testsupport.StartTCP(t)
	l := startTCP(t, tcpConfig(), be.Addr).(*tcpListener)
	const conns = 200
	var b [1]byte
	for range conns {
		c := dial(t, l)
		_, err := c.Write(b[:])
		must.NoError(t, err)
		_, err = io.ReadFull(c, b[:]) // relayed: on its reactor for good
		must.NoError(t, err)
	}
	held := map[*reactor.Reactor]int{}
	l.mu.Lock()
	for c := range l.conns {
		held[c.drv.(*tcpFlow).r]++
	}
	l.mu.Unlock()
	must.MapLen(t, runtime.GOMAXPROCS(0), held)
	least, most := conns, 0
	for _, n := range held {
		least, most = min(least, n), max(most, n)
	}
	must.LessEq(t, int(reactor.Slack(int32(least)))+1, most-least)
}
