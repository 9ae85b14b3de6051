package command

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/agent"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/internal/pinpoint"
	"github.com/pinlb/pinlb/internal/sim"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// registered runs `pinlb register` for a simulated collector until stop
// or the end of the test.
type registered struct {
	id   string
	ui   *cli.MockUi
	sigs chan os.Signal
	code chan int
	once sync.Once
	exit int
}

// stop sends SIGTERM and returns the exit code.
func (r *registered) stop() int {
	r.once.Do(func() {
		r.sigs <- syscall.SIGTERM
		r.exit = <-r.code
	})
	return r.exit
}

func register(t *testing.T, srv *testsupport.Consul, c *sim.Collector) *registered {
	t.Helper()
	args := []string{"-consul-address=" + srv.HTTP, "-id=" + c.Name, "-address=127.0.0.1",
		"-check-interval=200ms", "-tag=sim", "-meta=zone=a"}
	for name, port := range c.Ports {
		args = append(args, fmt.Sprintf("-%s-port=%d", name, port))
	}
	r := &registered{id: c.Name, ui: cli.NewMockUi(), sigs: make(chan os.Signal, 1), code: make(chan int, 1)}
	go func() { r.code <- (&RegisterCommand{Ui: r.ui, signals: r.sigs}).Run(args) }()
	t.Cleanup(func() { r.stop() })
	return r
}

func startCollector(t *testing.T, name string) *sim.Collector {
	t.Helper()
	c, err := sim.StartCollector(name, "127.0.0.1")
	must.NoError(t, err)
	t.Cleanup(c.Kill)
	return c
}

// checks returns the status of each of the instance's checks, by check ID.
func checks(t *testing.T, client *api.Client, id string) map[string]string {
	t.Helper()
	out := map[string]string{}
	all, err := client.Agent().Checks()
	must.NoError(t, err)
	for cid, c := range all {
		if c.ServiceID == id {
			out[cid] = c.Status
		}
	}
	return out
}

func allPassing(m map[string]string) bool {
	for _, s := range m {
		if s != api.HealthPassing {
			return false
		}
	}
	return len(m) > 0
}

func TestRegister_InstanceChecksAndLifecycle(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	client := srv.Client()
	c := startCollector(t, "collector-1")
	r := register(t, srv, c)

	testsupport.WaitFor(t, "every check passing", func() bool { return allPassing(checks(t, client, "collector-1")) })
	svc, _, err := client.Agent().Service("collector-1", nil)
	must.NoError(t, err)
	must.Eq(t, pinpoint.Service, svc.Service)
	must.Eq(t, "127.0.0.1", svc.Address)
	must.Eq(t, c.Ports["grpc-agent"], svc.Port)                       // Port is the agent port
	want := map[string]string{"zone": "a", pinpoint.MetaVersion: "2"} // gRPC and Thrift answer: a 2.x collector
	for _, p := range append(pinpoint.Ports, pinpoint.Cluster) {
		want[p.MetaKey] = fmt.Sprint(c.Ports[p.Name])
	}
	must.Eq(t, want, svc.Meta)
	must.Eq(t, []string{"sim"}, svc.Tags)
	cs := checks(t, client, "collector-1")
	// A TCP check per TCP port (5 with the cluster port), the Thrift ping
	// and the two UDP probes.
	must.Eq(t, 8, len(cs))
	for _, id := range []string{"collector-1:probe:port_thrift_agent", "collector-1:probe:port_thrift_stat",
		"collector-1:probe:port_thrift_span", "collector-1:tcp:port_grpc_agent", "collector-1:tcp:port_cluster"} {
		must.MapContainsKey(t, cs, id)
	}

	// A silent Thrift receiver (port open, no pong) fails the ping probe
	// while Consul's TCP check still passes.
	c.SetSilent(true)
	testsupport.WaitFor(t, "the thrift ping to fail", func() bool {
		cs := checks(t, client, "collector-1")
		return cs["collector-1:probe:port_thrift_agent"] == api.HealthCritical && cs["collector-1:tcp:port_thrift_agent"] == api.HealthPassing
	})
	c.SetSilent(false)
	testsupport.WaitFor(t, "every check passing again", func() bool { return allPassing(checks(t, client, "collector-1")) })

	// Killing the UDP receivers turns the TTL probes critical: Consul's own
	// UDP check would stay passing.
	c.KillUDP()
	testsupport.WaitFor(t, "the UDP probes to fail", func() bool {
		cs := checks(t, client, "collector-1")
		return cs["collector-1:probe:port_thrift_span"] == api.HealthCritical && cs["collector-1:probe:port_thrift_stat"] == api.HealthCritical
	})
	// Killing the TCP listeners turns the TCP checks critical.
	c.KillTCP()
	testsupport.WaitFor(t, "the TCP checks to fail", func() bool {
		return checks(t, client, "collector-1")["collector-1:tcp:port_grpc_agent"] == api.HealthCritical
	})

	// SIGTERM deregisters.
	must.Eq(t, exitOK, r.stop())
	_, _, err = client.Agent().Service("collector-1", nil)
	must.Error(t, err)
	must.StrContains(t, r.ui.OutputWriter.String(), "deregistered")
}

