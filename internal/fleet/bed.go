//go:build linux

// Package fleet builds several hosts out of network namespaces on one
// machine, for the multi-host tests, `make cluster` and the Consul-load
// measurements: Consul servers in a real Raft cluster, a Consul client
// agent on every other host, pinlb hosts registered in Consul, simulated
// collectors with `pinlb register`, and hosts of simulated Pinpoint agents
// that find pinlb through Consul DNS. It needs root.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Options size a bed.
type Options struct {
	Prefix     string // of the namespaces' names; unique on the machine
	Dir        string // for the agents' data and configuration
	ConsulBin  string
	Pinlb      PinlbOptions
	Servers    int
	Pinlbs     int
	Collectors int
	AgentHosts int
	// GRPC makes the collectors serve Pinpoint's gRPC on their gRPC ports
	// (pinpointgrpc stand-ins), for agents shaped like Pinpoint's Java
	// agent; otherwise the simulator serves every port.
	GRPC bool
}

// Bed is a running fleet.
type Bed struct {
	opts       Options
	Net        *Net
	Servers    []*Consul
	Pinlbs     []*PinlbHost
	Collectors []*CollectorHost
	Agents     []*AgentHost
	clients    []*Consul // every client agent, for Close
}

// PinlbHost is a pinlb and its host's Consul agent.
type PinlbHost struct {
	Host   *Host
	Consul *Consul
	Pinlb  *Pinlb
}

// Start builds the bed: servers, then every other host's agent, then pinlb,
// then the collectors; it returns once every pinlb answers and every
// agent knows a leader. Close removes it.
func Start(ctx context.Context, o Options) (b *Bed, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("network namespaces need root")
	}
	n, err := NewNet(o.Prefix)
	if err != nil {
		return nil, err
	}
	b = &Bed{opts: o, Net: n}
	// bed, not b: each failed return sets b to nil before this runs.
	defer func(bed *Bed) {
		if err != nil {
			bed.Close()
		}
	}(b)
	if err := b.startServers(ctx); err != nil {
		return nil, err
	}
	for i := range o.Pinlbs {
		if err := b.addPinlb(fmt.Sprintf("pinlb%d", i+1)); err != nil {
			return nil, err
		}
	}
	for range o.Collectors {
		if _, err := b.AddCollector(); err != nil {
			return nil, err
		}
	}
	for i := range o.AgentHosts {
		h, c, err := b.clientHost(fmt.Sprintf("agents%d", i+1))
		if err != nil {
			return nil, err
		}
		b.Agents = append(b.Agents, &AgentHost{Host: h, Consul: c})
	}
	return b, b.waitReady(ctx)
}

func (b *Bed) startServers(ctx context.Context) error {
	var hosts []*Host
	for i := range b.opts.Servers {
		h, err := b.Net.AddHost(fmt.Sprintf("server%d", i+1))
		if err != nil {
			return err
		}
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		c, err := StartConsul(b.opts.ConsulBin, h, b.dir(h), true, hosts)
		if err != nil {
			return err
		}
		b.Servers = append(b.Servers, c)
	}
	return b.Servers[0].WaitLeader(ctx)
}

// ServerHosts are the servers' hosts.
func (b *Bed) ServerHosts() []*Host {
	var hs []*Host
	for _, s := range b.Servers {
		hs = append(hs, s.Host)
	}
	return hs
}

func (b *Bed) dir(h *Host) string { return filepath.Join(b.opts.Dir, h.Name) }

// clientHost adds a host with a Consul client agent.
func (b *Bed) clientHost(name string) (*Host, *Consul, error) {
	h, err := b.Net.AddHost(name)
	if err != nil {
		return nil, nil, err
	}
	c, err := StartConsul(b.opts.ConsulBin, h, filepath.Join(b.dir(h), "consul"), false, b.ServerHosts())
	if err != nil {
		return nil, nil, err
	}
	b.clients = append(b.clients, c)
	return h, c, nil
}

func (b *Bed) addPinlb(name string) error {
	h, c, err := b.clientHost(name)
	if err != nil {
		return err
	}
	p, err := StartPinlb(h, filepath.Join(b.dir(h), "pinlb"), b.opts.Pinlb)
	if err != nil {
		return err
	}
	b.Pinlbs = append(b.Pinlbs, &PinlbHost{Host: h, Consul: c, Pinlb: p})
	return nil
}

// AddCollector adds a collector host, registered through its agent.
func (b *Bed) AddCollector() (*CollectorHost, error) {
	h, c, err := b.clientHost(fmt.Sprintf("coll%d", len(b.Collectors)+1))
	if err != nil {
		return nil, err
	}
	ch, err := StartCollector(h, c, b.opts.Pinlb.Bin, b.opts.GRPC)
	if err != nil {
		return nil, err
	}
	b.Collectors = append(b.Collectors, ch)
	return ch, nil
}

func (b *Bed) waitReady(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(b.clients)+len(b.Pinlbs))
	for i, c := range b.clients {
		wg.Go(func() { errs[i] = c.WaitLeader(ctx) })
	}
	for i, p := range b.Pinlbs {
		wg.Go(func() { errs[len(b.clients)+i] = p.Pinlb.WaitReady(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close stops everything and removes the namespaces.
func (b *Bed) Close() {
	for _, c := range b.Collectors {
		c.Stop()
	}
	for _, p := range b.Pinlbs {
		p.Pinlb.Stop()
	}
	for _, c := range append(b.clients, b.Servers...) {
		c.Kill()
	}
	b.Net.Close()
}
