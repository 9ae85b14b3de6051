package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Target names, in the order the table shows them.
const (
	direct  = "direct"
	nginx   = "nginx"
	haproxy = "haproxy"
	pinlb   = "pinlb"
)

// ports are where one target listens: what the load generators connect to.
type ports struct {
	echo  string // TCP: echoes what it reads
	proxy string // TCP: to the echo server, taking a PROXY v2 header first; empty for direct
	tls   string // TCP: to the echo server, terminating TLS; empty for direct
	iperf string // TCP: to the iperf3 server
	udp   string // UDP: to the two datagram sinks; empty when the target has no UDP
}

// target is a proxy under test (or the backends themselves, for direct).
type target struct {
	name  string
	ports ports
	cmd   *exec.Cmd // nil for direct
	dir   string
	args  []string // how to start it again
}

// pids returns the target's processes: the main one and its children
// (nginx's workers), whose RSS and CPU time count.
func (t *target) pids() []int {
	if t.cmd == nil {
		return nil
	}
	root := t.cmd.Process.Pid
	pids := []int{root}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := parentOf(pid); err == nil && ppid == root {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (t *target) stop() {
	if t.cmd != nil && t.cmd.Process != nil {
		t.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { t.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.cmd.Process.Kill()
		}
	}
}

// restart stops the proxy and starts it again, on the same ports, so that
// a memory case starts from a fresh process.
func (t *target) restart() error {
	if t.cmd == nil {
		return nil
	}
	t.stop()
	n, err := start(t.name, t.ports, t.dir, t.args...)
	if err != nil {
		return err
	}
	*t = *n
	return nil
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort(network string) (string, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.LocalAddr().String(), nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func newPorts(withUDP bool) (ports, error) {
	var p ports
	var err error
	if p.echo, err = freePort("tcp"); err != nil {
		return p, err
	}
	if p.iperf, err = freePort("tcp"); err != nil {
		return p, err
	}
	if p.proxy, err = freePort("tcp"); err != nil {
		return p, err
	}
	if p.tls, err = freePort("tcp"); err != nil {
		return p, err
	}
	if withUDP {
		p.udp, err = freePort("udp")
	}
	return p, err
}

// start runs a proxy and waits until its TCP ports accept.
func start(name string, p ports, dir string, args ...string) (*target, error) {
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &target{name: name, ports: p, cmd: cmd, dir: dir, args: args}
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range []string{p.echo, p.iperf, p.proxy, p.tls} {
		for {
			c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.stop()
				return nil, fmt.Errorf("%s did not listen on %s; see %s", name, addr, log.Name())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return t, nil
}

// nginxModule is where Debian's libnginx-mod-stream puts the stream module.
const nginxModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

func startNginx(b backends, dir string) (*target, error) {
	p, err := newPorts(true)
	if err != nil {
		return nil, err
	}
	// Two workers for two cores, as pinlb's GOMAXPROCS; proxy_responses 0
	// ends each UDP "session" after its datagram, so every datagram is
	// balanced, as pinlb's packet mode does.
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile %[10]d;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
load_module %[2]s;
events { worker_connections 100000; }
stream {
  upstream echo { server %[3]s; }
  upstream iperf { server %[4]s; }
  upstream udp { server %[5]s; server %[6]s; }
  server { listen %[7]s reuseport; proxy_pass echo; proxy_timeout 10m; }
  server { listen %[8]s reuseport; proxy_pass iperf; proxy_timeout 10m; }
  server { listen %[9]s udp reuseport; proxy_pass udp; proxy_responses 0; }
  server { listen %[11]s reuseport proxy_protocol; proxy_pass echo; proxy_timeout 10m; }
  server {
    listen %[12]s reuseport ssl;
    ssl_certificate %[13]s;
    ssl_certificate_key %[14]s;
    ssl_protocols TLSv1.3;
    ssl_conf_command Ciphersuites %[15]s;
    ssl_ecdh_curve %[16]s;
    proxy_pass echo;
    proxy_timeout 10m;
  }
}
`, dir, nginxModule, b.echo, b.iperf, b.udp[0], b.udp[1], p.echo, p.iperf, p.udp, fileLimit(), p.proxy,
		p.tls, b.tls.cert, b.tls.key, tlsSuite, tlsGroupSSL)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return start(nginx, p, dir, "nginx", "-p", dir, "-c", path)
}

func startHAProxy(b backends, dir string) (*target, error) {
	p, err := newPorts(false) // HAProxy (community) balances no UDP
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`global
  maxconn %d
  nbthread 2
defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m
listen echo
  bind %s
  server s1 %s
listen iperf
  bind %s
  server s1 %s
listen proxied
  bind %s accept-proxy
  server s1 %s
listen tls
  bind %s ssl crt %s ssl-min-ver TLSv1.3 ciphersuites %s curves %s
  server s1 %s
`, maxConns(), p.echo, b.echo, p.iperf, b.iperf, p.proxy, b.echo, p.tls, b.tls.both, tlsSuite, tlsGroupSSL, b.echo)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return start(haproxy, p, dir, "haproxy", "-db", "-f", path)
}

func startPinlb(bin string, b backends, dir string) (*target, error) {
	p, err := newPorts(true)
	if err != nil {
		return nil, err
	}
	// The Pinpoint default for UDP: packet mode. No idle timeout, as the
	// others' 10 minutes never fire here; no API.
	conf := fmt.Sprintf(`log_level = "warn"
api { enabled = false }
listener "echo" {
  address      = %q
  idle_timeout = "0"
  upstream { servers = [%q] }
}
listener "iperf" {
  address      = %q
  idle_timeout = "0"
  upstream { servers = [%q] }
}
listener "udp" {
  protocol = "udp"
  address  = %q
  udp { mode = "packet" }
  upstream { servers = [%q, %q] }
}
listener "proxied" {
  address      = %q
  idle_timeout = "0"
  proxy_protocol {
    accept  = true
    trusted = ["127.0.0.1"]
  }
  upstream { servers = [%q] }
}
listener "tls" {
  address      = %q
  idle_timeout = "0"
  tls {
    cert_file = %q
    key_file  = %q
  }
  upstream { servers = [%q] }
}
`, p.echo, b.echo, p.iperf, b.iperf, p.udp, b.udp[0], b.udp[1], p.proxy, b.echo, p.tls, b.tls.cert, b.tls.key, b.echo)
	path := filepath.Join(dir, "pinlb.hcl")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return start(pinlb, p, dir, bin, "agent", "-config-file="+path)
}

// fileLimit is the open-file limit the proxies run with.
func fileLimit() int {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return int(lim.Cur)
}

// maxConns is HAProxy's maxconn: what two sockets per connection leave of
// the open-file limit (HAProxy refuses to start if it cannot have them).
func maxConns() int { return (fileLimit() - 100) / 2 }

// parentOf reads a process's parent from /proc/PID/stat.
func parentOf(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[1])
}

// statFields returns /proc/PID/stat's fields after the command name.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:]), nil
}

// cpuSeconds is the user+system CPU time of pids.
func cpuSeconds(pids []int) float64 {
	var ticks float64
	for _, pid := range pids {
		f, err := statFields(pid)
		if err != nil || len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64) // utime (field 14)
		s, _ := strconv.ParseFloat(f[12], 64) // stime (field 15)
		ticks += u + s
	}
	return ticks / 100 // USER_HZ
}

// voluntarySwitches is how many times the threads of pids gave up their
// CPU to wait (voluntary_ctxt_switches of /proc/PID/task/*/status): the
// sleeps and wake-ups a proxy's messages cost it.
func voluntarySwitches(pids []int) float64 {
	var total float64
	for _, pid := range pids {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
			if err != nil {
				continue // the thread ended meanwhile
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
					total += n
				}
			}
		}
	}
	return total
}

// rssBytes is the resident memory of pids.
func rssBytes(pids []int) float64 {
	var total float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				total += kb * 1024
			}
		}
	}
	return total
}
