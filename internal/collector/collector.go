// Package collector is the sidecar behind `pinlb register`: it registers
// one Pinpoint collector in Consul through the local agent, probes the ports
// Consul cannot check properly itself, reports through TTL checks, and
// registers again when the agent loses the registration.
package collector

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/internal/pinpoint"
)

// Config describes the collector to register.
type Config struct {
	Service string
	ID      string
	Address string // an IP or host name the balancer can reach
	// Ports by pinpoint.Port.Name, plus "cluster". A port not listed (or 0)
	// is one the collector does not serve.
	Ports map[string]int
	Tags  []string
	Meta  map[string]string
	// CheckInterval paces the TCP checks and pinlb's own probes.
	CheckInterval time.Duration
	// DeregisterCriticalAfter lets Consul reap the instance when it stays
	// critical this long; 0 never does.
	DeregisterCriticalAfter time.Duration
}

// AgentPort is the instance's Port: the gRPC agent port, else the Thrift one.
func (c Config) AgentPort() int {
	if p := c.Ports["grpc-agent"]; p != 0 {
		return p
	}
	return c.Ports["thrift-agent"]
}

// registration is the service definition: Port is the agent port, every
// served port is in Meta under its pinpoint.Port.MetaKey, with a Consul TCP
// check per TCP port, and TTL checks that pinlb's probes feed. Each check's
// ID ends in its port's meta key, so that it gates only the pools of that
// port (discovery's portKey rule).
func (c Config) registration() discovery.Registration {
	meta := map[string]string{}
	for k, v := range c.Meta {
		meta[k] = v
	}
	timeout := min(c.CheckInterval, 2*time.Second)
	reg := discovery.Registration{
		ID: c.ID, Service: c.Service, Address: c.Address, Port: c.AgentPort(),
		Tags: c.Tags, Meta: meta,
	}
	add := func(check discovery.Check) {
		check.DeregisterAfter = c.DeregisterCriticalAfter
		reg.Checks = append(reg.Checks, check)
	}
	for _, p := range append(pinpoint.Ports, pinpoint.Cluster) {
		port := c.Ports[p.Name]
		if port == 0 {
			continue
		}
		meta[p.MetaKey] = strconv.Itoa(port)
		addr := net.JoinHostPort(c.Address, strconv.Itoa(port))
		if p.Protocol == "tcp" {
			add(discovery.Check{
				ID: c.ID + ":tcp:" + p.MetaKey, Name: fmt.Sprintf("TCP %s (%d)", p.Name, port),
				TCP: addr, Interval: c.CheckInterval, Timeout: timeout,
			})
		}
		probe := probeOf(p)
		if probe == nil {
			continue
		}
		add(discovery.Check{
			ID: c.ID + ":probe:" + p.MetaKey, Name: fmt.Sprintf("pinlb probe %s (%d)", p.Name, port),
			// Three missed reports turn it critical on its own, should the
			// sidecar die without deregistering.
			TTL: 3 * c.CheckInterval, StartCritical: true,
			Run: func() error { return probe(addr, timeout) },
		})
	}
	return reg
}

// probeOf is what pinlb probes itself on port p, as Consul cannot: the
// Thrift ping, and the UDP network check; nil for the others.
func probeOf(p pinpoint.Port) func(addr string, timeout time.Duration) error {
	switch {
	case p.Name == "thrift-agent":
		return pingThrift
	case p.Protocol == "udp":
		return probeUDP
	}
	return nil
}

// pingThrift sends the Thrift agent channel's ping and expects its pong.
func pingThrift(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(pinpoint.Ping); err != nil {
		return err
	}
	var pong [2]byte
	if _, err := io.ReadFull(conn, pong[:]); err != nil {
		return fmt.Errorf("no pong: %w", err)
	}
	if !bytes.Equal(pong[:], pinpoint.Pong) {
		return fmt.Errorf("answered % x to ping, not the pong % x", pong, pinpoint.Pong)
	}
	return nil
}

// probeUDP sends Pinpoint's network-check datagram and expects "OK". A dead
// receiver answers with ICMP port unreachable, which fails the read at once;
// a silent one fails at the timeout.
func probeUDP(addr string, timeout time.Duration) error {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(pinpoint.Probe); err != nil {
		return err
	}
	buf := make([]byte, 16)
	n, err := conn.Read(buf)
	if err != nil {
		return fmt.Errorf("no reply to the network-check probe: %w", err)
	}
	if !bytes.Equal(buf[:n], pinpoint.ProbeReply) {
		return fmt.Errorf("answered %q to the probe, not %q", buf[:n], pinpoint.ProbeReply)
	}
	return nil
}

// Sidecar keeps one collector registered while it runs.
type Sidecar struct {
	client *discovery.Client
	cfg    Config
	logger hclog.Logger
}

// NewSidecar returns a sidecar; Run registers and keeps the checks fed.
func NewSidecar(client *discovery.Client, cfg Config, logger hclog.Logger) *Sidecar {
	return &Sidecar{client: client, cfg: cfg, logger: logger.With("service", cfg.Service, "id", cfg.ID)}
}

// Run registers the collector, reports its probes every check interval,
// registers it again whenever the agent has lost it, and deregisters it when
// ctx is done.
func (s *Sidecar) Run(ctx context.Context) error {
	reg := s.cfg.registration()
	return discovery.KeepRegistered(ctx, discovery.RegisterInput{
		Client:       s.client,
		Registration: func() discovery.Registration { return reg },
		Interval:     s.cfg.CheckInterval,
		Logger:       s.logger,
	})
}
