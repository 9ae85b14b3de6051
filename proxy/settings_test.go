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

// next_timeout bounds all the tries of one connection together: two
// black holes with a 5 s connect_timeout cost the client half a second.
func TestTCP_NextTimeoutBoundsTheTries(t *testing.T) {
	cfg := tcpConfig()
	cfg.ConnectTimeout, cfg.NextTimeout = 5*time.Second, 500*time.Millisecond
	l := startTCP(t, cfg, testsupport.BlackHole(t), testsupport.BlackHole(t))
	c := dial(t, l)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	must.ErrorIs(t, err, io.EOF) // closed by pinlb, no backend reached
	took := time.Since(start)
	must.Between(t, 400*time.Millisecond, took, 2*time.Second)
	must.Eq(t, 1, l.Stats().NoBackend)
}

// max_lifetime moves a connection that lived long enough once it is quiet:
// the client gets a FIN, and it counts as lifetime_closed.
func TestTCP_MaxLifetime(t *testing.T) {
	be := testsupport.StartTCP(t)
	cfg := tcpConfig()
	cfg.Rebalance = RebalanceConfig{Enabled: true, MaxLifetime: 300 * time.Millisecond, MinIdle: 50 * time.Millisecond, MaxRate: 100}
	l := startTCP(t, cfg, be.Addr)
	c := dial(t, l)
	start := time.Now()
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	must.ErrorIs(t, err, io.EOF)
	must.GreaterEq(t, 270*time.Millisecond, time.Since(start)) // 300 ms less its 10% jitter
	testsupport.WaitFor(t, "lifetime_closed", func() bool { return l.Stats().LifetimeClosed == 1 })
}

// least_time prefers the endpoint that answers first.
func TestTCP_LeastTimeFollowsLatency(t *testing.T) {
	fast := testsupport.StartTCP(t)
	slow := testsupport.StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
		time.Sleep(30 * time.Millisecond)
		io.Copy(c, c)
		c.CloseWrite()
	})
	cfg := tcpConfig()
	cfg.Balance = LeastTime
	l := startTCP(t, cfg, fast.Addr, slow.Addr)
	for range 40 {
		c := dial(t, l)
		c.Write([]byte("x"))
		io.ReadFull(c, make([]byte, 1))
		c.Close()
	}
	must.Greater(t, 32, fast.Accepted.Load(), must.Sprintf("fast %d, slow %d", fast.Accepted.Load(), slow.Accepted.Load()))
}

// IPv6 on both sides: a listener on [::1] and backends on [::1], TCP and UDP.
func TestIPv6ListenersAndBackends(t *testing.T) {
	tcpBE := testsupport.StartTCPFunc(t, "[::1]:0", func(c *net.TCPConn) { io.Copy(c, c); c.CloseWrite() })
	cfg := tcpConfig()
	cfg.Address = "[::1]:0"
	l := startTCP(t, cfg, tcpBE.Addr)
	c := dial(t, l)
	c.Write([]byte("v6"))
	got := make([]byte, 2)
	_, err := io.ReadFull(c, got)
	must.NoError(t, err)
	must.Eq(t, "v6", string(got))

	udpBE := testsupport.StartUDPAt(t, "[::1]:0")
	ucfg := udpConfig(PacketMode)
	ucfg.Address = "[::1]:0"
	u := startUDP(t, ucfg)
	u.SetEndpoints([]Endpoint{{Addr: udpBE.Addr, Weight: 1}})
	uc := client(t, u)
	send(t, uc, 1, testsupport.Probe)
	uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := uc.Read(got)
	must.NoError(t, err)
	must.Eq(t, "OK", string(got[:n]))
	must.True(t, netip.MustParseAddr("::1") == udpBE.Addr.Addr())
}

// max_wait moves a connection of an overloaded endpoint that never goes
// quiet: after max_wait the rebalancer closes it anyway, and counts it.
func TestTCP_RebalanceMaxWaitForcesBusyConnections(t *testing.T) {
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	cfg := tcpConfig()
	cfg.Rebalance = RebalanceConfig{Enabled: true, Skew: 1.5, MinIdle: time.Hour, MaxWait: 300 * time.Millisecond, MaxRate: 100}
	l := startTCP(t, cfg, a.Addr)
	moved := make(chan struct{}, 4)
	var onA sync.WaitGroup
	for range 4 { // busy: a byte each way every 20 ms, so never quiet for min_idle
		c := dial(t, l)
		onA.Add(1)
		go func() {
			buf := make([]byte, 1)
			for i := 0; ; i++ {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					moved <- struct{}{} // asked to go: the FIN
					return
				}
				if i == 0 {
					onA.Done() // its echo came back: it is connected to a
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	// Every connection has reached a before b joins; one still connecting
	// would go to b, and 3 of 4 on a is within the skew.
	onA.Wait()
	l.SetEndpoints([]Endpoint{{Addr: a.Addr, Weight: 1}, {Addr: b.Addr, Weight: 1}})
	start := time.Now()
	for range 2 { // a holds 4 where its share is 2
		select {
		case <-moved:
		case <-time.After(10 * time.Second):
			t.Fatal("no busy connection was moved")
		}
	}
	must.GreaterEq(t, 300*time.Millisecond, time.Since(start))
	testsupport.WaitFor(t, "rebalance_forced", func() bool { return l.Stats().RebalanceForced == 2 })
}
