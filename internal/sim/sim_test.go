package sim

import (
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

func TestAgentToCollector(t *testing.T) {
	c, err := StartCollector("c1", "127.0.0.1")
	must.NoError(t, err)
	defer c.Kill()
	a := StartAgent(AgentConfig{
		Name: "a1", Host: "127.0.0.1", Ports: c.Ports,
		MessageEvery: 5 * time.Millisecond, PingEvery: 10 * time.Millisecond,
		Reconnect: 10 * time.Millisecond, DatagramEvery: 5 * time.Millisecond,
	})
	defer a.Stop()
	s := c.Stats()
	testsupport.WaitFor(t, "traffic of every kind", func() bool {
		return s.Messages.Load() > 20 && s.Pings.Load() > 2 && s.Datagrams.Load() > 10 &&
			a.Stats().Pongs.Load() > 2 && a.Stats().Replies.Load() == 2
	})
	must.Eq(t, 4, s.ActiveConns.Load()) // three gRPC streams and the Thrift one

	// A crash: the agent redials, and nothing it sent was corrupt.
	c.KillTCP()
	testsupport.WaitFor(t, "the agent to notice", func() bool { return a.Stats().Reconnects.Load() >= 4 })
	must.Eq(t, 0, s.Corrupt.Load())

	// Silent: pings go unanswered.
	c2, err := StartCollector("c2", "127.0.0.1")
	must.NoError(t, err)
	defer c2.Kill()
	c2.SetSilent(true)
	b := StartAgent(AgentConfig{Name: "b", Host: "127.0.0.1", Ports: c2.Ports, PingEvery: 5 * time.Millisecond})
	defer b.Stop()
	testsupport.WaitFor(t, "pings", func() bool { return c2.Stats().Pings.Load() > 3 })
	must.Eq(t, 0, b.Stats().Pongs.Load())
}
