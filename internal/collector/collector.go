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

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/pinpoint"
	"github.com/pinlb/pinlb/internal/registrar"
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

// probe is a check pinlb runs itself and reports through a TTL check.
type probe struct {
	checkID string
	addr    string
	run     func(addr string, timeout time.Duration) error
}

// registration is the service definition: Port is the agent port, every
// served port is in Meta under its pinpoint.Port.MetaKey, with a Consul TCP
// check per TCP port and TTL checks for pinlb's probes.
func (c Config) registration() (*api.AgentServiceRegistration, []probe) {
	meta := map[string]string{}
	for k, v := range c.Meta {
		meta[k] = v
	}
	timeout := min(c.CheckInterval, 2*time.Second).String()
	reg := &api.AgentServiceRegistration{
		ID: c.ID, Name: c.Service, Address: c.Address, Port: c.AgentPort(),
		Tags: c.Tags, Meta: meta,
	}
	var probes []probe
	add := func(check *api.AgentServiceCheck) {
		if c.DeregisterCriticalAfter > 0 {
			check.DeregisterCriticalServiceAfter = c.DeregisterCriticalAfter.String()
		}
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
			add(&api.AgentServiceCheck{
				CheckID: c.ID + ":tcp:" + p.Name, Name: fmt.Sprintf("TCP %s (%d)", p.Name, port),
				TCP: addr, Interval: c.CheckInterval.String(), Timeout: timeout,
			})
		}
		var run func(string, time.Duration) error
		switch {
		case p.Name == "thrift-agent":
			run = pingThrift
		case p.Protocol == "udp":
			run = probeUDP
		default:
			continue
		}
		id := c.ID + ":probe:" + p.Name
		add(&api.AgentServiceCheck{
			CheckID: id, Name: fmt.Sprintf("pinlb probe %s (%d)", p.Name, port),
			// Three missed reports turn it critical on its own, should the
			// sidecar die without deregistering.
			TTL: (3 * c.CheckInterval).String(), Status: api.HealthCritical,
		})
		probes = append(probes, probe{checkID: id, addr: addr, run: run})
	}
	return reg, probes
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
	client *api.Client
	cfg    Config
	logger hclog.Logger
}

// NewSidecar returns a sidecar; Run registers and keeps the checks fed.
func NewSidecar(client *api.Client, cfg Config, logger hclog.Logger) *Sidecar {
	return &Sidecar{client: client, cfg: cfg, logger: logger.With("service", cfg.Service, "id", cfg.ID)}
}

// Run registers the collector, reports its probes every check interval,
// registers it again whenever the agent has lost it, and deregisters it when
// ctx is done.
func (s *Sidecar) Run(ctx context.Context) error {
	reg, probes := s.cfg.registration()
	timeout := min(s.cfg.CheckInterval, 2*time.Second)
	checks := make([]registrar.Check, len(probes))
	for i, p := range probes {
		checks[i] = registrar.Check{ID: p.checkID, Run: func() error { return p.run(p.addr, timeout) }}
	}
	return registrar.Run(ctx, registrar.Input{
		Client:       s.client,
		Registration: func() (*api.AgentServiceRegistration, []registrar.Check) { return reg, checks },
		Interval:     s.cfg.CheckInterval,
		Logger:       s.logger,
	})
}
