package command

import (
	"flag"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/hashicorp/cli"
	"github.com/pinlb/pinlb/internal/pinpoint"
	"github.com/pinlb/pinlb/internal/sim"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// generations are Pinpoint's lines by the ports their collectors open:
// 1.x Thrift and UDP, 2.x gRPC and Thrift, 3.0 and 3.1 gRPC only.
var generations = []struct {
	name  string
	ports []pinpoint.Port
	major string
}{
	{"1.x", pinpoint.ThriftPorts(), "1"},
	{"2.x", pinpoint.Ports, "2"},
	{"3.0", pinpoint.GRPCPorts(), "3"},
	{"3.1", pinpoint.GRPCPorts(), "3"},
}

// unusedPort is a loopback port where nothing listens.
func unusedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// registerDefaults runs `pinlb register` as an operator who says nothing
// of the collector's generation: every port flag says where the port would
// be (the stand-in's, or a closed one), none whether it is open.
func registerDefaults(t *testing.T, srv *testsupport.Consul, c *sim.Collector) *registered {
	args := []string{"-consul-address=" + srv.HTTP, "-id=" + c.Name, "-address=127.0.0.1", "-check-interval=200ms"}
	for _, p := range pinpoint.Ports {
		port, ok := c.Ports[p.Name]
		if !ok {
			port = unusedPort(t)
		}
		args = append(args, fmt.Sprintf("-%s-port=%d", p.Name, port))
	}
	r := &registered{id: c.Name, ui: cli.NewMockUi(), sigs: make(chan os.Signal, 1), code: make(chan int, 1)}
	go func() { r.code <- (&RegisterCommand{Ui: r.ui, signals: r.sigs}).Run(args) }()
	t.Cleanup(func() { r.stop() })
	return r
}

// A collector of each generation, registered without a word of its
// version, registers the ports it opens and no other, with every check
// passing, and its generation in its meta; pinlb agent -dev in front of two
// of them logs no warning, at their arrival or after.
func TestRegister_EveryGeneration(t *testing.T) {
	if !testsupport.Isolate(t) { // -dev listens on Pinpoint's own ports
		return
	}
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	client := srv.Client()
	t.Setenv("CONSUL_HTTP_ADDR", srv.HTTP)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			a := runAgent(t, "-dev")
			for i := range 2 {
				c, err := sim.StartCollectorOn(fmt.Sprintf("%s-%d", g.name, i), "127.0.0.1", g.ports)
				must.NoError(t, err)
				t.Cleanup(c.Kill)
				r := registerDefaults(t, srv, c)
				testsupport.WaitFor(t, "every check passing", func() bool { return allPassing(checks(t, client, c.Name)) })
				svc, _, err := client.Agent().Service(c.Name, nil)
				must.NoError(t, err)
				want := map[string]string{pinpoint.MetaVersion: g.major}
				for _, p := range g.ports {
					want[p.MetaKey] = fmt.Sprint(c.Ports[p.Name])
				}
				must.Eq(t, want, svc.Meta)
				if len(g.ports) < len(pinpoint.Ports) {
					must.StrContains(t, r.ui.OutputWriter.String(), "port flag left out: the collector's generation has no such port")
				}
			}
			testsupport.WaitFor(t, "each of the generation's pools to hold both", func() bool {
				for _, p := range g.ports {
					if len(a.agent.Endpoints(p.Name)) != 2 {
						return false
					}
				}
				return true
			})
			must.StrNotContains(t, a.ui.OutputWriter.String(), "[WARN]")
			a.sigs <- syscall.SIGTERM
			must.Eq(t, exitOK, a.exit(t))
		})
	}
}

