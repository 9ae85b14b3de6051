//go:build linux

package proxy

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

func udpConfig(mode string) Config {
	return Config{
		Name:     "span",
		Protocol: UDP,
		Address:  "127.0.0.1:0",
		Balance:  RoundRobin,
		UDP: UDPConfig{
			Mode:           mode,
			SessionTimeout: 10 * time.Second,
			MaxSessions:    100,
		},
	}
}

func startUDP(t *testing.T, cfg Config, backends ...*testsupport.UDP) Listener {
	t.Helper()
	l, err := Listen(cfg, hclog.NewNullLogger())
	must.NoError(t, err)
	t.Cleanup(func() { l.Shutdown(context.Background()) })
	eps := make([]Endpoint, len(backends))
	for i, b := range backends {
		eps[i] = Endpoint{Addr: b.Addr, Weight: 1}
	}
	l.SetEndpoints(eps)
	return l
}

// client opens a UDP socket aimed at the listener.
func client(t *testing.T, l Listener) *net.UDPConn { return clientFrom(t, l, "") }

// clientFrom opens a UDP socket aimed at the listener from a loopback
// address of its own ("": any).
func clientFrom(t *testing.T, l Listener, ip string) *net.UDPConn {
	t.Helper()
	var from *net.UDPAddr
	if ip != "" {
		from = &net.UDPAddr{IP: net.ParseIP(ip)}
	}
	c, err := net.DialUDP("udp", from, l.Addr().(*net.UDPAddr))
	must.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, n int, p []byte) {
	t.Helper()
	for range n {
		_, err := c.Write(p)
		must.NoError(t, err)
	}
}

func total(bs ...*testsupport.UDP) int64 {
	var n int64
	for _, b := range bs {
		n += b.Datagrams.Load()
	}
	return n
}

func TestUDP_PacketModeSpreadsAcrossBackends(t *testing.T) {
	a, b := testsupport.StartUDP(t), testsupport.StartUDP(t)
	l := startUDP(t, udpConfig(PacketMode), a, b)
	c := client(t, l) // one client, one source port: the Pinpoint agent case
	send(t, c, 100, []byte("span"))
	testsupport.WaitFor(t, "100 datagrams", func() bool { return total(a, b) == 100 })
	must.Eq(t, 50, a.Datagrams.Load()) // round robin alternates
	must.Eq(t, 50, b.Datagrams.Load())
	must.Eq(t, 1, l.Stats().Sessions) // one flow carries the client's replies
}

func TestUDP_SessionModeSticksUntilTimeout(t *testing.T) {
	a, b := testsupport.StartUDP(t), testsupport.StartUDP(t)
	cfg := udpConfig(SessionMode)
	cfg.UDP.SessionTimeout = 200 * time.Millisecond
	l := startUDP(t, cfg, a, b)

	c1, c2 := client(t, l), client(t, l)
	send(t, c1, 20, []byte("x"))
	send(t, c2, 20, []byte("x"))
	testsupport.WaitFor(t, "40 datagrams", func() bool { return total(a, b) == 40 })
	// Each client's datagrams all reached one backend, and the two clients
	// were spread over both.
	must.Eq(t, 20, a.Datagrams.Load())
	must.Eq(t, 20, b.Datagrams.Load())
	must.Eq(t, 1, len(a.Sources()))
	must.Eq(t, 1, len(b.Sources()))
	must.Eq(t, 2, l.Stats().Sessions)

	// Silence ends both sessions.
	testsupport.WaitFor(t, "sessions to time out", func() bool { return l.Stats().Sessions == 0 })

	// A new session is elected afresh, from a new upstream socket.
	send(t, c1, 1, []byte("x"))
	testsupport.WaitFor(t, "41st datagram", func() bool { return total(a, b) == 41 })
	must.Eq(t, 1, l.Stats().Sessions)
	must.Eq(t, 3, len(a.Sources())+len(b.Sources()))
}