func TestRegister_RegistersAgainWhenLost(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	client := srv.Client()
	c := startCollector(t, "collector-1")
	register(t, srv, c)
	testsupport.WaitFor(t, "registration", func() bool { return allPassing(checks(t, client, "collector-1")) })

	// The agent loses it (as a restarted -dev agent would).
	must.NoError(t, client.Agent().ServiceDeregister("collector-1"))
	testsupport.WaitFor(t, "registration again", func() bool { return allPassing(checks(t, client, "collector-1")) })
}

func TestMaint_Drains(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c1, c2 := startCollector(t, "collector-1"), startCollector(t, "collector-2")
	register(t, srv, c1)
	register(t, srv, c2)

	cfg, diags := config.Parse([]config.Source{{Name: "t.hcl", Data: []byte(fmt.Sprintf(`
consul { address = %q }
listener "grpc-agent" {
  address = %q
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_grpc_agent"
  }
}`, srv.HTTP, testsupport.FreePort(t)))}})
	must.False(t, diags.HasErrors(), must.Sprint(config.FormatDiagnostics(diags)))
	ag := agent.New(cfg, agent.Options{})
	must.NoError(t, ag.Start(context.Background()))
	defer ag.Shutdown(context.Background())
	testsupport.WaitFor(t, "both collectors in the pool", func() bool { return len(ag.Endpoints("grpc-agent")) == 2 })

	// Two instances on the local agent: maint wants to know which.
	ui := cli.NewMockUi()
	must.Eq(t, exitError, (&MaintCommand{Ui: ui}).Run([]string{"-consul-address=" + srv.HTTP, "-enable"}))
	must.StrContains(t, ui.ErrorWriter.String(), `the local agent has 2 instances of "pinpoint-collector" (collector-1, collector-2); choose one with -id`)

	ui = cli.NewMockUi()
	must.Eq(t, exitOK, (&MaintCommand{Ui: ui}).Run([]string{"-consul-address=" + srv.HTTP, "-enable", "-id=collector-1", "-reason=scale-down"}))
	must.StrContains(t, ui.OutputWriter.String(), "collector-1 is in maintenance")
	testsupport.WaitFor(t, "collector-1 draining, collector-2 alone taking traffic", func() bool {
		for _, ep := range ag.Endpoints("grpc-agent") {
			if ep.Draining != (int(ep.Addr.Port()) == c1.Ports["grpc-agent"]) {
				return false
			}
		}
		return len(ag.Endpoints("grpc-agent")) == 2
	})

	must.Eq(t, exitOK, (&MaintCommand{Ui: cli.NewMockUi()}).Run([]string{"-consul-address=" + srv.HTTP, "-disable", "-id=collector-1"}))
	testsupport.WaitFor(t, "collector-1 back in the pool", func() bool {
		for _, ep := range ag.Endpoints("grpc-agent") {
			if ep.Draining {
				return false
			}
		}
		return true
	})

	must.Eq(t, exitError, (&MaintCommand{Ui: cli.NewMockUi()}).Run([]string{"-consul-address=" + srv.HTTP}))
}

