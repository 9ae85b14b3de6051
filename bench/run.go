package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// benchCase is one line of the table.
type benchCase struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Unit   string `json:"unit"`
	Higher bool   `json:"higher_is_better"`
	// Extra names the figure of another case's runs this line shows
	// (CPU per GB from the bulk runs); such lines have no run of their own.
	from, extra string
	targets     []string
	run         func(context.Context, *target) (result, error)
}

// cases lists what is measured, in the table's order.
func cases(o options, b *backends) []benchCase {
	all := []string{direct, nginx, haproxy, pinlb}
	udp := []string{direct, nginx, pinlb} // HAProxy community balances no UDP
	proxies := []string{nginx, haproxy, pinlb}
	var cs []benchCase
	for _, n := range []int{1, 8} {
		cs = append(cs, benchCase{
			Name: fmt.Sprintf("tcp_bulk_%d", n), Title: fmt.Sprintf("TCP bulk, %d stream(s)", n), Unit: "GB/s", Higher: true, targets: all,
			run: func(_ context.Context, t *target) (result, error) { return tcpBulk(t, n, o.tcpTime) },
		})
	}
	for _, n := range []int{8, 64} {
		name := fmt.Sprintf("tcp_rr_%d", n)
		cs = append(cs, benchCase{
			Name: name, Title: fmt.Sprintf("TCP 128 B req/resp, %d conns", n), Unit: "ops/s", Higher: true, targets: all,
			run: func(_ context.Context, t *target) (result, error) {
				return withSwitches(t, func() (result, error) { return reqResp(plain(t.ports.echo), n, o.tcpTime) }, "vcsw_per_msg")
			},
		},
			benchCase{Name: name + "_p50", Title: fmt.Sprintf("  p50 latency, %d conns", n), Unit: "µs", from: name, extra: "p50_us", targets: all},
			benchCase{Name: name + "_p99", Title: fmt.Sprintf("  p99 latency, %d conns", n), Unit: "µs", from: name, extra: "p99_us", targets: all},
			benchCase{Name: name + "_vcsw", Title: fmt.Sprintf("  voluntary switches per message, %d conns", n), Unit: "switches",
				from: name, extra: "vcsw_per_msg", targets: proxies})
	}
	cs = append(cs, benchCase{
		Name: "tcp_conn_rate", Title: "TCP connections, 8 workers", Unit: "conn/s", Higher: true, targets: all,
		run: func(_ context.Context, t *target) (result, error) { return connRate(t, 8, o.tcpTime) },
	}, benchCase{
		Name: "tcp_conn_rate_proxy_v2", Title: "  with a PROXY v2 header in", Unit: "conn/s", Higher: true, targets: proxies,
		run: func(_ context.Context, t *target) (result, error) { return proxiedConnRate(t, 8, o.tcpTime) },
	})
	cs = append(cs, tlsCases(o, b.tls.client, proxies)...)
	for _, size := range []int{512, 4096} {
		for _, src := range []int{4, 64} {
			name := fmt.Sprintf("udp_%d_%dsrc", size, src)
			cs = append(cs, benchCase{
				Name: name, Title: fmt.Sprintf("UDP %d B, %d sources: delivered", size, src), Unit: "dgram/s", Higher: true, targets: udp,
				run: func(_ context.Context, t *target) (result, error) { return udpOverload(t, b, src, size, o.udpTime) },
			})
			for _, rate := range o.rates {
				cs = append(cs, benchCase{
					Name:  fmt.Sprintf("%s_loss_%dk", name, int(rate/1000)),
					Title: fmt.Sprintf("  loss at %dk/s offered", int(rate/1000)), Unit: "%", targets: udp,
					run: func(_ context.Context, t *target) (result, error) { return udpLoss(t, b, src, size, rate, o.udpTime) },
				})
			}
		}
	}
	cs = append(cs,
		benchCase{
			Name: "rss_idle_conn", Title: fmt.Sprintf("RSS per idle TCP conn (%d)", o.idleConn), Unit: "bytes", targets: proxies,
			run: func(ctx context.Context, t *target) (result, error) { return idleRSS(ctx, t, o.idleConn, o.tcpTime) },
		},
		benchCase{
			Name: "rss_udp_flood", Title: fmt.Sprintf("RSS after UDP from %d ports", o.udpPorts), Unit: "MB", targets: []string{nginx, pinlb},
			run: func(_ context.Context, t *target) (result, error) { return udpFloodRSS(t, b, o.udpPorts) },
		},
		benchCase{Name: "cpu_per_gb", Title: "CPU per GB (bulk, 8 streams)", Unit: "cpu s", from: "tcp_bulk_8", extra: "cpu_s_per_gb", targets: proxies},
		benchCase{Name: "cpu_per_kconn", Title: "CPU per 1k connections", Unit: "cpu ms", from: "tcp_conn_rate", extra: "cpu_ms_per_kconn", targets: proxies},
		benchCase{Name: "vcsw_per_conn", Title: "voluntary switches per connection", Unit: "switches", from: "tcp_conn_rate", extra: "vcsw_per_conn", targets: proxies},
		benchCase{Name: "cpu_idle", Title: fmt.Sprintf("CPU with %d idle TCP conns", o.idleConn), Unit: "% core", from: "rss_idle_conn", extra: "idle_cpu_pct", targets: proxies},
		benchCase{Name: "cpu_per_mdgram", Title: "CPU per M datagrams (512 B, 64 src)", Unit: "cpu s", from: "udp_512_64src", extra: "cpu_s_per_million", targets: []string{nginx, pinlb}},
	)
	return selected(cs, o.only)
}

