//go:build linux

package proxy

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// A Java-shaped Pinpoint agent (grpc-go) keeps one span stream open
// through pinlb to collector a. When a leaves the pool, pinlb's GOAWAY
// and its end of the stream move the agent's next stream to b, on a new
// connection, and every span sent reaches one of them.
func TestH2C_SpanStreamMovesWithNothingLost(t *testing.T) {
	a, b := startCollector(t, "a"), startCollector(t, "b")
	cfg := h2cConfig()
	cfg.GRPCEndCalls = true
	rec := &records{}
	cfg.Recorder = rec
	l := startTCP(t, cfg, spanAddr(a))
	agent := spanAgentThrough(t, l, a)

	l.SetEndpoints([]Endpoint{{Addr: spanAddr(a), Draining: true}, {Addr: spanAddr(b)}})
	testsupport.WaitFor(t, "spans at b", func() bool { return b.Counts().Spans > 10 })
	served, err := agent.StopTraffic()
	must.NoError(t, err)
	// grpc-go refuses a span sent in the instant between pinlb's end of
	// the call and its own reading of it: at most that one, and the agent
	// knows (grpc-js, the Node.js agent's, loses none: see fault's
	// real-agent scenarios).
	lost := agent.Errors()
	testsupport.WaitFor(t, "every span served at a or b", func() bool {
		return a.Counts().Spans+b.Counts().Spans >= served-lost
	})
	must.Eq(t, served-lost, a.Counts().Spans+b.Counts().Spans, must.Sprint("spans received, of those served"))
	must.LessEq(t, 1, lost)
	s := l.Stats()
	must.Eq(t, 1, s.GoAwaySent)
	must.Eq(t, 1, s.CallsEnded)

	// The old connection ends by its client's close, once it carries no
	// call; the access log says how it moved.
	r := rec.wait(t, 1)[0]
	must.Eq(t, "endpoint_left", r.Status)
	must.Eq(t, "ended_call", r.Move)
}

// spanAgentThrough starts a Java-shaped agent that sends its spans through
// l and the rest straight to a, and returns once a has spans.
func spanAgentThrough(t *testing.T, l Listener, a *pinpointgrpc.Collector) *pinpointgrpc.Agent {
	t.Helper()
	ports := map[string]int{}
	for name, port := range a.Ports {
		ports[name] = port
	}
	ports["grpc-span"] = l.Addr().(*net.TCPAddr).Port
	agent, err := pinpointgrpc.StartAgent(pinpointgrpc.AgentConfig{
		ID: "agent-1", Application: "pinlb-test", Host: "127.0.0.1", Ports: ports, Rate: 50,
	})
	must.NoError(t, err)
	t.Cleanup(agent.Close)
	testsupport.WaitFor(t, "spans at a", func() bool { return a.Counts().Spans > 10 })
	return agent
}

func startCollector(t *testing.T, name string) *pinpointgrpc.Collector {
	t.Helper()
	c, err := pinpointgrpc.Start(name, "127.0.0.1", pinpointgrpc.DefaultOptions())
	must.NoError(t, err)
	t.Cleanup(c.Stop)
	return c
}

func spanAddr(c *pinpointgrpc.Collector) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(c.Ports["grpc-span"]))
}

// A shutdown asks the agent to go as well: its stream ends, its client
// closes the connection, and the listener is done long before its
// deadline, with nothing forced.
func TestH2C_ShutdownAsksTheAgentToGo(t *testing.T) {
	a := startCollector(t, "a")
	cfg := h2cConfig()
	cfg.GRPCEndCalls = true
	l, err := Listen(cfg, hclog.NewNullLogger())
	must.NoError(t, err)
	l.SetEndpoints([]Endpoint{{Addr: spanAddr(a)}})
	spanAgentThrough(t, l, a)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must.NoError(t, l.Shutdown(ctx))
	s := l.Stats()
	must.Eq(t, 1, s.GoAwaySent)
	must.Eq(t, 1, s.CallsEnded)
}
