package testsupport

// This file runs a real Consul server for tests: the pinned binary that
// `make consul` builds, on free loopback ports, with a data directory that
// survives a restart.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/internal/consulbin"
)

// ConsulOptions adjust the server.
type ConsulOptions struct {
	// ACL enables ACLs with default policy deny; the management token is
	// ManagementToken.
	ACL bool
	// HTTPAddr is the HTTP API's loopback address; empty picks a free port.
	HTTPAddr string
	// TLSDir, when set, holds ca.pem, server.pem and server-key.pem: the
	// server then also serves HTTPS, on Server.HTTPS.
	TLSDir string
}

// ManagementToken is the initial management token of ACL-enabled servers.
const ManagementToken = "11111111-2222-3333-4444-555555555555"

// Server is a running Consul server.
type Consul struct {
	t       testing.TB
	bin     string
	dir     string
	config  string
	HTTP    string // host:port of the HTTP API
	HTTPS   string // host:port of the HTTPS API, with ConsulOptions.TLSDir
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *bytes.Buffer
	options ConsulOptions
}

// Start starts a single-server Consul and waits until it has a leader. It
// is stopped at the end of the test. Ports another process took between
// the pick and Consul's bind are picked again.
func StartConsul(t testing.TB, opts ConsulOptions) *Consul {
	t.Helper()
	bin, err := consulbin.Path()
	if err != nil {
		Missing(t, err.Error())
	}
	dir := t.TempDir()
	s := &Consul{t: t, bin: bin, dir: dir, config: filepath.Join(dir, "consul.json"), options: opts}
	t.Cleanup(s.Stop)
	for attempt := 1; ; attempt++ {
		s.writeConfig(freePorts(t, 6))
		err := s.launch()
		if err == nil {
			return s
		}
		if !strings.Contains(err.Error(), "address already in use") || attempt == 3 {
			t.Fatal(err)
		}
	}
}

// writeConfig writes the server's configuration on the given ports: HTTP,
// Serf LAN and WAN, server RPC, DNS and (with TLSDir) HTTPS.
func (s *Consul) writeConfig(ports []int) {
	s.t.Helper()
	opts := s.options
	if opts.HTTPAddr != "" {
		_, p, err := net.SplitHostPort(opts.HTTPAddr)
		if err != nil {
			s.t.Fatal(err)
		}
		fmt.Sscan(p, &ports[0])
	}
	cfg := map[string]any{
		"node_name":            "pinlb-test",
		"datacenter":           "dc1",
		"server":               true,
		"bootstrap_expect":     1,
		"data_dir":             filepath.Join(s.dir, "data"),
		"bind_addr":            "127.0.0.1",
		"client_addr":          "127.0.0.1",
		"advertise_addr":       "127.0.0.1",
		"log_level":            "warn",
		"disable_update_check": true,
		"ports": map[string]int{
			"http": ports[0], "serf_lan": ports[1], "serf_wan": ports[2],
			"server": ports[3], "dns": ports[4], "grpc": -1, "grpc_tls": -1, "https": -1,
		},
		"performance": map[string]any{"raft_multiplier": 1},
		// The node's serf check should not flap on a loaded CI machine.
		"check_update_interval": "0s",
	}
	if opts.ACL {
		cfg["acl"] = map[string]any{
			"enabled":                  true,
			"default_policy":           "deny",
			"enable_token_persistence": true,
			"tokens":                   map[string]string{"initial_management": ManagementToken, "agent": ManagementToken},
		}
	}
	s.HTTP = fmt.Sprintf("127.0.0.1:%d", ports[0])
	if d := opts.TLSDir; d != "" {
		cfg["ports"].(map[string]int)["https"] = ports[5]
		cfg["tls"] = map[string]any{"defaults": map[string]any{
			"ca_file": filepath.Join(d, "ca.pem"), "cert_file": filepath.Join(d, "server.pem"),
			"key_file": filepath.Join(d, "server-key.pem"), "verify_incoming": false,
		}}
		s.HTTPS = fmt.Sprintf("127.0.0.1:%d", ports[5])
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(s.config, b, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Consul) start() {
	s.t.Helper()
	if err := s.launch(); err != nil {
		s.t.Fatal(err)
	}
}

// launch starts the process and waits for its leader.
func (s *Consul) launch() error {
	s.mu.Lock()
	s.log = &bytes.Buffer{}
	cmd := exec.Command(s.bin, "agent", "-config-file="+s.config)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start consul: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(s.exited)
	s.mu.Unlock()
	return s.waitForLeader()
}

// Token is the management token with ACLs, else empty.
func (s *Consul) Token() string {
	if s.options.ACL {
		return ManagementToken
	}
	return ""
}

// Client returns an API client with the management token (if any).
func (s *Consul) Client() *api.Client {
	s.t.Helper()
	cfg := api.DefaultNonPooledConfig()
	cfg.Address, cfg.Token = s.HTTP, s.Token()
	c, err := api.NewClient(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// WaitForLeader waits until the server answers with a leader and has
// registered its own node.
func (s *Consul) WaitForLeader() {
	s.t.Helper()
	if err := s.waitForLeader(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Consul) waitForLeader() error {
	c := s.Client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		leader, err := c.Status().Leader()
		if err == nil && leader != "" {
			if nodes, _, err := c.Catalog().Nodes(nil); err == nil && len(nodes) > 0 {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("consul exited: %s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consul has no leader after 30s: %v\n%s", err, s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server gracefully. The data directory stays, for Restart.
func (s *Consul) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// Restart stops the server and starts it again on the same ports and data.
func (s *Consul) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Wipe kills the server and starts it again on the same ports with an
// empty data directory: a Consul that lost its data, as a dev agent, a
// lost disk or a rebuilt cluster do. Its index starts over, lower.
func (s *Consul) Wipe() {
	s.t.Helper()
	s.Kill()
	if err := os.RemoveAll(filepath.Join(s.dir, "data")); err != nil {
		s.t.Fatal(err)
	}
	s.start()
}

// Kill stops the server with SIGKILL, as a crash does, and waits until it
// is gone. The data directory stays, for Restart.
func (s *Consul) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// Snapshot saves the server's state; Restore puts a saved state back.
func (s *Consul) Snapshot() []byte {
	s.t.Helper()
	rc, _, err := s.Client().Snapshot().Save(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		s.t.Fatal(err)
	}
	return b.Bytes()
}

// Restore restores a snapshot taken with Snapshot.
func (s *Consul) Restore(snap []byte) {
	s.t.Helper()
	if err := s.Client().Snapshot().Restore(nil, bytes.NewReader(snap)); err != nil {
		s.t.Fatal(err)
	}
}
