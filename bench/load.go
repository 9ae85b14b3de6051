package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one measurement of one case on one target.
type result struct {
	Value float64 `json:"value"`
	// Extra holds the case's other figures (p50, p99, CPU, ...).
	Extra map[string]float64 `json:"extra,omitempty"`
	count float64            // operations in all, for per-operation figures
}

// tcpBulk runs iperf3 through addr for d with n streams: bits per second,
// and the proxy's CPU seconds per GB.
func tcpBulk(t *target, n int, d time.Duration) (result, error) {
	host, port, _ := net.SplitHostPort(t.ports.iperf)
	cpu0 := cpuSeconds(t.pids())
	// iperf3 takes whole seconds; 0 would mean for ever.
	secs := max(1, int(d.Round(time.Second)/time.Second))
	out, err := exec.Command("iperf3", "-c", host, "-p", port, "-P", fmt.Sprint(n), "-t", fmt.Sprint(secs), "-J").Output()
	if err != nil {
		return result{}, fmt.Errorf("iperf3 -c %s: %w: %s", t.ports.iperf, err, out)
	}
	cpu := cpuSeconds(t.pids()) - cpu0
	var r struct {
		End struct {
			SumReceived struct {
				Bytes         float64 `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return result{}, fmt.Errorf("iperf3 output: %w", err)
	}
	res := result{Value: r.End.SumReceived.BitsPerSecond / 8 / 1e9, Extra: map[string]float64{}} // GB/s
	if t.cmd != nil && r.End.SumReceived.Bytes > 0 {
		res.Extra["cpu_s_per_gb"] = cpu / (r.End.SumReceived.Bytes / 1e9)
	}
	return res, nil
}

// dialFunc opens a client connection to a target's listener.
type dialFunc func() (net.Conn, error)

func plain(addr string) dialFunc { return func() (net.Conn, error) { return net.Dial("tcp", addr) } }

// overTLS dials addr and completes a full TLS handshake.
func overTLS(addr string, cfg *tls.Config) dialFunc {
	return func() (net.Conn, error) { return tls.Dial("tcp", addr, cfg) }
}

// reqResp keeps conns persistent connections, each sending 128 bytes and
// waiting for their echo, for d: operations per second, p50 and p99.
func reqResp(dial dialFunc, conns int, d time.Duration) (result, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lats []time.Duration
		errs atomic.Int64
	)
	stop := time.Now().Add(d)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial()
			if err != nil {
				errs.Add(1)
				return
			}
			defer c.Close()
			msg, buf := make([]byte, 128), make([]byte, 128)
			mine := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(stop) {
				t0 := time.Now()
				if _, err := c.Write(msg); err != nil {
					errs.Add(1)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs.Add(1)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if errs.Load() > 0 || len(lats) == 0 {
		return result{}, fmt.Errorf("request/response: %d connections failed", errs.Load())
	}
	slices.Sort(lats)
	return result{Value: float64(len(lats)) / elapsed.Seconds(), Extra: map[string]float64{
		"p50_us": float64(lats[len(lats)/2].Microseconds()),
		"p99_us": float64(lats[len(lats)*99/100].Microseconds()),
	}}, nil
}

// connRate has workers connect, send 128 bytes, read the echo and close,
// for d: connections per second.
func connRate(t *target, workers int, d time.Duration) (result, error) {
	return withCPUPerConn(t, func() (result, error) { return connections(plain(t.ports.echo), nil, workers, d) })
}

// withCPUPerConn runs a connection-rate case and adds the proxy's CPU
// milliseconds per thousand connections: on a machine whose cores the
// load and the backends share, what a connection costs the proxy is what
// its rate is bounded by. It adds the proxy's voluntary context switches
// per connection too.
func withCPUPerConn(t *target, run func() (result, error)) (result, error) {
	cpu0 := cpuSeconds(t.pids())
	res, err := withSwitches(t, run, "vcsw_per_conn")
	if err != nil || t.cmd == nil || res.Value == 0 {
		return res, err
	}
	res.Extra["cpu_ms_per_kconn"] = (cpuSeconds(t.pids()) - cpu0) * 1e3 / (res.count / 1e3)
	return res, nil
}

// withSwitches runs a case whose Value is a rate and adds the proxy's
// voluntary context switches per operation, as key: how often it slept
// and was woken for each (nginx's figure is the floor a proxy aims at).
func withSwitches(t *target, run func() (result, error), key string) (result, error) {
	sw0 := voluntarySwitches(t.pids())
	start := time.Now()
	res, err := run()
	if err != nil || t.cmd == nil || res.Value == 0 {
		return res, err
	}
	res.count = res.Value * time.Since(start).Seconds()
	if res.Extra == nil {
		res.Extra = map[string]float64{}
	}
	res.Extra[key] = (voluntarySwitches(t.pids()) - sw0) / res.count
	return res, nil
}

// proxyV2 is a PROXY v2 header for 192.0.2.1:5000 → 198.51.100.7:9991, as
// a balancer in front sends it: the signature, PROXY over TCP/IPv4, the 12
// bytes of addresses and ports.
var proxyV2 = append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"),
	192, 0, 2, 1, 198, 51, 100, 7, 0x13, 0x88, 0x27, 0x07)

// proxiedConnRate is connRate with a PROXY v2 header before each
// connection's request, to the proxy's listener that reads it.
func proxiedConnRate(t *target, workers int, d time.Duration) (result, error) {
	return connections(plain(t.ports.proxy), proxyV2, workers, d)
}

// connections opens connections with dial, each sending header (if any)
// and a 128-byte request and reading the echo, from workers goroutines for
// d.
func connections(dial dialFunc, header []byte, workers int, d time.Duration) (result, error) {
	var (
		wg         sync.WaitGroup
		done, errs atomic.Int64
	)
	stop := time.Now().Add(d)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, buf := append(slices.Clone(header), make([]byte, 128)...), make([]byte, 128)
			for time.Now().Before(stop) {
				c, err := dial()
				if err != nil {
					errs.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				_, err = c.Write(msg)
				if err == nil {
					_, err = io.ReadFull(c, buf)
				}
				c.Close()
				if err != nil {
					errs.Add(1)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return result{Value: float64(done.Load()) / time.Since(start).Seconds(), Extra: map[string]float64{"errors": float64(errs.Load())}}, nil
}

// bulk sends as fast as one connection takes for d, reading the echo back
// until every byte sent is back: gigabytes a second echoed. It never
// half-closes: nginx ends a whole session when one side does
// (proxy_half_close is off by default).
func bulk(dial dialFunc, d time.Duration) (result, error) {
	c, err := dial()
	if err != nil {
		return result{}, err
	}
	defer c.Close()
	start := time.Now()
	var sent atomic.Int64
	var finished atomic.Bool // sent is final
	werr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for stop := start.Add(d); time.Now().Before(stop); {
			n, err := c.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				werr <- err
				return
			}
		}
		finished.Store(true)
		werr <- nil
	}()
	buf := make([]byte, 64<<10)
	var got int64
	for giveUp := start.Add(d + 10*time.Second); !finished.Load() || got < sent.Load(); {
		// Short deadlines: the reader must notice the writer's end even
		// when it has read everything sent so far.
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := c.Read(buf)
		got += int64(n)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(giveUp):
		default:
			return result{}, fmt.Errorf("bulk: %w after %d of %d bytes", err, got, sent.Load())
		}
	}
	if err := <-werr; err != nil {
		return result{}, fmt.Errorf("bulk: write: %w", err)
	}
	return result{Value: float64(got) / time.Since(start).Seconds() / 1e9}, nil
}

// idleRSS opens n connections through t, each echoing one byte so that it
// reaches the backend, and reports the proxy's extra resident memory per
// connection, in bytes, and the share of a core it uses over window with
// them all open and idle (an idle proxy should use none).
func idleRSS(ctx context.Context, t *target, n int, window time.Duration) (result, error) {
	if t.cmd == nil {
		return result{}, nil
	}
	runtimeSettle()
	before := rssBytes(t.pids())
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 1)
	deadline := time.Now().Add(2 * time.Minute) // a proxy out of descriptors may take one a second
	for range n {
		if ctx.Err() != nil {
			return result{}, ctx.Err()
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("only %d of %d connections in 2 minutes", len(conns), n)
		}
		c, err := net.DialTimeout("tcp", t.ports.echo, 5*time.Second)
		if err != nil {
			return result{}, fmt.Errorf("connection %d of %d: %w", len(conns)+1, n, err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(buf); err == nil {
			_, err = io.ReadFull(c, buf)
		}
		if err != nil {
			return result{}, fmt.Errorf("connection %d of %d never reached the backend: %w", len(conns), n, err)
		}
	}
	runtimeSettle()
	after := rssBytes(t.pids())
	cpu0 := cpuSeconds(t.pids())
	time.Sleep(window) // a window to measure in: the connections are idle
	idle := (cpuSeconds(t.pids()) - cpu0) / window.Seconds() * 100
	return result{Value: (after - before) / float64(n), Extra: map[string]float64{"idle_cpu_pct": idle}}, nil
}

// runtimeSettle gives the proxies a moment to finish what they were doing.
func runtimeSettle() { time.Sleep(300 * time.Millisecond) }
