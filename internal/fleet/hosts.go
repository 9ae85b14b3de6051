//go:build linux

package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pinlb/pinlb/internal/pinpoint"
	"github.com/pinlb/pinlb/internal/pinpointgrpc"
	"github.com/pinlb/pinlb/internal/sim"
)

// CollectorHost is a collector on a host, with `pinlb register` beside it:
// the simulator on every port, or on all but the gRPC ones, which a
// stand-in that speaks Pinpoint's gRPC serves.
type CollectorHost struct {
	Host      *Host
	Consul    *Consul
	Collector *sim.Collector
	GRPC      *pinpointgrpc.Collector // nil: the simulator serves gRPC's ports
	Register  *Proc
}

// StartCollector starts a collector on h (its sockets in h's namespace) and
// `pinlb register` for it, checking every second; with grpc, a stand-in
// serves the gRPC ports.
func StartCollector(h *Host, consul *Consul, pinlbBin string, grpc bool) (*CollectorHost, error) {
	ch := &CollectorHost{Host: h, Consul: consul}
	err := h.Do(func() (err error) {
		if !grpc {
			ch.Collector, err = sim.StartCollector(h.Name, h.IP.String())
			return err
		}
		if ch.GRPC, err = pinpointgrpc.Start(h.Name, h.IP.String(), pinpointgrpc.DefaultOptions()); err != nil {
			return err
		}
		ch.Collector, err = sim.StartCollectorOn(h.Name, h.IP.String(), pinpoint.ThriftPorts())
		return err
	})
	if err != nil {
		ch.kill()
		return nil, err
	}
	args := []string{"register", "-address=" + h.IP.String(), "-id=collector-" + h.Name, "-check-interval=1s"}
	for _, p := range pinpoint.Ports {
		args = append(args, fmt.Sprintf("-%s-port=%d", p.Name, ch.Port(p.Name)))
	}
	ch.Register = newProc(h, pinlbBin, args...)
	if err := ch.Register.Start(); err != nil {
		ch.kill()
		return nil, err
	}
	return ch, nil
}

// Port is the collector's port by pinpoint.Port.Name.
func (c *CollectorHost) Port(name string) int {
	if c.GRPC != nil && c.GRPC.Ports[name] != 0 {
		return c.GRPC.Ports[name]
	}
	return c.Collector.Ports[name]
}

// Stop deregisters the collector and stops it.
func (c *CollectorHost) Stop() {
	c.Register.Stop()
	c.kill()
}

// kill stops the collector's servers as a crash does.
func (c *CollectorHost) kill() {
	if c.Collector != nil {
		c.Collector.Kill()
	}
	if c.GRPC != nil {
		c.GRPC.Kill()
	}
}

// AgentHost is a host of Pinpoint agents, which find pinlb through Consul
// DNS on its agent.
type AgentHost struct {
	Host   *Host
	Consul *Consul
}

// ServiceName is the name agents connect to: profiler.collector.ip.
const ServiceName = "pinlb.service.consul"

// Dial resolves the host part of addr through the local Consul agent's DNS
// at every call, and tries each address in the order the answer gives
// (Consul shuffles it), as gRPC's pick_first does.
func (a *AgentHost) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	name, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := a.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := a.Host.Dial(dctx, network, net.JoinHostPort(ip, port))
		cancel()
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// Resolve looks name up through the local Consul agent's DNS, as the
// host's agents do.
func (a *AgentHost) Resolve(ctx context.Context, name string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return a.Host.Dial(ctx, network, "127.0.0.1:8600")
	}}
	return r.LookupHost(ctx, name)
}

// StartAgent starts a simulated agent on a with its gRPC streams (agent,
// stat, span) to pinlb by name, each sending every every, and
// reconnecting after reconnect.
func (a *AgentHost) StartAgent(name string, every, reconnect time.Duration) *sim.Agent {
	return sim.StartAgent(sim.AgentConfig{
		Name: name, Host: ServiceName, Ports: pinpoint.Defaults(pinpoint.GRPCPorts()), MessageEvery: every, Reconnect: reconnect, Dial: a.Dial,
	})
}

// StartGRPCAgent starts an agent shaped like Pinpoint's Java agent on a,
// sending rate spans a second to pinlb by name; batch sends them as 3.1
// does.
func (a *AgentHost) StartGRPCAgent(name string, rate int, batch bool) (*pinpointgrpc.Agent, error) {
	return pinpointgrpc.StartAgent(pinpointgrpc.AgentConfig{
		ID: name, Application: "fleet", Host: ServiceName, Ports: pinpoint.Defaults(pinpoint.GRPCPorts()), Rate: rate, Batch: batch,
		Dial: func(ctx context.Context, addr string) (net.Conn, error) { return a.Dial(ctx, "tcp", addr) },
	})
}
