//go:build linux

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/consul/api"
)

// Consul is a Consul agent on a host: a server, or the client agent every
// other host runs. Each host has one, so every agent uses Consul's default
// ports, on the host's address and on its loopback.
type Consul struct {
	*Proc
	Host   *Host
	Server bool
}

// consulConfig is an agent's configuration: retry_join finds the servers
// however they start, telemetry keeps Prometheus counters for the RPC
// figures, and DNS answers are not cached (Consul's default TTL of 0).
func consulConfig(h *Host, dir string, server bool, servers []*Host, expect int) map[string]any {
	join := []string{}
	for _, s := range servers {
		join = append(join, s.IP.String())
	}
	cfg := map[string]any{
		"node_name":            h.Name,
		"datacenter":           "dc1",
		"data_dir":             filepath.Join(dir, "data"),
		"bind_addr":            h.IP.String(),
		"advertise_addr":       h.IP.String(),
		"client_addr":          "127.0.0.1 " + h.IP.String(),
		"retry_join":           join,
		"retry_interval":       "1s",
		"log_level":            "warn",
		"disable_update_check": true,
		"performance":          map[string]any{"raft_multiplier": 1},
		"telemetry":            map[string]any{"prometheus_retention_time": "10m", "disable_hostname": true},
	}
	if server {
		cfg["server"], cfg["bootstrap_expect"] = true, expect
	}
	return cfg
}

// StartConsul starts h's agent, with its data in dir.
func StartConsul(bin string, h *Host, dir string, server bool, servers []*Host) (*Consul, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(consulConfig(h, dir, server, servers, len(servers)))
	file := filepath.Join(dir, "consul.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return nil, err
	}
	c := &Consul{Proc: newProc(h, bin, "agent", "-config-file="+file), Host: h, Server: server}
	return c, c.Start()
}

// Client is an API client of the agent, from its host.
func (c *Consul) Client() *api.Client { return consulClient(c.Host) }

func consulClient(h *Host) *api.Client {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = "127.0.0.1:8500"
	cfg.Transport.DialContext = h.Dial
	cfg.Transport.DisableKeepAlives = true
	c, _ := api.NewClient(cfg)
	return c
}

// WaitLeader waits until the agent knows a leader.
func (c *Consul) WaitLeader(ctx context.Context) error {
	return Until(ctx, 200*time.Millisecond, func() error {
		if !c.Running() {
			return errors.New("consul exited: " + c.Log())
		}
		leader, err := c.Client().Status().Leader()
		if err == nil && leader == "" {
			err = errors.New("no leader")
		}
		return err
	})
}

// Leader is the host name of the cluster's leader, as c sees it.
func (c *Consul) Leader() (string, error) {
	addr, err := c.Client().Status().Leader()
	if err != nil || addr == "" {
		return "", fmt.Errorf("no leader (%v)", err)
	}
	members, err := c.Client().Agent().Members(false)
	if err != nil {
		return "", err
	}
	for _, m := range members {
		if m.Tags["role"] == "consul" && fmt.Sprintf("%s:%s", m.Addr, m.Tags["port"]) == addr {
			return m.Name, nil
		}
	}
	return "", fmt.Errorf("leader %s is no member", addr)
}

// Metrics reads the agent's Prometheus counters whose names are given.
func (c *Consul) Metrics(names ...string) (map[string]float64, error) {
	hc := &http.Client{Transport: &http.Transport{DialContext: c.Host.Dial, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := hc.Get("http://127.0.0.1:8500/v1/agent/metrics?format=prometheus")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return promCounters(resp.Body, names)
}

// Until calls fn every interval until it returns nil or ctx ends; then it
// returns fn's last error.
func Until(ctx context.Context, interval time.Duration, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}
