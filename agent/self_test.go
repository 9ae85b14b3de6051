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
