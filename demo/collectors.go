package main

import (
	"fmt"
	"time"

	"github.com/pinlb/pinlb/internal/pinpoint"
	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/sim"
)

// member is one collector: a stand-in that speaks Pinpoint's gRPC on the
// gRPC ports, the simulator on the Thrift and UDP ones, and `pinlb
// register` beside them.
type member struct {
	name      string
	grpc      *pinpointgrpc.Collector
	thrift    *sim.Collector
	reg       *proc
	gone      bool
	prevSpans int64 // spans at the previous frame
	prevD     int64 // datagrams at the previous frame
}

func (d *demo) addCollector(name string) error {
	g, err := pinpointgrpc.Start(name, "127.0.0.1", pinpointgrpc.DefaultOptions())
	if err != nil {
		return err
	}
	t, err := sim.StartCollectorOn(name, "127.0.0.1", append(pinpoint.ThriftPorts(), pinpoint.Cluster))
	if err != nil {
		g.Kill()
		return err
	}
	args := []string{"register", "-id=" + name, "-address=127.0.0.1", "-check-interval=1s"}
	for _, ports := range []map[string]int{g.Ports, t.Ports} {
		for port, n := range ports {
			args = append(args, fmt.Sprintf("-%s-port=%d", port, n))
		}
	}
	m := &member{name: name, grpc: g, thrift: t, reg: d.run("register-"+name, d.o.Pinlb, args...)}
	d.members = append(d.members, m)
	d.logf("%s is up (gRPC agent port %d), with pinlb register beside it", name, g.Ports["grpc-agent"])
	return nil
}

// kill stops the collector as a crash does.
func (m *member) kill() {
	m.grpc.Kill()
	m.thrift.Kill()
	m.gone = true
}

// stop stops the collector as Pinpoint's graceful shutdown does: a GOAWAY
// on its gRPC connections first.
func (m *member) stop() {
	m.grpc.Stop()
	m.thrift.Kill()
	m.gone = true
}

// watchSpread notes when the span streams first spread evenly over the
// four collectors after the scale-out, before the drain takes one away.
func (d *demo) watchSpread() {
	if d.scaledOut.IsZero() || d.spreadIn > 0 || len(d.members) < 4 || time.Since(d.start) >= Timeline[1].At {
		return
	}
	counts := make([]int64, 0, len(d.members))
	for _, m := range d.members {
		counts = append(counts, m.grpc.Counts().Conns["grpc-span"])
	}
	if pinpointgrpc.Even(counts) {
		d.spreadIn = time.Since(d.scaledOut)
	}
}

func (d *demo) member(name string) *member {
	for _, m := range d.members {
		if m.name == name {
			return m
		}
	}
	return nil
}

// received is every span the collectors got, the stopped ones' included.
func (d *demo) received() (n int64) {
	for _, m := range d.members {
		n += m.grpc.Counts().Spans
	}
	return n
}
