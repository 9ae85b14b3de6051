package collector

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/pinpoint"
)

// DetectInput is where to look for a collector whose version nobody said.
type DetectInput struct {
	Address string
	// GRPCPort and ThriftPort are the agent ports it would open: 0 for one
	// it cannot.
	GRPCPort, ThriftPort int
	// Interval paces the probes until one answers; Settle is how long the
	// other then has to answer too.
	Interval, Settle time.Duration
	Logger           hclog.Logger
}

// Detect learns a collector's generation from the agent ports it answers
// on: gRPC alone is 3.x, Thrift alone 1.x, both 2.x. It waits until one
// answers (a sidecar may start before its collector), then up to Settle
// for the other, if it has one, as a collector opens its receivers one
// after the other.
func Detect(ctx context.Context, in DetectInput) (pinpoint.Version, error) {
	timeout := min(in.Interval, 2*time.Second)
	probe := func() (grpc, thrift bool) {
		if in.GRPCPort != 0 {
			grpc = dialOK(net.JoinHostPort(in.Address, strconv.Itoa(in.GRPCPort)), timeout)
		}
		if in.ThriftPort != 0 {
			thrift = pingThrift(net.JoinHostPort(in.Address, strconv.Itoa(in.ThriftPort)), timeout) == nil
		}
		return grpc, thrift
	}
	tick := time.NewTicker(in.Interval)
	defer tick.Stop()
	var grpc, thrift, logged bool
	var settleUntil time.Time
	for {
		g, t := probe()
		grpc, thrift = grpc || g, thrift || t
		now := time.Now()
		switch {
		case grpc || thrift:
			if settleUntil.IsZero() {
				settleUntil = now.Add(in.Settle)
			}
			if grpc && thrift || in.GRPCPort == 0 || in.ThriftPort == 0 || !now.Before(settleUntil) {
				return generationOf(grpc, thrift), nil
			}
		case !logged:
			in.Logger.Info("waiting for the collector to open an agent port, to learn its Pinpoint generation (say -pinpoint=<version> not to wait)",
				"address", in.Address, "grpc_agent_port", in.GRPCPort, "thrift_agent_port", in.ThriftPort)
			logged = true
		}
		select {
		case <-ctx.Done():
			return pinpoint.Version{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// generationOf is the line whose agent ports are these.
func generationOf(grpc, thrift bool) pinpoint.Version {
	switch {
	case grpc && thrift:
		return pinpoint.Generation(2)
	case grpc:
		return pinpoint.Generation(3)
	}
	return pinpoint.Generation(1)
}

// dialOK reports whether a TCP connect to addr succeeds.
func dialOK(addr string, timeout time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
