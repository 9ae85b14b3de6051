package nodeagent

import (
	"sync/atomic"
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
	must.Eq(t, 0, a.Errors(), must.Sprintf("the agent's warnings and errors:\n%s", log))
	t.Logf("served %d, received %d spans; counts %+v; agent log:\n%s", served, n.Spans, n, log)
}

// The agent's configuration, which it logs at WARN as it starts, is not
// counted among its errors; every other line on standard error is, however
// the writes cut them.
func TestLineCounter_SkipsTheConfiguration(t *testing.T) {
	var n atomic.Int64
	c := &lineCounter{n: &n}
	out := "[Pinpoint Agent] Configuration {\n  serviceType: 1400,\n  logLevel: 'WARN'\n}\n[Pinpoint Agent][a-1] Init Started\n" +
		"[Pinpoint Agent][a-1] Init Completed\nE No connection established\nlast"
	for i := range len(out) {
		c.Write([]byte{out[i]})
	}
	must.Eq(t, 1, n.Load())
	c.Write([]byte(" line\n"))
	must.Eq(t, 2, n.Load())
}