// selected keeps the cases only matches, and the lines that show their
// figures (p99 of a chosen req/resp case).
func selected(cs []benchCase, only *regexp.Regexp) []benchCase {
	if only == nil {
		return cs
	}
	return slices.DeleteFunc(cs, func(c benchCase) bool {
		return !only.MatchString(c.Name) && (c.from == "" || !only.MatchString(c.from))
	})
}

// tlsCases measure TLS termination: every TLS connection is decrypted and
// encrypted in user space, pinlb's too, and each handshake is a full one.
func tlsCases(o options, client *tls.Config, targets []string) []benchCase {
	over := func(t *target) dialFunc { return overTLS(t.ports.tls, client) }
	return []benchCase{{
		Name: "tls_bulk_1", Title: "TLS bulk, 1 stream (echoed)", Unit: "GB/s", Higher: true, targets: targets,
		run: func(_ context.Context, t *target) (result, error) { return bulk(over(t), o.tcpTime) },
	}, {
		Name: "tls_rr_8", Title: "TLS 128 B req/resp, 8 conns", Unit: "ops/s", Higher: true, targets: targets,
		run: func(_ context.Context, t *target) (result, error) { return reqResp(over(t), 8, o.tcpTime) },
	}, {
		Name: "tls_rr_8_p99", Title: "  p99 latency, 8 conns", Unit: "µs", from: "tls_rr_8", extra: "p99_us", targets: targets,
	}, {
		Name: "tls_handshakes", Title: "TLS handshakes, 8 workers", Unit: "conn/s", Higher: true, targets: targets,
		run: func(_ context.Context, t *target) (result, error) { return connections(over(t), nil, 8, o.tcpTime) },
	}}
}

// run starts the backends and the targets, runs every case o.reps times
// with the targets interleaved, and reports.
func run(ctx context.Context, o options, out io.Writer) (*report, error) {
	var err error
	if o.out, err = filepath.Abs(o.out); err != nil { // nginx -p takes it as its prefix
		return nil, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	raiseFileLimit(&o, out)
	b, err := startBackends(o.out)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	targets := map[string]*target{direct: {name: direct, ports: ports{echo: b.echo, iperf: b.iperf}}}
	for _, start := range []func() (*target, error){
		func() (*target, error) { return startNginx(*b, o.out) },
		func() (*target, error) { return startHAProxy(*b, o.out) },
		func() (*target, error) { return startPinlb(o.pinlb, *b, o.out) },
	} {
		t, err := start()
		if err != nil {
			for _, t := range targets {
				t.stop()
			}
			return nil, err
		}
		targets[t.name] = t
	}
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()

	rep := newReport(o, machine(), firstLine(exec.Command(o.pinlb, "version")))
	fmt.Fprintln(out, rep.Machine)
	fmt.Fprintln(out, "build:", rep.Build)
	cs := cases(o, b)
	begin := time.Now()
	for r := range o.reps {
		for _, c := range cs {
			if c.run == nil {
				continue
			}
			order := slices.Clone(c.targets)
			// Interleave: each repetition starts with another target.
			for i := 0; i < r%len(order); i++ {
				order = append(order[1:], order[0])
			}
			for _, name := range order {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				res, err := c.run(ctx, targets[name])
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					// One failure is a figure too: the table says so, and
					// the other cases still run.
					fmt.Fprintf(out, "%s on %s failed: %v\n", c.Title, name, err)
					rep.fail(c, name, err)
					continue
				}
				rep.add(c, name, res)
			}
		}
		fmt.Fprintf(out, "repetition %d of %d done (%s)\n", r+1, o.reps, time.Since(begin).Round(time.Second))
	}
	rep.finish(cs)
	rep.print(out)
	if err := rep.write(o.out); err != nil {
		return nil, err
	}
	return rep, nil
}

// raiseFileLimit lifts the open-file limit: 10,000 proxied connections
// take 20,000 sockets in each proxy and as many here; root may raise it,
// and the children inherit it. Where it cannot be raised, the
// idle-connection case shrinks to fit, and says so.
func raiseFileLimit(o *options, out io.Writer) {
	lim := syscall.Rlimit{Cur: 200000, Max: 200000}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		// This process holds both ends of every idle connection: two
		// sockets each, and so does each proxy.
		if n := int(lim.Cur-200) / 2; n < o.idleConn {
			fmt.Fprintf(out, "note: the open-file limit is %d and cannot be raised here (%v): the idle-connection case uses %d connections, not %d\n",
				lim.Cur, err, n, o.idleConn)
			o.idleConn = n
		}
	}
}

// machine describes where the run happened.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	var uts syscall.Utsname
	syscall.Uname(&uts)
	kernel := charsToString(uts.Release[:])
	return fmt.Sprintf("machine: %s, %d cores, Linux %s, %s; %s; %s; %s", cpu, runtime.NumCPU(), kernel, runtime.Version(),
		firstLine(exec.Command("nginx", "-v")), firstLine(exec.Command("haproxy", "-v")), firstLine(exec.Command("iperf3", "-v")))
}

func firstLine(cmd *exec.Cmd) string {
	out, _ := cmd.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func charsToString(cs []int8) string {
	b := make([]byte, 0, len(cs))
	for _, c := range cs {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
