package agent

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// The end-to-end side of balancing.md: each rule over real Consul and real
// loopback sockets.

// deadCollector registers a passing instance whose port nobody listens on,
// and returns its address.
func deadCollector(t *testing.T, c *api.Client, id string) netip.AddrPort {
	t.Helper()
	addr := netip.MustParseAddrPort(testsupport.FreePort(t))
	collector(t, c, id, addr.Port())
	return addr
}

func echoAt(t *testing.T, addr netip.AddrPort) *testsupport.TCP {
	return testsupport.StartTCPFunc(t, addr.String(), func(c *net.TCPConn) {
		io.Copy(c, c)
		c.CloseWrite()
	})
}

// closedByProxy reports whether the proxy closed c without a byte.
func closedByProxy(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	must.Eq(t, 0, n)
	must.ErrorIs(t, err, io.EOF)
}

func TestConsul_PassiveFailureOutAndBack(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a := testsupport.StartTCP(t)
	collector(t, c, "a", a.Addr.Port())
	dead := deadCollector(t, c, "b")
	l := consulListener(t, "grpc", config.Upstream{})
	l.MaxFails, l.FailTimeout = 1, 2*time.Second
	ag := startWithConsul(t, srv, "", l)
	addr := ag.Addrs()["grpc"]
	waitEndpoints(t, ag, "grpc", a.Addr.Port(), dead.Port())

	// Connections until one lands on b: its connect fails, the client is
	// retried on a, and b is out.
	first := time.Now()
	testsupport.WaitFor(t, "a connect to b to fail", func() bool {
		roundTrip(t, dial(t, addr))
		return ag.Stats()["grpc"].ConnectFailures > 0
	})
	must.Eq(t, 1, ag.Stats()["grpc"].PassiveOut)

	// b listens again, and Consul has said passing all along; b stays out
	// until fail_timeout has passed since it was taken out.
	b := echoAt(t, dead)
	testsupport.WaitFor(t, "b to be back", func() bool {
		roundTrip(t, dial(t, addr))
		return b.Accepted.Load() > 0
	})
	must.GreaterEq(t, l.FailTimeout, time.Since(first))
	st := ag.Stats()["grpc"]
	must.Eq(t, 1, st.ConnectFailures) // out: never tried while out
	must.Eq(t, 0, st.NoBackend)
	checks, _, err := c.Health().Checks("collector", nil)
	must.NoError(t, err)
	must.Eq(t, api.HealthPassing, checks.AggregatedStatus())
}

func TestConsul_RetryOnNextEndpoint(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a := testsupport.StartTCP(t)
	collector(t, c, "a", a.Addr.Port())
	dead := deadCollector(t, c, "b")
	retry := consulListener(t, "retry", config.Upstream{}) // tries = 0: each endpoint once
	once := consulListener(t, "once", config.Upstream{})
	once.Tries = 1
	ag := startWithConsul(t, srv, "", retry, once) // max_fails = 0: b is never taken out
	waitEndpoints(t, ag, "retry", a.Addr.Port(), dead.Port())
	waitEndpoints(t, ag, "once", a.Addr.Port(), dead.Port())

	const conns = 20
	for range conns {
		roundTrip(t, dial(t, ag.Addrs()["retry"]))
	}
	st := ag.Stats()["retry"]
	must.Positive(t, st.ConnectFailures) // round robin sent some to b...
	must.Eq(t, 0, st.NoBackend)          // ...and every one was retried on a
	must.Eq(t, conns, a.Accepted.Load())

	// With one try, a client whose pick is b is closed.
	for range conns {
		c := dial(t, ag.Addrs()["once"])
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadFull(c, make([]byte, 1))
	}
	st = ag.Stats()["once"]
	must.Positive(t, st.NoBackend)
	must.Eq(t, st.ConnectFailures, st.NoBackend)
}