func TestRender_FollowsScaleOutAndIn(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	out := filepath.Join(t.TempDir(), "cluster.properties")
	marker := out + ".exec"
	ui := cli.NewMockUi()
	sigs := make(chan os.Signal, 1)
	code := make(chan int, 1)
	go func() {
		code <- (&RenderCommand{Ui: ui, signals: sigs}).Run([]string{
			"-consul-address=" + srv.HTTP, "-out=" + out, "-exec=echo ran >> " + marker,
		})
	}()
	defer func() {
		sigs <- syscall.SIGTERM
		must.Eq(t, exitOK, <-code)
	}()
	read := func() string { b, _ := os.ReadFile(out); return string(b) }
	testsupport.WaitFor(t, "an empty list", func() bool { return read() == "cluster.connect.address=\n" })

	c1, c2 := startCollector(t, "collector-1"), startCollector(t, "collector-2")
	register(t, srv, c1)
	r2 := register(t, srv, c2)
	want := fmt.Sprintf("cluster.connect.address=127.0.0.1:%d,127.0.0.1:%d\n", c1.Ports["cluster"], c2.Ports["cluster"])
	testsupport.WaitFor(t, "both collectors listed", func() bool { return read() == want })

	must.Eq(t, exitOK, r2.stop()) // scale in
	want = fmt.Sprintf("cluster.connect.address=127.0.0.1:%d\n", c1.Ports["cluster"])
	testsupport.WaitFor(t, "one collector listed", func() bool { return read() == want })
	runs, _ := os.ReadFile(marker)
	must.Positive(t, strings.Count(string(runs), "ran"))
}

func TestRender_OnceWithTemplate(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c1 := startCollector(t, "collector-1")
	register(t, srv, c1)
	testsupport.WaitFor(t, "a healthy instance in the catalog", func() bool {
		entries, _, err := srv.Client().Health().Service(pinpoint.Service, "", true, nil)
		return err == nil && len(entries) == 1
	})
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "t.tmpl")
	must.NoError(t, os.WriteFile(tmpl, []byte("{{range .}}{{.ID}} {{.Address}}:{{.Port}}\n{{end}}"), 0o644))
	out := filepath.Join(dir, "out")
	must.Eq(t, exitOK, (&RenderCommand{Ui: cli.NewMockUi()}).Run([]string{
		"-consul-address=" + srv.HTTP, "-out=" + out, "-template=" + tmpl, "-once",
	}))
	b, err := os.ReadFile(out)
	must.NoError(t, err)
	must.Eq(t, fmt.Sprintf("pinlb-test/collector-1 127.0.0.1:%d\n", c1.Ports["cluster"]), string(b))
}

// The -dev configuration reads the meta keys register writes.
func TestDevConfigMatchesRegisterMeta(t *testing.T) {
	cfg, diags := config.Parse([]config.Source{config.Dev()})
	must.False(t, diags.HasErrors())
	byName := map[string]config.Listener{}
	for _, l := range cfg.Listeners {
		byName[l.Name] = l
	}
	for _, p := range pinpoint.Ports {
		l, ok := byName[p.Name]
		must.True(t, ok, must.Sprint(p.Name))
		must.Eq(t, p.MetaKey, l.Upstream.PortMeta)
		must.Eq(t, p.Protocol, l.Protocol)
		must.Eq(t, fmt.Sprintf("127.0.0.1:%d", p.Default), l.Address)
	}
}

