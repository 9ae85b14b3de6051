package agent

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// states returns the listener's endpoints by service ID: state and reasons.
func states(t *testing.T, ag *Agent, name string) map[string]EndpointStatus {
	t.Helper()
	ls, ok := ag.Listener(name)
	must.True(t, ok)
	out := map[string]EndpointStatus{}
	for _, e := range ls.Endpoints {
		out[e.ServiceID] = e
	}
	return out
}

func TestStatus_EveryEndpointSaysWhy(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	ok, crit, maint := testsupport.StartTCP(t), testsupport.StartTCP(t), testsupport.StartTCP(t)
	collector(t, c, "ok", ok.Addr.Port())
	collector(t, c, "crit", crit.Addr.Port())
	collector(t, c, "maint", maint.Addr.Port())
	dead := deadCollector(t, c, "dead")
	must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "nometa", Name: "collector", Address: "127.0.0.1", Port: 1,
	}))
	l := consulListener(t, "grpc", config.Upstream{PortMeta: "port_span"})
	l.MaxFails, l.FailTimeout, l.SlowStart = 1, time.Hour, time.Hour
	ag := startWithConsul(t, srv, "", l)
	waitEndpoints(t, ag, "grpc", ok.Addr.Port(), crit.Addr.Port(), maint.Addr.Port(), dead.Port())

	// Connections on every live collector; one stays open on maint, to drain.
	var onMaint net.Conn
	testsupport.WaitFor(t, "a connection on every collector", func() bool {
		c := dial(t, ag.Addrs()["grpc"])
		roundTrip(t, c)
		if onMaint == nil && maint.Accepted.Load() == 1 {
			onMaint = c
		} else {
			c.Close()
		}
		return onMaint != nil && ok.Accepted.Load() > 0 && crit.Accepted.Load() > 0 && ag.Stats()["grpc"].PassiveOut == 1
	})
	setCheck(t, c, "crit", api.HealthCritical)
	must.NoError(t, c.Agent().EnableServiceMaintenance("maint", "scale-in"))
	waitEndpoints(t, ag, "grpc", ok.Addr.Port(), dead.Port())
	testsupport.WaitFor(t, "only the maint connection to stay open", func() bool { return ag.Stats()["grpc"].Active == 1 })

	st := states(t, ag, "grpc")
	want := map[string]struct {
		state   string
		reasons []string
	}{
		"ok":     {"active", []string{}},
		"crit":   {"out", []string{"consul:critical"}},
		"maint":  {"draining", []string{"consul:maintenance"}},
		"dead":   {"out", []string{"passive:1 failures"}},
		"nometa": {"out", []string{"no port in meta port_span"}},
	}
	must.Eq(t, len(want), len(st))
	for id, w := range want {
		must.Eq(t, w.state, st[id].State, must.Sprintf("%s: %+v", id, st[id]))
		must.Eq(t, w.reasons, st[id].Reasons, must.Sprintf("%s: %+v", id, st[id]))
		must.Eq(t, "pinlb-test", st[id].Node)
	}
	must.Eq(t, 1, st["maint"].Active)
	must.NotNil(t, st["dead"].Until)
	must.Positive(t, st["ok"].BytesIn)
	ls, _ := ag.Listener("grpc")
	must.Eq(t, PoolCounts{Active: 1, Draining: 1, Out: 3}, ls.Pool)

	s := ag.Status()
	must.True(t, s.Consul.Used)
	must.True(t, s.Consul.Reachable)
	must.Eq(t, 1, len(s.Consul.Watches))
	must.Eq(t, 5, s.Consul.Watches[0].Instances)
}