func TestUDP_RepliesReachTheClient(t *testing.T) {
	for _, mode := range []string{PacketMode, SessionMode} {
		t.Run(mode, func(t *testing.T) {
			a, b := testsupport.StartUDP(t), testsupport.StartUDP(t)
			l := startUDP(t, udpConfig(mode), a, b)
			c1, c2 := client(t, l), client(t, l)
			buf := make([]byte, 16)
			for range 3 { // several probes: in packet mode they go to both backends
				for _, c := range []*net.UDPConn{c1, c2} {
					send(t, c, 1, testsupport.Probe)
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, err := c.Read(buf)
					must.NoError(t, err)
					must.Eq(t, testsupport.ProbeReply, buf[:n])
				}
			}
			// Counted once sent: the client may read it first.
			testsupport.WaitFor(t, "6 replies counted", func() bool { return l.Stats().Replies == 6 })
		})
	}
}

func TestUDP_SessionEndsAfterResponses(t *testing.T) {
	a := testsupport.StartUDP(t)
	cfg := udpConfig(SessionMode)
	cfg.UDP.Responses = 1
	l := startUDP(t, cfg, a)
	c := client(t, l)
	send(t, c, 1, testsupport.Probe)
	buf := make([]byte, 16)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	must.NoError(t, err)
	must.Eq(t, "OK", string(buf[:n]))
	testsupport.WaitFor(t, "session to end after one reply", func() bool { return l.Stats().Sessions == 0 })
}

func TestUDP_LargeDatagram(t *testing.T) {
	a := testsupport.StartUDP(t)
	l := startUDP(t, udpConfig(PacketMode), a)
	c := client(t, l)
	big := bytes.Repeat([]byte("e"), 65507) // the IPv4 maximum
	big = append([]byte("echo:"), big[5:]...)
	send(t, c, 1, big)
	buf := make([]byte, 70000)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	must.NoError(t, err)
	must.Eq(t, len(big), n)
	must.Eq(t, int64(len(big)), a.Bytes.Load())
}

func TestUDP_SessionTableIsBounded(t *testing.T) {
	a := testsupport.StartUDP(t)
	cfg := udpConfig(PacketMode)
	cfg.UDP.MaxSessions = 2
	l := startUDP(t, cfg, a)
	for range 3 {
		send(t, client(t, l), 5, []byte("x"))
	}
	testsupport.WaitFor(t, "drops to be counted", func() bool {
		return l.Stats().Dropped["session_limit"] == 5
	})
	testsupport.WaitFor(t, "10 datagrams", func() bool { return a.Datagrams.Load() == 10 })
	must.Eq(t, 2, l.Stats().Sessions)
}

func TestUDP_NoEndpointsCountsDrops(t *testing.T) {
	l := startUDP(t, udpConfig(PacketMode))
	send(t, client(t, l), 3, []byte("x"))
	testsupport.WaitFor(t, "drops to be counted", func() bool {
		return l.Stats().Dropped["no_backend"] == 3
	})
}

func TestUDP_SessionReelectsWhenBackendLeaves(t *testing.T) {
	a, b := testsupport.StartUDP(t), testsupport.StartUDP(t)
	l := startUDP(t, udpConfig(SessionMode), a)
	c := client(t, l)
	// UDP may drop a datagram on a loaded machine: send until one arrives.
	testsupport.WaitFor(t, "a datagram at a", func() bool {
		send(t, c, 1, []byte("x"))
		return a.Datagrams.Load() > 0
	})

	l.SetEndpoints([]Endpoint{{Addr: b.Addr}})
	testsupport.WaitFor(t, "the session to move to b", func() bool {
		send(t, c, 1, []byte("x"))
		return b.Datagrams.Load() > 0
	})
	// Once moved, nothing more goes to the departed endpoint.
	atA, atB := a.Datagrams.Load(), b.Datagrams.Load()
	send(t, c, 5, []byte("x"))
	testsupport.WaitFor(t, "five more at b", func() bool { return b.Datagrams.Load() >= atB+5 })
	must.Eq(t, atA, a.Datagrams.Load())
}

