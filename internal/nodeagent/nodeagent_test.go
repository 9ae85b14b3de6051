package nodeagent

import (
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// The real agent, straight to the collector stand-in: one connection on
// each gRPC port, its agent info, and every traced request as one span.
func TestNodeAgent_SpansReachTheCollector(t *testing.T) {
	if err := Installed(); err != nil {
		testsupport.Missing(t, err.Error())
	}
	c, err := pinpointgrpc.Start("c1", "127.0.0.1", pinpointgrpc.DefaultOptions())
	must.NoError(t, err)
	t.Cleanup(c.Kill)
	log := &testsupport.LogBuffer{}
	a, err := Start(Config{ID: "node-1", Application: "pinlb-test", Collector: "127.0.0.1", Ports: c.Ports, Rate: 20, Log: log})
	must.NoError(t, err)
	t.Cleanup(a.Close)

	testsupport.WaitUpTo(t, 30*time.Second, "a connection on every gRPC port and 20 spans", func() bool {
		n := c.Counts()
		return n.Conns["grpc-agent"] == 1 && n.Conns["grpc-stat"] == 1 && n.Conns["grpc-span"] == 1 && n.Spans >= 20
	})
	served, err := a.StopTraffic()
	must.NoError(t, err)
	testsupport.WaitUpTo(t, 10*time.Second, "every span served", func() bool { return c.Counts().Spans == served })
	n := c.Counts()
	must.Positive(t, n.AgentInfos)
	must.Eq(t, served, n.ByAgent["node-1"].Spans)
	t.Logf("served %d, received %d spans; counts %+v; agent log:\n%s", served, n.Spans, n, log)
}
