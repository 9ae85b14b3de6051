package agent

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

func tcpListener(name, addr string, servers ...*testsupport.TCP) config.Listener {
	l := config.Listener{
		Name:           name,
		Protocol:       "tcp",
		Address:        addr,
		Balance:        config.DefaultBalance,
		ConnectTimeout: time.Second,
		IdleTimeout:    time.Minute,
	}
	for _, s := range servers {
		l.Upstream.Servers = append(l.Upstream.Servers, s.Addr.String())
	}
	return l
}

func start(t *testing.T, ls ...config.Listener) *Agent {
	t.Helper()
	return startConfig(t, &config.Config{Listeners: ls}, testWriter{t})
}

// startConfig runs an agent for cfg, logging to log, until the test ends.
func startConfig(t *testing.T, cfg *config.Config, log io.Writer) *Agent {
	t.Helper()
	a := New(cfg, Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: log})})
	must.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return a
}

func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	must.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Write([]byte("x"))
	must.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, 1))
	must.NoError(t, err)
}

func TestReload_KeepsConnectionsAndSwapsBackends(t *testing.T) {
	a, b, c := testsupport.StartTCP(t), testsupport.StartTCP(t), testsupport.StartTCP(t)
	keepAddr, changeAddr := testsupport.FreePort(t), testsupport.FreePort(t)
	ag := start(t, tcpListener("change", changeAddr, b), tcpListener("keep", keepAddr, a))
	addrs := ag.Addrs()

	kept := dial(t, addrs["keep"])
	roundTrip(t, kept)
	onChange := dial(t, addrs["change"])
	roundTrip(t, onChange)

	must.NoError(t, ag.Reload(&config.Config{Listeners: []config.Listener{
		tcpListener("change", changeAddr, c), tcpListener("keep", keepAddr, a),
	}}))

	// Open connections on both listeners keep flowing, to their old backends.
	roundTrip(t, kept)
	roundTrip(t, onChange)
	// New connections on the changed listener go to its new backend.
	roundTrip(t, dial(t, addrs["change"]))
	must.Eq(t, 1, c.Accepted.Load())
	must.Eq(t, 1, b.Accepted.Load())
	must.Eq(t, addrs, ag.Addrs()) // same sockets
}

func TestReload_RemovedListenerDrains(t *testing.T) {
	a := testsupport.StartTCP(t)
	keepAddr, goneAddr := testsupport.FreePort(t), testsupport.FreePort(t)
	ag := start(t, tcpListener("keep", keepAddr, a), tcpListener("gone", goneAddr, a))
	open := dial(t, ag.Addrs()["gone"])
	roundTrip(t, open)

	must.NoError(t, ag.Reload(&config.Config{ShutdownTimeout: time.Minute, Listeners: []config.Listener{tcpListener("keep", keepAddr, a)}}))

	testsupport.WaitFor(t, "removed listener to stop accepting", func() bool {
		c, err := net.Dial("tcp", goneAddr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	roundTrip(t, open) // drains: the open connection still works
	must.Eq(t, 1, len(ag.Addrs()))
}

// A removed listener's connections may finish for the shutdown timeout (or
// the listener's drain_timeout), not for ever.
func TestReload_RemovedListenerDrainsUntilDeadline(t *testing.T) {
	a := testsupport.StartTCP(t)
	keep, gone := tcpListener("keep", testsupport.FreePort(t), a), tcpListener("gone", testsupport.FreePort(t), a)
	ag := start(t, keep, gone)
	open := dial(t, ag.Addrs()["gone"])
	roundTrip(t, open)

	removedAt := time.Now()
	must.NoError(t, ag.Reload(&config.Config{ShutdownTimeout: 300 * time.Millisecond, Listeners: []config.Listener{keep}}))
	open.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := open.Read(make([]byte, 1))
	must.ErrorIs(t, err, io.EOF) // closed by pinlb at the deadline
	must.GreaterEq(t, 300*time.Millisecond, time.Since(removedAt))
}

// A reload whose API cannot move has still removed its listeners: they
// drain where Shutdown finds them, and their ports come free.
func TestReload_APIThatCannotMoveLeaksNoListener(t *testing.T) {
	a := testsupport.StartTCP(t)
	keep, gone := tcpListener("keep", testsupport.FreePort(t), a), tcpListener("gone", testsupport.FreePort(t), a)
	cfg := &config.Config{ShutdownTimeout: time.Minute, API: config.API{Enabled: true, Address: "127.0.0.1:0"}, Listeners: []config.Listener{keep, gone}}
	ag := New(cfg, Options{Logger: hclog.New(&hclog.LoggerOptions{Output: testWriter{t}})})
	must.NoError(t, ag.Start(context.Background()))
	open := dial(t, ag.Addrs()["gone"])
	roundTrip(t, open)

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	defer taken.Close()
	next := *cfg
	next.API.Address, next.Listeners = taken.Addr().String(), []config.Listener{keep}
	must.ErrorContains(t, ag.Reload(&next), "the API could not move")
	roundTrip(t, open) // draining

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	ag.Shutdown(ctx) // closes the draining connection at its deadline
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = open.Read(make([]byte, 1))
	must.ErrorIs(t, err, io.EOF)
	ln, err := net.Listen("tcp", gone.Address)
	must.NoError(t, err) // the removed listener's port is free
	ln.Close()
}

func TestReload_BindFailureKeepsRunningConfig(t *testing.T) {
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	addr := testsupport.FreePort(t)
	ag := start(t, tcpListener("x", addr, a))

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	defer taken.Close()

	err = ag.Reload(&config.Config{Listeners: []config.Listener{
		tcpListener("x", addr, b),
		tcpListener("new", taken.Addr().String(), b),
	}})
	must.ErrorContains(t, err, "address already in use")
	must.Eq(t, 1, strings.Count(err.Error(), `listener "new"`)) // named once, not once per layer

	roundTrip(t, dial(t, ag.Addrs()["x"]))
	must.Eq(t, 1, a.Accepted.Load()) // still the old backend
	must.Eq(t, 0, b.Accepted.Load())
}

// An error names its listener once, not once per layer it crossed.
func TestStart_ErrorNamesTheListenerOnce(t *testing.T) {
	l := tcpListener("x", "127.0.0.1:0", testsupport.StartTCP(t))
	l.Balance = "fastest" // config would refuse it; proxy refuses it too
	err := New(&config.Config{Listeners: []config.Listener{l}}, Options{}).Start(context.Background())
	must.ErrorContains(t, err, "fastest")
	must.Eq(t, 1, strings.Count(err.Error(), `listener "x"`), must.Sprint(err))
}

func TestStart_PortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	defer taken.Close()
	free := testsupport.FreePort(t)
	a := testsupport.StartTCP(t)

	ag := New(&config.Config{Listeners: []config.Listener{
		tcpListener("ok", free, a), tcpListener("clash", taken.Addr().String(), a),
	}}, Options{})
	err = ag.Start(context.Background())
	must.ErrorContains(t, err, `listener "clash"`)
	// What was bound before the failure was released.
	ln, err := net.Listen("tcp", free)
	must.NoError(t, err)
	ln.Close()
}

// setLoad gives a running agent the loader of its reloads, as New would
// have: under reloadMu, which every reload holds.
func setLoad(ag *Agent, load func() (*config.Config, hcl.Diagnostics)) {
	ag.reloadMu.Lock()
	defer ag.reloadMu.Unlock()
	ag.opts.Load = load
}
