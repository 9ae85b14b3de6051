package collector

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/pinpoint"
	"github.com/pinlb/pinlb/internal/sim"
	"github.com/shoenig/test/must"
)

// closedPort is a loopback port where nothing listens.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// simOn is a simulated collector serving only ports.
func simOn(t *testing.T, ports []pinpoint.Port) *sim.Collector {
	c, err := sim.StartCollectorOn(t.Name(), "127.0.0.1", ports)
	must.NoError(t, err)
	t.Cleanup(c.Kill)
	return c
}

func detectIn(grpc, thrift int) DetectInput {
	return DetectInput{Address: "127.0.0.1", GRPCPort: grpc, ThriftPort: thrift,
		Interval: 10 * time.Millisecond, Settle: 200 * time.Millisecond, Logger: hclog.NewNullLogger()}
}

// The agent ports a collector answers on tell its generation.
func TestDetect_GenerationFromTheAgentPorts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ports []pinpoint.Port
		want  int
	}{
		{"1.x: Thrift", pinpoint.ThriftPorts(), 1},
		{"2.x: both", pinpoint.Ports, 2},
		{"3.x: gRPC", pinpoint.GRPCPorts(), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := simOn(t, tc.ports)
			grpc, thrift := c.Ports["grpc-agent"], c.Ports["thrift-agent"]
			if grpc == 0 {
				grpc = closedPort(t)
			}
			if thrift == 0 {
				thrift = closedPort(t)
			}
			v, err := Detect(context.Background(), detectIn(grpc, thrift))
			must.NoError(t, err)
			must.Eq(t, tc.want, v.Major)
			must.Eq(t, pinpoint.Generation(tc.want).Text, v.Text)
		})
	}
}

// A sidecar may start first: Detect waits for the collector, and a Thrift
// receiver that opens a moment after the gRPC one still counts (2.x).
func TestDetect_WaitsForTheCollector(t *testing.T) {
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	grpcPort := grpcLn.Addr().(*net.TCPAddr).Port
	grpcLn.Close() // not yet
	thrift := simOn(t, pinpoint.ThriftPorts())
	thrift.SetSilent(true) // its port is open, but it answers no ping yet
	in := detectIn(grpcPort, thrift.Ports["thrift-agent"])
	waiting := make(chan struct{}, 1)
	in.Logger = hclog.New(&hclog.LoggerOptions{Output: signalWriter(waiting)})
	found := make(chan pinpoint.Version, 1)
	go func() {
		v, _ := Detect(context.Background(), in)
		found <- v
	}()
	<-waiting // it said it waits: nothing answered
	grpcLn, err = net.Listen("tcp", grpcLn.Addr().String())
	must.NoError(t, err)
	defer grpcLn.Close()
	thrift.SetSilent(false) // within the settle time
	must.Eq(t, 2, (<-found).Major)
}

// signalWriter signals c at each log line.
type signalWriter chan struct{}

func (w signalWriter) Write(p []byte) (int, error) {
	select {
	case w <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Stopped while it waits, Detect says so.
func TestDetect_Stops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Detect(ctx, detectIn(closedPort(t), closedPort(t)))
	must.ErrorIs(t, err, context.Canceled)
}