func TestUDP_ReplyFromUnknownSourceIsDropped(t *testing.T) {
	a := testsupport.StartUDP(t)
	l := startUDP(t, udpConfig(PacketMode), a)
	c := client(t, l)
	send(t, c, 1, []byte("x"))
	testsupport.WaitFor(t, "first datagram", func() bool { return a.Datagrams.Load() == 1 })

	// A stranger that learned the session's upstream port sends to it.
	var upstream netip.AddrPort
	for src := range a.Sources() {
		upstream = src
	}
	stranger, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(upstream))
	must.NoError(t, err)
	defer stranger.Close()
	_, err = stranger.Write([]byte("spoof"))
	must.NoError(t, err)
	testsupport.WaitFor(t, "the spoofed reply to be dropped", func() bool {
		return l.Stats().Dropped["reply_unknown_source"] == 1
	})
	must.Eq(t, 0, l.Stats().Replies)
}

// The listener's sockets share their port with each other (SO_REUSEPORT),
// never with a socket someone else holds, even one that would share: a
// second pinlb on the same port is an error, not half the traffic.
func TestUDP_PortTakenIsAnError(t *testing.T) {
	other, err := listenReusePort("127.0.0.1:0", 1)
	must.NoError(t, err)
	defer other[0].Close()
	cfg := udpConfig(PacketMode)
	cfg.Address = other[0].LocalAddr().String()
	_, err = Listen(cfg, hclog.NewNullLogger())
	must.ErrorIs(t, err, syscall.EADDRINUSE)
}

// Many clients, spread by the kernel over the listener's sockets: every
// datagram arrives, and replies find their client from any socket.
func TestUDP_ManyClientsOverEveryReader(t *testing.T) {
	a, b := testsupport.StartUDP(t), testsupport.StartUDP(t)
	l := startUDP(t, udpConfig(PacketMode), a, b)
	must.Eq(t, udpReaders(), len(l.(*udpListener).readers))
	buf := make([]byte, 8)
	for range 32 {
		c := client(t, l)
		send(t, c, 1, testsupport.Probe)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		must.NoError(t, err)
		must.Eq(t, testsupport.ProbeReply, buf[:n])
	}
	testsupport.WaitFor(t, "32 datagrams", func() bool { return total(a, b) == 32 })
}

// Consul weights 3:1 hold for every balancer a UDP listener takes: per
// datagram in packet mode, per session in session mode.
func TestUDP_WeightsHold(t *testing.T) {
	for _, tc := range []struct {
		mode, balance string
		clients       int
	}{
		{PacketMode, RoundRobin, 1},
		{PacketMode, RandomTwo, 1},
		{SessionMode, RoundRobin, 400},
		{SessionMode, LeastConn, 400},
		{SessionMode, RandomTwo, 400},
	} {
		t.Run(tc.mode+"/"+tc.balance, func(t *testing.T) {
			heavy, light := testsupport.StartUDP(t), testsupport.StartUDP(t)
			cfg := udpConfig(tc.mode)
			cfg.Balance, cfg.UDP.MaxSessions = tc.balance, 1000
			l := startUDP(t, cfg)
			l.SetEndpoints([]Endpoint{{Addr: heavy.Addr, Weight: 3}, {Addr: light.Addr, Weight: 1}})
			clients := make([]*net.UDPConn, tc.clients)
			for i := range clients {
				clients[i] = client(t, l)
			}
			// In bursts of 50, which the backends' default receive buffers hold.
			for sent := 0; sent < 400; sent += 50 {
				for k := range 50 {
					send(t, clients[(sent+k)%len(clients)], 1, []byte("span"))
				}
				testsupport.WaitFor(t, "the burst", func() bool { return total(heavy, light) == int64(sent+50) })
			}
			share := float64(heavy.Datagrams.Load()) / 400
			must.Between(t, 0.65, share, 0.85, must.Sprintf("heavy got %d of 400", heavy.Datagrams.Load()))
		})
	}
}

