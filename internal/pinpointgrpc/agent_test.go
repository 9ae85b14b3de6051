package pinpointgrpc

import (
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// The Java-shaped agent, straight to a collector: one connection per
// channel, its agent info, a ping, a stat, and every span it served, on a
// span stream (2.x, 3.0) or in SendSpanBatch calls (3.1).
func TestAgent_EverySpanArrives(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch bool
	}{{"span stream", false}, {"span batches", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Start("c1", "127.0.0.1", DefaultOptions())
			must.NoError(t, err)
			t.Cleanup(c.Kill)
			a, err := StartAgent(AgentConfig{ID: "java-1", Application: "app", Host: "127.0.0.1", Ports: c.Ports, Rate: 100, Batch: tc.batch})
			must.NoError(t, err)
			t.Cleanup(a.Close)
			testsupport.WaitFor(t, "a connection per channel, agent info, a ping, a stat and 50 spans", func() bool {
				n := c.Counts()
				return n.Conns["grpc-agent"] == 1 && n.Conns["grpc-stat"] == 1 && n.Conns["grpc-span"] == 1 &&
					n.AgentInfos == 1 && n.Pings == 1 && n.Stats == 1 && n.Spans >= 50
			})
			served, err := a.StopTraffic()
			must.NoError(t, err)
			testsupport.WaitFor(t, "every span served", func() bool { return c.Counts().Spans == served })
			n := c.Counts()
			must.Eq(t, served, n.ByAgent["java-1"].Spans)
			if tc.batch {
				must.Positive(t, n.Batches)
				must.Eq(t, 0, n.Streams["grpc-span"], must.Sprint("3.1 sends spans in unary calls, on no stream"))
			} else {
				must.Eq(t, 0, n.Batches)
				must.Eq(t, 1, n.Streams["grpc-span"])
			}
		})
	}
}

// A span stream that breaks (its collector killed) is opened again at the
// next span, on the collector the agent reconnects to.
func TestAgent_ReopensAStreamThatBroke(t *testing.T) {
	first, err := Start("c1", "127.0.0.1", DefaultOptions())
	must.NoError(t, err)
	a, err := StartAgent(AgentConfig{ID: "java-1", Application: "app", Host: "127.0.0.1", Ports: first.Ports, Rate: 100})
	must.NoError(t, err)
	t.Cleanup(a.Close)
	testsupport.WaitFor(t, "spans", func() bool { return first.Counts().Spans > 10 })
	first.Kill()
	// The same ports again, as a restarted collector opens them.
	second, err := listenOn(first.Ports)
	must.NoError(t, err)
	t.Cleanup(second.Kill)
	testsupport.WaitUpTo(t, 20*time.Second, "spans on the restarted collector", func() bool {
		n := second.Counts()
		return n.Spans > 10 && n.Streams["grpc-span"] == 1
	})
}