// -collector-config registers the ports the collector's own configuration
// opens (here a 2.3.1+ collector without Thrift stat or a cluster port), a
// port flag given as well wins, and the cluster port is left out by
// default.
func TestRegister_PortsFromTheCollectorConfig(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	client := srv.Client()
	dir := "../internal/pinpoint/testdata/v2.5/"
	r := &registered{id: "c-conf", ui: cli.NewMockUi(), sigs: make(chan os.Signal, 1), code: make(chan int, 1)}
	args := []string{"-consul-address=" + srv.HTTP, "-id=c-conf", "-address=127.0.0.1", "-check-interval=1s",
		"-collector-config=" + dir + "pinpoint-collector-root.properties",
		"-collector-config=" + dir + "pinpoint-collector-grpc-root.properties",
		"-grpc-span-port=19993"}
	go func() { r.code <- (&RegisterCommand{Ui: r.ui, signals: r.sigs}).Run(args) }()
	t.Cleanup(func() { r.stop() })

	var svc *api.AgentService
	testsupport.WaitFor(t, "the instance registered", func() bool {
		svc, _, _ = client.Agent().Service("c-conf", nil)
		return svc != nil
	})
	must.Eq(t, map[string]string{
		"port_grpc_agent": "9991", "port_grpc_stat": "9992", "port_grpc_span": "19993",
		"port_thrift_agent": "9994", "port_thrift_span": "9996",
		pinpoint.MetaVersion: "2", // its Thrift receiver says so
	}, svc.Meta)
	must.StrContains(t, r.ui.OutputWriter.String(), "from=\"the collector's configuration")
	must.Eq(t, exitOK, r.stop())

	ui := cli.NewMockUi()
	code := (&RegisterCommand{Ui: ui}).Run([]string{"-collector-config=" + dir + "none.properties"})
	must.Eq(t, exitError, code)
	must.StrContains(t, ui.ErrorWriter.String(), "collector configuration ../internal/pinpoint/testdata/v2.5/none.properties")
}

// render lists a collector only when its general checks and its cluster
// port's pass and it is not in maintenance.
func TestRender_ListsOnlyHealthyCollectors(t *testing.T) {
	meta := func(port string) map[string]string { return map[string]string{pinpoint.Cluster.MetaKey: port} }
	s := discovery.Snapshot{Instances: []discovery.Instance{
		{ID: "n/ok", Address: "10.0.0.1", Weight: 1, Health: discovery.Passing, Meta: meta("9997")},
		{ID: "n/maint", Address: "10.0.0.2", Weight: 1, Health: discovery.Maintenance, Meta: meta("9997")},
		{ID: "n/cluster-port-down", Address: "10.0.0.3", Weight: 1, Health: discovery.Passing, Meta: meta("9997"),
			PortHealth: map[string]string{pinpoint.Cluster.MetaKey: discovery.Critical}},
		{ID: "n/span-port-down", Address: "10.0.0.4", Weight: 1, Health: discovery.Passing, Meta: meta("9997"),
			PortHealth: map[string]string{"port_grpc_span": discovery.Critical}},
		{ID: "n/critical", Address: "10.0.0.5", Weight: 0, Health: discovery.Critical, Meta: meta("9997")},
	}}
	out := filepath.Join(t.TempDir(), "cluster.properties")
	tmpl := template.Must(template.New("t").Parse(defaultTemplate))
	must.NoError(t, render(s, pinpoint.Cluster.MetaKey, tmpl, out, "", hclog.NewNullLogger()))
	b, err := os.ReadFile(out)
	must.NoError(t, err)
	must.Eq(t, "cluster.connect.address=10.0.0.1:9997,10.0.0.4:9997\n", string(b))
}

// -once gives up, non-zero, when Consul never answers.
func TestRender_OnceGivesUpWithoutConsul(t *testing.T) {
	defer func(d time.Duration) { renderOnceWait = d }(renderOnceWait)
	renderOnceWait = 500 * time.Millisecond
	ui := cli.NewMockUi()
	out := filepath.Join(t.TempDir(), "out")
	must.Eq(t, exitError, (&RenderCommand{Ui: ui}).Run([]string{"-consul-address=" + testsupport.FreePort(t), "-out=" + out, "-once"}))
	must.StrContains(t, ui.ErrorWriter.String(), "consul gave no answer within 500ms")
	_, err := os.Stat(out)
	must.True(t, os.IsNotExist(err))
}
