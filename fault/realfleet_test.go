package fault

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/nodeagent"
	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// realFleet is Pinpoint as its users run it, on loopback: collector
// stand-ins that speak Pinpoint's gRPC, each registered by `pinlb register`,
// pinlb in front of them with the gRPC listeners of `pinlb agent -dev`, and
// real Pinpoint agents (NAVER's Node.js agent) sending through it.
type realFleet struct {
	t      *testing.T
	consul *testsupport.Consul
	pinlb  *proc
	listen map[string]string // pinlb's address by gRPC port name
	cols   []*realCollector
	apps   []pinpointAgent
	opts   pinpointgrpc.Options // the collectors'
}

// pinpointAgent is a real Node.js agent (nodeagent.App) or one shaped like
// Pinpoint's Java agent (pinpointgrpc.Agent).
type pinpointAgent interface {
	Served() int64
	Errors() int64 // the Node.js agent's log lines at WARN and above; the Java-shaped agent's failed calls
	StopTraffic() (int64, error)
	Close()
}

// agentKind says which agents a fleet runs.
type agentKind string

const (
	nodeAgents agentKind = "node.js agent"
	javaAgents agentKind = "java-shaped agent"
)

// startAgent starts agent id of kind, sending to pinlb.
func (f *realFleet) startAgent(kind agentKind, id string) (pinpointAgent, error) {
	if kind == nodeAgents {
		return nodeagent.Start(nodeagent.Config{
			ID: id, Application: "pinlb-fault", Collector: "127.0.0.1", Ports: f.pinlbPorts(), Rate: realAgentRate,
		})
	}
	return pinpointgrpc.StartAgent(pinpointgrpc.AgentConfig{
		ID: id, Application: "pinlb-fault", Host: "127.0.0.1", Ports: f.pinlbPorts(), Rate: realAgentRate,
	})
}

// realCollector is a collector stand-in and its `pinlb register`.
type realCollector struct {
	*pinpointgrpc.Collector
	register *exec.Cmd
}

// realAgentRate is each app's traced requests a second: one span each, as
// in the issue that measured real agents (20/s, sampling rate 1).
const realAgentRate = 20

// startRealFleet starts Consul, collectors, pinlb and agents, and returns
// once every agent's three connections are up and spans flow.
func startRealFleet(t *testing.T, kind agentKind, collectors, agents int) *realFleet {
	t.Helper()
	return startRealFleetWith(t, kind, collectors, agents, pinpointgrpc.DefaultOptions())
}

// startRealFleetWith is startRealFleet with the collectors' gRPC options.
func startRealFleetWith(t *testing.T, kind agentKind, collectors, agents int, opts pinpointgrpc.Options) *realFleet {
	t.Helper()
	if err := nodeagent.Installed(); kind == nodeAgents && err != nil {
		testsupport.Missing(t, err.Error())
	}
	f := &realFleet{t: t, consul: testsupport.StartConsul(t, testsupport.ConsulOptions{}), listen: map[string]string{}, opts: opts}
	for i := range collectors {
		f.addCollector(fmt.Sprintf("collector-%d", i+1))
	}
	for _, port := range pinpointgrpc.Ports {
		f.listen[port] = testsupport.FreePort(t)
	}
	f.pinlb = startPinlb(t, f.config(), 0)
	testsupport.WaitUpTo(t, 20*time.Second, "every collector in pinlb's gRPC pools", func() bool { return f.poolsHave(collectors) })
	f.addAgents(kind, agents)
	return f
}

// addAgents starts n more agents of kind, and returns once every agent's
// three connections are up and spans flow.
func (f *realFleet) addAgents(kind agentKind, n int) {
	f.t.Helper()
	for range n {
		app, err := f.startAgent(kind, fmt.Sprintf("agent-%d", len(f.apps)+1))
		if err != nil {
			f.t.Fatal(err)
		}
		f.t.Cleanup(app.Close)
		f.apps = append(f.apps, app)
	}
	all := int64(len(f.apps))
	from := f.received()
	testsupport.WaitUpTo(f.t, 30*time.Second, "every agent's gRPC connections and spans", func() bool {
		for _, port := range pinpointgrpc.Ports {
			if sum(f.conns(port)) != all {
				return false
			}
		}
		return f.received() >= from+all*realAgentRate
	})
}

// config is pinlb's: the gRPC listeners of `pinlb agent -dev`, on the
// fleet's addresses.
func (f *realFleet) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "consul { address = %q }\n", f.consul.HTTP)
	for _, port := range pinpointgrpc.Ports {
		rebalance := `rebalance {
    min_idle = "1s"
    max_wait = "5m"
  }`
		if port == "grpc-agent" { // as -dev: the agent channel is never moved
			rebalance = ""
		}
		fmt.Fprintf(&b, `listener %q {
  address = %q
  balance = "least_conn"
  drain_timeout = "1m"
  %s
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_%s"
  }
}
`, port, f.listen[port], rebalance, strings.ReplaceAll(port, "-", "_"))
	}
	return b.String()
}

