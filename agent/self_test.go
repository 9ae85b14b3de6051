package agent

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

func TestRegisterSelf_CheckFollowsThePool(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	l := consulListener(t, "grpc", config.Upstream{})
	cfg := &config.Config{
		Consul: config.Consul{Address: srv.HTTP, StaleTTL: time.Minute},
		RegisterSelf: config.RegisterSelf{
			Enabled: true, Service: "pinlb", ID: "pinlb-1", Address: "127.0.0.1", Tags: []string{"edge"},
			TTL: 600 * time.Millisecond,
		},
		Listeners: []config.Listener{l},
	}
	ag := startConfig(t, cfg, testWriter{t})
	checkID := "pinlb:pinlb-1:grpc"
	check := func() *api.AgentCheck {
		checks, err := c.Agent().Checks()
		must.NoError(t, err)
		return checks[checkID]
	}

	// No collector yet: registered, critical, saying why.
	testsupport.WaitFor(t, "the critical check", func() bool {
		ch := check()
		return ch != nil && ch.Status == api.HealthCritical && strings.Contains(ch.Output, "no active endpoint")
	})
	svc, _, err := c.Agent().Service("pinlb-1", nil)
	must.NoError(t, err)
	must.Eq(t, []string{"edge"}, svc.Tags)
	_, port, _ := net.SplitHostPort(ag.Addrs()["grpc"].String())
	must.Eq(t, port, svc.Meta["port_grpc"])

	b := testsupport.StartTCP(t)
	collector(t, c, "a", b.Addr.Port())
	testsupport.WaitFor(t, "the check to pass", func() bool { return check().Status == api.HealthPassing })
	testsupport.WaitFor(t, "Consul to serve pinlb as healthy, as DNS would", func() bool {
		entries, _, err := c.Health().Service("pinlb", "", true, nil)
		must.NoError(t, err)
		return len(entries) == 1
	})

	// Stopping leaves Consul.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	must.NoError(t, ag.Shutdown(ctx))
	services, err := c.Agent().Services()
	must.NoError(t, err)
	must.MapNotContainsKey(t, services, "pinlb-1")
}

// A stop hands off: pinlb leaves Consul first and accepts as before for
// leave_wait, then stops accepting TCP while open connections drain, and
// its UDP listeners deliver until they have.
func TestShutdown_LeavesConsulThenDrainsTCPBeforeUDP(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	echo, sink := testsupport.StartTCP(t), testsupport.StartUDP(t)
	span := config.Listener{Name: "span", Protocol: "udp", Address: "127.0.0.1:0", Balance: config.DefaultBalance,
		UDP: config.UDP{Mode: "packet", SessionTimeout: time.Minute, MaxSessions: 10}, Upstream: config.Upstream{Servers: []string{sink.Addr.String()}}}
	ag := startConfig(t, &config.Config{
		Consul: config.Consul{Address: srv.HTTP, StaleTTL: time.Minute},
		RegisterSelf: config.RegisterSelf{Enabled: true, Service: "pinlb", ID: "pinlb-1", Address: "127.0.0.1",
			TTL: time.Second, LeaveWait: 2 * time.Second},
		Listeners: []config.Listener{tcpListener("grpc", "127.0.0.1:0", echo), span},
	}, testWriter{t})
	registered := func() bool {
		services, err := c.Agent().Services()
		must.NoError(t, err)
		_, ok := services["pinlb-1"]
		return ok
	}
	testsupport.WaitFor(t, "pinlb in Consul", registered)
	grpc, udp := ag.Addrs()["grpc"].String(), ag.Addrs()["span"].String()
	held := dial(t, ag.Addrs()["grpc"])
	roundTrip(t, held)

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stopped <- ag.Shutdown(ctx)
	}()
	testsupport.WaitFor(t, "pinlb out of Consul", func() bool { return !registered() })
	must.NoError(t, echoOnce(grpc), must.Sprint("a client that resolved pinlb a moment ago is served"))
	testsupport.WaitFor(t, "TCP to stop accepting after leave_wait", func() bool { return echoOnce(grpc) != nil })
	before := sink.Datagrams.Load()
	u, err := net.Dial("udp", udp)
	must.NoError(t, err)
	defer u.Close()
	testsupport.WaitFor(t, "UDP delivered while TCP drains", func() bool {
		u.Write([]byte("span"))
		return sink.Datagrams.Load() > before
	})
	roundTrip(t, held) // the open connection goes on
	held.Close()
	must.NoError(t, <-stopped)
}

// echoOnce connects to addr and echoes a byte.
func echoOnce(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	return err
}
