package agent

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// collector registers an instance of "collector" for a backend port, with a
// TTL check set passing, and meta port_span = the same port.
func collector(t *testing.T, c *api.Client, id string, port uint16, tags ...string) {
	t.Helper()
	must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: "collector", Address: "127.0.0.1", Port: int(port), Tags: tags,
		Meta:  map[string]string{"port_span": fmt.Sprint(port)},
		Check: &api.AgentServiceCheck{CheckID: "check:" + id, TTL: "10m", Status: api.HealthPassing},
	}))
}

func setCheck(t *testing.T, c *api.Client, id, status string) {
	t.Helper()
	must.NoError(t, c.Agent().UpdateTTL("check:"+id, "", status))
}

func consulListener(t *testing.T, name string, up config.Upstream) config.Listener {
	up.Service = "collector"
	return config.Listener{
		Name: name, Protocol: "tcp", Address: testsupport.FreePort(t), Balance: config.DefaultBalance,
		ConnectTimeout: time.Second, IdleTimeout: time.Minute, Upstream: up,
	}
}

// startWithConsul runs an agent whose listeners forward to srv's services.
func startWithConsul(t *testing.T, srv *testsupport.Consul, token string, ls ...config.Listener) *Agent {
	t.Helper()
	return startWithConsulLog(t, srv, token, testWriter{t}, ls...)
}

func startWithConsulLog(t *testing.T, srv *testsupport.Consul, token string, log io.Writer, ls ...config.Listener) *Agent {
	t.Helper()
	return startConfig(t, &config.Config{
		Consul:    config.Consul{Address: srv.HTTP, Token: token, StaleTTL: time.Minute},
		Listeners: ls,
	}, log)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitEndpoints waits until the listener sends new traffic to exactly these
// ports, in any order (draining endpoints aside).
func waitEndpoints(t *testing.T, a *Agent, name string, ports ...uint16) {
	t.Helper()
	want := slices.Sorted(slices.Values(ports))
	testsupport.WaitFor(t, fmt.Sprintf("%s to forward to %v", name, ports), func() bool {
		var got []uint16
		for _, ep := range a.Endpoints(name) {
			if !ep.Draining {
				got = append(got, ep.Addr.Port())
			}
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	})
}

func TestConsul_TrafficFollowsHealth(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	ag := startWithConsul(t, srv, "", consulListener(t, "grpc", config.Upstream{}))
	addr := ag.Addrs()["grpc"]
	waitEndpoints(t, ag, "grpc") // Consul answered: nothing registered

	// Register: traffic arrives.
	collector(t, c, "a", a.Addr.Port())
	waitEndpoints(t, ag, "grpc", a.Addr.Port())
	onA := dial(t, addr)
	roundTrip(t, onA)
	must.Eq(t, 1, a.Accepted.Load())

	collector(t, c, "b", b.Addr.Port())
	waitEndpoints(t, ag, "grpc", a.Addr.Port(), b.Addr.Port())

	// Critical: no new connections; the open one keeps flowing.
	setCheck(t, c, "a", api.HealthCritical)
	waitEndpoints(t, ag, "grpc", b.Addr.Port())
	for range 4 {
		roundTrip(t, dial(t, addr))
	}
	must.Eq(t, 1, a.Accepted.Load())
	must.Eq(t, 4, b.Accepted.Load())
	roundTrip(t, onA)

	// Deregister: out.
	setCheck(t, c, "a", api.HealthPassing)
	waitEndpoints(t, ag, "grpc", a.Addr.Port(), b.Addr.Port())
	must.NoError(t, c.Agent().ServiceDeregister("b"))
	waitEndpoints(t, ag, "grpc", a.Addr.Port())
	for range 2 {
		roundTrip(t, dial(t, addr))
	}
	must.Eq(t, 4, b.Accepted.Load())

	// A real scale to zero empties the pool.
	must.NoError(t, c.Agent().ServiceDeregister("a"))
	waitEndpoints(t, ag, "grpc")
}

func TestConsul_MaintenanceDrains(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	l := consulListener(t, "grpc", config.Upstream{})
	l.DrainTimeout = 300 * time.Millisecond
	collector(t, c, "a", a.Addr.Port())
	ag := startWithConsul(t, srv, "", l)
	waitEndpoints(t, ag, "grpc", a.Addr.Port())
	onA := dial(t, ag.Addrs()["grpc"])
	roundTrip(t, onA)
	collector(t, c, "b", b.Addr.Port())
	waitEndpoints(t, ag, "grpc", a.Addr.Port(), b.Addr.Port())

	must.NoError(t, c.Agent().EnableServiceMaintenance("a", "scale-down"))
	waitEndpoints(t, ag, "grpc", b.Addr.Port())
	roundTrip(t, onA) // draining, still open
	onA.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(onA) // closed at the drain timeout
	must.NoError(t, err)
	testsupport.WaitFor(t, "the drain to be counted", func() bool { return ag.Stats()["grpc"].DrainClosed == 1 })
	roundTrip(t, dial(t, ag.Addrs()["grpc"]))
	must.Eq(t, 1, b.Accepted.Load())
}

func TestConsul_PortSelectionFilterAndWarning(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	collector(t, c, "a", a.Addr.Port(), "blue")
	collector(t, c, "b", b.Addr.Port(), "green")
	// An instance without the meta key: left out by port_meta listeners.
	must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "nometa", Name: "collector", Address: "127.0.0.1", Port: 1,
	}))

	ag := startWithConsul(t, srv, "",
		consulListener(t, "by-meta", config.Upstream{PortMeta: "port_span"}),
		consulListener(t, "pinned", config.Upstream{Port: 4242}),
		consulListener(t, "service-port", config.Upstream{Filter: `"blue" in Service.Tags`}),
		consulListener(t, "warning", config.Upstream{IncludeWarning: true, PortMeta: "port_span"}),
	)
	waitEndpoints(t, ag, "by-meta", a.Addr.Port(), b.Addr.Port())
	waitEndpoints(t, ag, "pinned", 4242, 4242, 4242)
	waitEndpoints(t, ag, "service-port", a.Addr.Port())

	setCheck(t, c, "b", api.HealthWarning)
	waitEndpoints(t, ag, "by-meta", a.Addr.Port())
	waitEndpoints(t, ag, "warning", a.Addr.Port(), b.Addr.Port())
	roundTrip(t, dial(t, ag.Addrs()["warning"])) // the warning one still serves
	roundTrip(t, dial(t, ag.Addrs()["warning"]))
	must.Eq(t, 1, b.Accepted.Load())
}