func (f *realFleet) pinlbPorts() map[string]int {
	out := map[string]int{}
	for port, addr := range f.listen {
		_, n, _ := net.SplitHostPort(addr)
		out[port], _ = strconv.Atoi(n)
	}
	return out
}

// addCollector starts a collector and `pinlb register` beside it, with its
// gRPC ports only (a stand-in serves no Thrift).
func (f *realFleet) addCollector(name string) *realCollector {
	f.t.Helper()
	col, err := pinpointgrpc.Start(name, "127.0.0.1", f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	args := []string{"register", "-id=" + name, "-address=127.0.0.1", "-check-interval=1s",
		"-thrift-agent-port=0", "-thrift-stat-port=0", "-thrift-span-port=0"}
	for port, n := range col.Ports {
		args = append(args, fmt.Sprintf("-%s-port=%d", port, n))
	}
	reg := exec.Command(pinlbBin, args...)
	reg.Env = append(os.Environ(), "CONSUL_HTTP_ADDR="+f.consul.HTTP, "CONSUL_HTTP_TOKEN=")
	log := &testsupport.LogBuffer{}
	reg.Stdout, reg.Stderr = log, log
	if err := reg.Start(); err != nil {
		f.t.Fatal(err)
	}
	rc := &realCollector{Collector: col, register: reg}
	f.t.Cleanup(func() {
		reg.Process.Signal(syscall.SIGTERM)
		reg.Wait()
		col.Kill()
	})
	f.cols = append(f.cols, rc)
	return rc
}

// poolsHave reports whether each gRPC listener has n active collectors.
func (f *realFleet) poolsHave(n int) bool {
	for _, port := range pinpointgrpc.Ports {
		var l struct{ Pool struct{ Active int } }
		if f.pinlb.get("/v1/listeners/"+port, &l) != nil || l.Pool.Active != n {
			return false
		}
	}
	return true
}

// conns are the open connections on port at each collector.
func (f *realFleet) conns(port string) []int64 {
	out := make([]int64, len(f.cols))
	for i, c := range f.cols {
		out[i] = c.Counts().Conns[port]
	}
	return out
}

// accepted is how many connections the collectors accepted on port, in all.
func (f *realFleet) accepted(port string) (n int64) {
	for _, c := range f.cols {
		n += c.Counts().Accepted[port]
	}
	return n
}

// received is every span the collectors got, the killed ones' included.
func (f *realFleet) received() (n int64) {
	for _, c := range f.cols {
		n += c.Counts().Spans
	}
	return n
}

// errors is what the agents logged or failed, in all: a move pinlb makes
// gently costs none.
func (f *realFleet) errors() (n int64) {
	for _, a := range f.apps {
		n += a.Errors()
	}
	return n
}

// moveLimit is how long a move may take: the graceful-moves issue's target.
const moveLimit = 30 * time.Second

// within says whether a time of TimeEach met its limit.
func within(took string) bool { return !strings.HasPrefix(took, "not within") }

// served is every traced request the apps answered so far.
func (f *realFleet) served() (n int64) {
	for _, a := range f.apps {
		n += a.Served()
	}
	return n
}

// finish stops every agent's traffic and waits for its spans: it returns
// the spans served and those that no collector received.
func (f *realFleet) finish() (served, lost int64) {
	f.t.Helper()
	for _, a := range f.apps {
		n, err := a.StopTraffic()
		if err != nil {
			f.t.Fatal(err)
		}
		served += n
	}
	return served, pinpointgrpc.AwaitSpans(served, f.received)
}

// timeToEven watches every gRPC channel until its connections are even
// over the collectors (pinpointgrpc.Even).
func (f *realFleet) timeToEven(limit time.Duration) map[string]string {
	return testsupport.TimeEach(pinpointgrpc.Ports, limit, func(port string) bool { return pinpointgrpc.Even(f.conns(port)) })
}

// untilGone watches every gRPC channel until collector i holds none of its
// connections.
func (f *realFleet) untilGone(i int, limit time.Duration) map[string]string {
	return testsupport.TimeEach(pinpointgrpc.Ports, limit, func(port string) bool { return f.conns(port)[i] == 0 })
}

func sum(ns []int64) (n int64) {
	for _, v := range ns {
		n += v
	}
	return n
}

// spread is "a/b/c" of port's connections per collector.
func (f *realFleet) spread(port string) string {
	var parts []string
	for _, n := range f.conns(port) {
		parts = append(parts, fmt.Sprint(n))
	}
	return strings.Join(parts, "/")
}

// streams records every channel's spread over the collectors as figures,
// and returns it by port.
func (f *realFleet) streams(kind agentKind, when string) map[string][]int64 {
	out := map[string][]int64{}
	for _, port := range pinpointgrpc.Ports {
		out[port] = f.conns(port)
		figure(f.t, fmt.Sprintf("%s: %s conns per collector, %s", kind, port, when), f.spread(port), true)
	}
	return out
}