func TestConsul_MaxConns(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	collector(t, c, "a", a.Addr.Port())
	collector(t, c, "b", b.Addr.Port())
	l := consulListener(t, "grpc", config.Upstream{})
	l.MaxConns = 1
	ag := startWithConsul(t, srv, "", l)
	addr := ag.Addrs()["grpc"]
	waitEndpoints(t, ag, "grpc", a.Addr.Port(), b.Addr.Port())

	first, second := dial(t, addr), dial(t, addr)
	roundTrip(t, first)
	roundTrip(t, second)
	must.Eq(t, 1, a.Accepted.Load()) // one each, whatever the rotation
	must.Eq(t, 1, b.Accepted.Load())

	closedByProxy(t, dial(t, addr)) // both full
	must.Eq(t, 1, ag.Stats()["grpc"].NoBackend)

	first.Close()
	testsupport.WaitFor(t, "a slot to free", func() bool { return ag.Stats()["grpc"].Active == 1 })
	roundTrip(t, dial(t, addr))
	must.Eq(t, 3, a.Accepted.Load()+b.Accepted.Load())
}

func TestConsul_SlowStart(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	collector(t, c, "a", a.Addr.Port())
	l := consulListener(t, "grpc", config.Upstream{})
	l.SlowStart = 2 * time.Second
	ag := startWithConsul(t, srv, "", l)
	addr := ag.Addrs()["grpc"]
	waitEndpoints(t, ag, "grpc", a.Addr.Port())

	collector(t, c, "b", b.Addr.Port())
	waitEndpoints(t, ag, "grpc", a.Addr.Port(), b.Addr.Port())
	joined := time.Now()
	// share sends n connections and returns the fraction that went to b.
	share := func(n int) float64 {
		before := b.Accepted.Load()
		for range n {
			c := dial(t, addr)
			roundTrip(t, c)
			c.Close()
		}
		return float64(b.Accepted.Load()-before) / float64(n)
	}
	early := share(40)
	t.Logf("b's share in its first %v: %.0f%%", time.Since(joined).Round(time.Millisecond), 100*early)
	must.Less(t, 0.25, early) // round robin alone would give it half

	// At full weight round robin gives b exactly half; 45 of 100 at half the
	// ramp (an expected 25) is out of reach.
	testsupport.WaitFor(t, "b to reach its full share", func() bool { return share(100) >= 0.45 })
	t.Logf("full share after %v", time.Since(joined).Round(time.Millisecond))
	must.GreaterEq(t, l.SlowStart/2, time.Since(joined))
}

func TestConsul_BackupOnlyWhenNoPrimary(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	t.Run("backup_tag", func(t *testing.T) {
		a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
		collector(t, c, "a", a.Addr.Port())
		collector(t, c, "b", b.Addr.Port(), "backup")
		backupOnlyWhenNoPrimary(t, srv, c, config.Upstream{BackupTag: "backup"}, a, b)
	})
	t.Run("backup_meta", func(t *testing.T) {
		a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
		collector(t, c, "a", a.Addr.Port())
		must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: "b", Name: "collector", Address: "127.0.0.1", Port: int(b.Addr.Port()),
			Meta:  map[string]string{"role": "backup"},
			Check: &api.AgentServiceCheck{CheckID: "check:b", TTL: "10m", Status: api.HealthPassing},
		}))
		backupOnlyWhenNoPrimary(t, srv, c, config.Upstream{BackupMeta: "role=backup"}, a, b)
	})
}

// backupOnlyWhenNoPrimary checks that collector b, marked backup by up,
// takes traffic only while collector a is critical.
func backupOnlyWhenNoPrimary(t *testing.T, srv *testsupport.Consul, c *api.Client, up config.Upstream, a, b *testsupport.TCP) {
	ag := startWithConsul(t, srv, "", consulListener(t, "grpc", up))
	addr := ag.Addrs()["grpc"]
	waitEndpoints(t, ag, "grpc", a.Addr.Port(), b.Addr.Port())

	for range 4 {
		roundTrip(t, dial(t, addr))
	}
	must.Eq(t, 4, a.Accepted.Load())
	must.Eq(t, 0, b.Accepted.Load())

	setCheck(t, c, "a", api.HealthCritical)
	waitEndpoints(t, ag, "grpc", b.Addr.Port())
	for range 4 {
		roundTrip(t, dial(t, addr))
	}
	must.Eq(t, 4, b.Accepted.Load())

	setCheck(t, c, "a", api.HealthPassing)
	waitEndpoints(t, ag, "grpc", a.Addr.Port(), b.Addr.Port())
	for range 4 {
		roundTrip(t, dial(t, addr))
	}
	must.Eq(t, 8, a.Accepted.Load())
	must.Eq(t, 4, b.Accepted.Load())
}