func TestConsul_TokenWithoutRightsKeepsThePool(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{ACL: true})
	admin := srv.Client()
	a := testsupport.StartTCP(t)
	collector(t, admin, "a", a.Addr.Port())
	policy, _, err := admin.ACL().PolicyCreate(&api.ACLPolicy{
		Name:  "read",
		Rules: `service "collector" { policy = "read" } node_prefix "" { policy = "read" }`,
	}, nil)
	must.NoError(t, err)
	token, _, err := admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
	must.NoError(t, err)

	var log testsupport.LogBuffer
	ag := startWithConsulLog(t, srv, token.SecretID, io.MultiWriter(&log, testWriter{t}), consulListener(t, "grpc", config.Upstream{}))
	waitEndpoints(t, ag, "grpc", a.Addr.Port())

	token.Policies = nil // the token loses its rights
	_, _, err = admin.ACL().TokenUpdate(token, nil)
	must.NoError(t, err)
	collector(t, admin, "b", 9) // a change wakes the watch: its answer is filtered
	testsupport.WaitFor(t, "the filtered answer to be seen", func() bool {
		ag.mu.Lock()
		defer ag.mu.Unlock()
		for _, f := range ag.feeds {
			return f.src.Status().ACLFiltered
		}
		return false
	})
	waitEndpoints(t, ag, "grpc", a.Addr.Port()) // kept
	roundTrip(t, dial(t, ag.Addrs()["grpc"]))
	must.StrContains(t, log.String(), "consul token cannot read every instance")
	must.StrNotContains(t, log.String(), token.SecretID) // tokens never reach the logs
}

func TestConsul_UDPFollowsPool(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	u1, u2 := testsupport.StartUDP(t), testsupport.StartUDP(t)
	l := consulListener(t, "span", config.Upstream{PortMeta: "port_span"})
	l.Protocol, l.Address = "udp", testsupport.FreePort(t)
	l.UDP = config.UDP{Mode: "session", SessionTimeout: time.Minute, MaxSessions: 10}
	collector(t, c, "u1", u1.Addr.Port())
	ag := startWithConsul(t, srv, "", l)
	waitEndpoints(t, ag, "span", u1.Addr.Port())

	conn, err := net.Dial("udp", ag.Addrs()["span"].String())
	must.NoError(t, err)
	defer conn.Close()
	send := func() {
		_, err := conn.Write([]byte("span"))
		must.NoError(t, err)
	}
	send()
	testsupport.WaitFor(t, "datagram at u1", func() bool { return u1.Datagrams.Load() == 1 })

	// The session's backend leaves: its next datagram re-elects.
	collector(t, c, "u2", u2.Addr.Port())
	must.NoError(t, c.Agent().ServiceDeregister("u1"))
	waitEndpoints(t, ag, "span", u2.Addr.Port())
	send()
	testsupport.WaitFor(t, "datagram at u2", func() bool { return u2.Datagrams.Load() == 1 })
	must.Eq(t, 1, u1.Datagrams.Load())
}

// A Consul weight reaches the proxy: weighted round robin gives a
// collector of weight 3 three connections for each that one of weight 1
// gets.
func TestConsul_WeightsReachTheProxy(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	heavy, light := testsupport.StartTCP(t), testsupport.StartTCP(t)
	for id, b := range map[string]*testsupport.TCP{"heavy": heavy, "light": light} {
		weight := map[string]int{"heavy": 3, "light": 1}[id]
		must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: id, Name: "collector", Address: "127.0.0.1", Port: int(b.Addr.Port()),
			Weights: &api.AgentWeights{Passing: weight, Warning: 1},
			Check:   &api.AgentServiceCheck{CheckID: "check:" + id, TTL: "10m", Status: api.HealthPassing},
		}))
	}
	ag := startWithConsul(t, srv, "", consulListener(t, "grpc", config.Upstream{}))
	waitEndpoints(t, ag, "grpc", heavy.Addr.Port(), light.Addr.Port())
	for range 40 {
		conn := dial(t, ag.Addrs()["grpc"])
		roundTrip(t, conn)
		conn.Close()
	}
	must.Eq(t, 30, heavy.Accepted.Load())
	must.Eq(t, 10, light.Accepted.Load())
}
