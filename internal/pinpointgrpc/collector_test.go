package pinpointgrpc

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

func dial(t *testing.T, c *Collector, port string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", c.Ports[port]),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	must.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	return cc
}

func agentContext(t *testing.T, id string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "agentid", id, "applicationname", "app")
}

func payloadOf(kind protowire.Number) *[]byte {
	b := protowire.AppendBytes(protowire.AppendTag(nil, kind, protowire.BytesType), []byte{0x08, 0x01})
	return &b
}

// Each port serves its services: agent info and pings on the agent port,
// spans and chunks on the span port, stats on the stat port, each counted
// under the agent that sent it.
func TestCollector_CountsWhatAgentsSend(t *testing.T) {
	c, err := Start("c1", "127.0.0.1", DefaultOptions())
	must.NoError(t, err)
	t.Cleanup(c.Kill)
	ctx := agentContext(t, "agent-1")

	agent := dial(t, c, "grpc-agent")
	var result []byte
	must.NoError(t, agent.Invoke(ctx, "/v1.Agent/RequestAgentInfo", &[]byte{}, &result))
	must.Eq(t, resultOK, result)
	must.NoError(t, agent.Invoke(ctx, "/v1.Metadata/RequestApiMetaData", &[]byte{}, &result))
	ping, err := agent.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/v1.Agent/PingSession")
	must.NoError(t, err)
	must.NoError(t, ping.SendMsg(&[]byte{}))
	var pong []byte
	must.NoError(t, ping.RecvMsg(&pong))

	spans := dial(t, c, "grpc-span")
	s, err := spans.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/v1.Span/SendSpan")
	must.NoError(t, err)
	for _, kind := range []protowire.Number{fieldSpan, fieldSpan, fieldSpanChunk, fieldSpan} {
		must.NoError(t, s.SendMsg(payloadOf(kind)))
	}
	must.NoError(t, s.CloseSend())
	must.NoError(t, s.RecvMsg(&result))

	stat := dial(t, c, "grpc-stat")
	st, err := stat.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/v1.Stat/SendAgentStat")
	must.NoError(t, err)
	must.NoError(t, st.SendMsg(&[]byte{0x0a, 0x00}))
	must.NoError(t, st.CloseSend())
	must.NoError(t, st.RecvMsg(&result))

	n := c.Counts()
	must.Eq(t, 3, n.Spans)
	must.Eq(t, 1, n.SpanChunks)
	must.Eq(t, 1, n.Stats)
	must.Eq(t, 1, n.AgentInfos)
	must.Eq(t, 1, n.Metadata)
	must.Eq(t, 1, n.Pings)
	must.Eq(t, 3, n.ByAgent["agent-1"].Spans)
	must.Eq(t, "app", n.ByAgent["agent-1"].Application)
	spansByConn := 0
	for key, m := range n.ByConn {
		if m.Spans > 0 {
			spansByConn++
			must.StrHasPrefix(t, "grpc-span 127.0.0.1:", key)
			must.Eq(t, 3, m.Spans)
		}
	}
	must.Eq(t, 1, spansByConn, must.Sprint("one connection carried the spans"))
	must.Eq(t, 1, n.Streams["grpc-agent"], must.Sprint("the ping stream is open"))
	for _, port := range Ports {
		must.Eq(t, 1, n.Conns[port], must.Sprintf("connections on %s", port))
		must.Eq(t, 1, n.Accepted[port])
	}

	// A span sent to the agent port is refused, as the collector refuses it.
	wrong, err := agent.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/v1.Span/SendSpan")
	must.NoError(t, err)
	wrong.SendMsg(payloadOf(fieldSpan))
	wrong.CloseSend()
	must.Eq(t, codes.Unimplemented, status.Code(wrong.RecvMsg(&result)))
}

// A killed collector drops every connection; its counts say so.
func TestCollector_KillClosesConnections(t *testing.T) {
	c, err := Start("c1", "127.0.0.1", DefaultOptions())
	must.NoError(t, err)
	cc := dial(t, c, "grpc-agent")
	ctx := agentContext(t, "agent-1")
	ping, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/v1.Agent/PingSession")
	must.NoError(t, err)
	must.NoError(t, ping.SendMsg(&[]byte{}))
	var pong []byte
	must.NoError(t, ping.RecvMsg(&pong))
	c.Kill()
	must.Error(t, ping.RecvMsg(&pong))
	testsupport.WaitFor(t, "the connection count to fall", func() bool { return c.Counts().Conns["grpc-agent"] == 0 })
}

// listenOn serves a collector on the given loopback ports.
func listenOn(ports map[string]int) (*Collector, error) {
	lns := map[string]net.Listener{}
	for port, n := range ports {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", n))
		if err != nil {
			return nil, err
		}
		lns[port] = ln
	}
	return Serve("restarted", lns, DefaultOptions()), nil
}