func TestConsul_CriticalDrainsOrCloses(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	collector(t, c, "a", a.Addr.Port())
	drain := consulListener(t, "drain", config.Upstream{}) // on_unhealthy = drain, no drain_timeout
	drain.OnUnhealthy = config.DefaultOnUnhealthy
	closing := consulListener(t, "close", config.Upstream{})
	closing.OnUnhealthy = "close"
	ag := startWithConsul(t, srv, "", drain, closing)
	waitEndpoints(t, ag, "drain", a.Addr.Port())
	waitEndpoints(t, ag, "close", a.Addr.Port())
	drained, closed := dial(t, ag.Addrs()["drain"]), dial(t, ag.Addrs()["close"])
	roundTrip(t, drained)
	roundTrip(t, closed)
	collector(t, c, "b", b.Addr.Port())

	setCheck(t, c, "a", api.HealthCritical)
	waitEndpoints(t, ag, "drain", b.Addr.Port())
	waitEndpoints(t, ag, "close", b.Addr.Port())
	closedByProxy(t, closed)
	// Counted when its handler ends, which may be just after the client
	// sees the close.
	testsupport.WaitFor(t, "unhealthy_closed", func() bool { return ag.Stats()["close"].UnhealthyClosed == 1 })
	roundTrip(t, drained) // still flowing to a
	must.Eq(t, 0, ag.Stats()["drain"].UnhealthyClosed)
	roundTrip(t, dial(t, ag.Addrs()["close"])) // new ones go to b
	must.Eq(t, 1, b.Accepted.Load())
}

// Per-port gating, over real Consul: a collector whose span check is
// critical and whose agent check passes leaves the span pool and stays in
// the agent pool; its span check passing again brings it back.
func TestConsul_PortChecksGateTheirPoolOnly(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	agentPort, spanPort := testsupport.StartTCP(t), testsupport.StartTCP(t)
	must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "c1", Name: "collector", Address: "127.0.0.1", Port: int(agentPort.Addr.Port()),
		Meta: map[string]string{
			"port_grpc_agent": fmt.Sprint(agentPort.Addr.Port()),
			"port_grpc_span":  fmt.Sprint(spanPort.Addr.Port()),
		},
		Checks: api.AgentServiceChecks{ // as `pinlb register` names them
			{CheckID: "c1:tcp:port_grpc_agent", TTL: "10m", Status: api.HealthPassing},
			{CheckID: "c1:tcp:port_grpc_span", TTL: "10m", Status: api.HealthCritical},
		},
	}))
	ag := startWithConsul(t, srv, "",
		consulListener(t, "grpc-agent", config.Upstream{PortMeta: "port_grpc_agent"}),
		consulListener(t, "grpc-span", config.Upstream{PortMeta: "port_grpc_span"}))
	waitEndpoints(t, ag, "grpc-agent", agentPort.Addr.Port())
	waitEndpoints(t, ag, "grpc-span")
	roundTrip(t, dial(t, ag.Addrs()["grpc-agent"]))
	must.Eq(t, 1, agentPort.Accepted.Load())
	ls, _ := ag.Listener("grpc-span")
	must.SliceLen(t, 1, ls.Endpoints)
	must.Eq(t, []string{"consul:critical"}, ls.Endpoints[0].Reasons)

	must.NoError(t, c.Agent().UpdateTTL("c1:tcp:port_grpc_span", "", api.HealthPassing))
	waitEndpoints(t, ag, "grpc-span", spanPort.Addr.Port())
	roundTrip(t, dial(t, ag.Addrs()["grpc-span"]))
	must.Eq(t, 1, spanPort.Accepted.Load())
	waitEndpoints(t, ag, "grpc-agent", agentPort.Addr.Port())
}