// A 2.x operator who passes only the gRPC file (which names no Thrift
// receiver) still gets the Thrift ports: the file cannot tell 2.x from 3.x,
// so the collector's ports do.
func TestRegister_GRPCFileAloneOfA2xCollector(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c, err := sim.StartCollectorOn("c-2x", "127.0.0.1", pinpoint.Ports)
	must.NoError(t, err)
	t.Cleanup(c.Kill)
	args := []string{"-consul-address=" + srv.HTTP, "-id=c-2x", "-address=127.0.0.1", "-check-interval=200ms",
		"-collector-config=../internal/pinpoint/testdata/v2.5/pinpoint-collector-grpc-root.properties"}
	for _, p := range pinpoint.Ports { // where the stand-in listens, as the file would say on a real host
		args = append(args, fmt.Sprintf("-%s-port=%d", p.Name, c.Ports[p.Name]))
	}
	r := &registered{id: "c-2x", ui: cli.NewMockUi(), sigs: make(chan os.Signal, 1), code: make(chan int, 1)}
	go func() { r.code <- (&RegisterCommand{Ui: r.ui, signals: r.sigs}).Run(args) }()
	t.Cleanup(func() { r.stop() })
	client := srv.Client()
	testsupport.WaitFor(t, "every check passing", func() bool { return allPassing(checks(t, client, "c-2x")) })
	svc, _, err := client.Agent().Service("c-2x", nil)
	must.NoError(t, err)
	must.MapContainsKeys(t, svc.Meta, []string{"port_thrift_agent", "port_thrift_stat", "port_thrift_span", "port_grpc_span"})
	must.Eq(t, "2", svc.Meta[pinpoint.MetaVersion])
}

// What the operator says of the version must agree with the rest, or
// register refuses before it registers anything.
func TestRegister_VersionDisagreements(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not a version", []string{"-pinpoint=four"}, `-pinpoint: "four" is not a Pinpoint version`},
		{"a Thrift port on 3.x", []string{"-pinpoint=3.0.2", "-thrift-agent-port=9994"},
			"-thrift-agent-port=9994 says the collector opens it, but a Pinpoint 3.0.2 collector has no thrift-agent port"},
		{"a 1.x configuration said to be 3.x", []string{"-pinpoint=3", "-collector-config=../internal/pinpoint/testdata/v1/pinpoint-collector.properties"},
			"-pinpoint=3 disagrees with the collector's configuration, which is a 1.x collector's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ui := cli.NewMockUi()
			must.Eq(t, exitError, (&RegisterCommand{Ui: ui}).Run(append(tc.args, "-address=127.0.0.1")))
			must.StrContains(t, ui.ErrorWriter.String(), tc.want)
		})
	}
}

// The plan behind it: a 2.x operator's gRPC file names no Thrift
// receiver, so the Thrift ports keep Pinpoint's defaults for a 2.x
// collector and have none on 3.x; and the gRPC ones are the file's.
func TestPortPlan_GRPCFileAlone(t *testing.T) {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	flags := map[string]*int{}
	for _, p := range append(pinpoint.Ports, pinpoint.Cluster) {
		flags[p.Name] = fs.Int(p.Name+"-port", portDefault(p), "")
	}
	must.NoError(t, fs.Parse(nil))
	plan, stated, err := planPorts(fs, flags, []string{"../internal/pinpoint/testdata/v2.5/pinpoint-collector-grpc-root.properties"}, "auto")
	must.NoError(t, err)
	must.Nil(t, stated, must.Sprint("the gRPC file alone cannot tell 2.x from 3.x"))
	v2, _, err := plan.ports(pinpoint.Generation(2))
	must.NoError(t, err)
	must.Eq(t, map[string]int{"grpc-agent": 9991, "grpc-stat": 9992, "grpc-span": 9993,
		"thrift-agent": 9994, "thrift-stat": 9995, "thrift-span": 9996}, v2)
	v3, _, err := plan.ports(pinpoint.Generation(3))
	must.NoError(t, err)
	must.Eq(t, map[string]int{"grpc-agent": 9991, "grpc-stat": 9992, "grpc-span": 9993}, v3)
}