// heldFlows counts the flows the readers' tables hold, ended ones included.
func heldFlows(l Listener) int64 {
	var n int64
	for _, r := range l.(*udpListener).readers {
		n += r.held.Load()
	}
	return n
}

// A burst from many sources, then silence: the ended sessions leave the
// tables within a second, with no new datagram to trigger it.
func TestUDP_EndedSessionsAreReapedInSilence(t *testing.T) {
	a := testsupport.StartUDP(t)
	cfg := udpConfig(PacketMode)
	cfg.UDP.SessionTimeout, cfg.UDP.MaxSessions = 100*time.Millisecond, 1000
	l := startUDP(t, cfg, a)
	for i := range 300 {
		send(t, client(t, l), 1, []byte("x"))
		if (i+1)%50 == 0 { // in bursts the backend's default receive buffer holds
			testsupport.WaitFor(t, "the burst", func() bool { return a.Datagrams.Load() == int64(i+1) })
		}
	}
	testsupport.WaitFor(t, "the sessions to end", func() bool { return l.Stats().Sessions == 0 })
	testsupport.WaitFor(t, "the tables to empty", func() bool { return heldFlows(l) == 0 })
	must.Eq(t, 300, a.Datagrams.Load())
}

// Readers on several sockets open sessions at once: together they never
// pass max_sessions.
func TestUDP_SessionLimitHoldsAcrossReaders(t *testing.T) {
	a := testsupport.StartUDP(t)
	cfg := udpConfig(PacketMode)
	cfg.UDP.MaxSessions = 20
	l := startUDP(t, cfg, a)
	var wg sync.WaitGroup
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				if s := l.Stats().Sessions; s > peak.Load() {
					peak.Store(s)
				}
			}
		}
	}()
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c, err := net.DialUDP("udp", nil, l.Addr().(*net.UDPAddr))
				must.NoError(t, err)
				c.Write([]byte("x"))
				c.Close()
			}
		})
	}
	wg.Wait()
	testsupport.WaitFor(t, "every datagram counted", func() bool {
		s := l.Stats()
		return a.Datagrams.Load()+int64(s.Dropped["session_limit"]) == 800
	})
	close(stop)
	must.LessEq(t, 20, peak.Load())
	must.Eq(t, 20, l.Stats().Sessions)
}

// When pinlb cannot read as fast as datagrams come, the kernel drops them
// from the listening sockets' buffers; those are counted too, so every
// datagram sent is either delivered or counted.
func TestUDP_KernelDropsAreCounted(t *testing.T) {
	a := testsupport.StartUDP(t)
	l := startUDP(t, udpConfig(PacketMode), a)
	for _, r := range l.(*udpListener).readers {
		must.NoError(t, r.conn.SetReadBuffer(1)) // the kernel's minimum: a few datagrams
	}
	c := client(t, l)
	sent := int64(0)
	for range 20 {
		send(t, c, 50, make([]byte, 512))
		sent += 50
		testsupport.WaitFor(t, "the burst to be delivered or counted", func() bool {
			return a.Datagrams.Load()+int64(l.Stats().Dropped["receive_buffer"]) == sent
		})
	}
	must.Positive(t, l.Stats().Dropped["receive_buffer"])
}

// On a host without IPv6 a flow's socket is IPv4's, and an IPv6 backend
// is one it cannot address: its datagrams are dropped with a reason, on
// either send path, and nothing panics.
func TestUDP_IPv6BackendFromAnIPv4OnlySocket(t *testing.T) {
	r, client := forwardFixture(t, PacketMode)
	r.flows[client].v6 = false // as net.ListenUDP makes it on a host booted without IPv6
	r.l.SetEndpoints([]Endpoint{{Addr: netip.MustParseAddrPort("[::1]:9"), Weight: 1}})
	p := make([]byte, 64)
	r.forward(p, client)
	sendBatch(r, []netip.AddrPort{client}, p)
	must.Eq(t, uint64(1+udpBatch), r.l.Stats().Dropped["address_family"])
}
