//go:build linux

package proxy

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// eventTap collects a listener's events.
type eventTap struct {
	mu     sync.Mutex
	events []Event
}

func (e *eventTap) hook(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

func (e *eventTap) of(kind string) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// Passive health's decisions are events: the endpoint whose connect fails
// is ejected, and restored by the first connect that succeeds after its
// fail_timeout.
func TestEvents_EjectedThenRestored(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	flaky := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close() // nothing listens there for now
	good := testsupport.StartTCP(t)
	var tap eventTap
	cfg := tcpConfig()
	cfg.MaxFails, cfg.FailTimeout, cfg.Events = 1, 100*time.Millisecond, tap.hook
	l := startTCP(t, cfg, flaky, good.Addr)
	testsupport.WaitFor(t, "the dead endpoint to be ejected", func() bool {
		echoThrough(t, l)
		return len(tap.of(EventEjected)) > 0
	})
	ejected := tap.of(EventEjected)[0]
	must.Eq(t, flaky, ejected.Endpoint)
	must.StrContains(t, ejected.Cause, "1 failed connects within fail_timeout (100ms)")

	back := testsupport.StartTCPFunc(t, flaky.String(), func(c *net.TCPConn) { io.Copy(c, c) })
	testsupport.WaitFor(t, "the endpoint to be restored", func() bool {
		echoThrough(t, l)
		return back.Accepted.Load() > 0 && len(tap.of(EventRestored)) > 0
	})
	must.Eq(t, flaky, tap.of(EventRestored)[0].Endpoint)
}

// An endpoint that left the pool is drained when its last connection ends,
// not before.
func TestEvents_DrainedWithItsLastConnection(t *testing.T) {
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	var tap eventTap
	cfg := tcpConfig()
	cfg.Events = tap.hook
	l := startTCP(t, cfg, a.Addr, b.Addr)
	conns := []*net.TCPConn{dial(t, l), dial(t, l)} // one on each
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := echo(c, "x")
		must.NoError(t, err)
	}
	l.SetEndpoints([]Endpoint{{Addr: b.Addr}}) // a leaves, with one connection open
	must.Eq(t, 2, l.Stats().Active)
	must.SliceEmpty(t, tap.of(EventDrained))
	for _, c := range conns {
		c.Close()
	}
	testsupport.WaitFor(t, "a to be drained", func() bool { return len(tap.of(EventDrained)) > 0 })
	drained := tap.of(EventDrained)
	must.SliceLen(t, 1, drained)
	must.Eq(t, netip.AddrPort(a.Addr), drained[0].Endpoint)
}

// echoThrough makes one connection through l and sends a byte, whatever
// becomes of it.
func echoThrough(t *testing.T, l Listener) {
	c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	c.Write([]byte("x"))
	c.Read(make([]byte, 1))
}
