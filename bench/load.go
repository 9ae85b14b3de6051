package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// backends are the servers every target forwards to, shared by all.
type backends struct {
	echo  string
	iperf string
	udp   [2]string

	echoLn   net.Listener
	iperfCmd *exec.Cmd
	sinks    [2]*sink
}

func startBackends(dir string) (*backends, error) {
	b := &backends{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.echoLn, b.echo = ln, ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go echo(c)
		}
	}()
	if b.iperf, err = freePort("tcp"); err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(b.iperf)
	log, err := os.Create(filepath.Join(dir, "iperf3-server.log"))
	if err != nil {
		return nil, err
	}
	b.iperfCmd = exec.Command("iperf3", "-s", "-B", "127.0.0.1", "-p", port)
	b.iperfCmd.Stdout, b.iperfCmd.Stderr = log, log
	b.iperfCmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.iperfCmd.Start(); err != nil {
		return nil, fmt.Errorf("iperf3: %w", err)
	}
	for i := range b.sinks {
		if b.sinks[i], err = startSink(); err != nil {
			return nil, err
		}
		b.udp[i] = b.sinks[i].addr
	}
	return b, waitTCP(b.iperf)
}

// echo writes back what it reads. Not io.Copy: between two TCP sockets it
// splices, and Go's splice holds a pipe (two more file descriptors) per
// connection for as long as it lives, which would make this process, not
// the proxy, run out of descriptors in the idle-connection case.
func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (b *backends) stop() {
	b.echoLn.Close()
	if b.iperfCmd != nil && b.iperfCmd.Process != nil {
		b.iperfCmd.Process.Kill()
		b.iperfCmd.Wait()
	}
	for _, s := range b.sinks {
		if s != nil {
			s.conn.Close()
		}
	}
}

func (b *backends) received() uint64 { return b.sinks[0].n.Load() + b.sinks[1].n.Load() }

func waitTCP(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sink counts the datagrams it receives, reading them in batches so that
// it is not what limits a run.
type sink struct {
	addr string
	conn *net.UDPConn
	n    atomic.Uint64
}

func startSink() (*sink, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(32 << 20)
	s := &sink{addr: c.LocalAddr().String(), conn: c}
	go func() {
		pc := ipv4.NewPacketConn(c)
		msgs := make([]ipv4.Message, 64)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, 65536)}
		}
		for {
			n, err := pc.ReadBatch(msgs, 0)
			if err != nil {
				return
			}
			s.n.Add(uint64(n))
		}
	}()
	return s, nil
}

// result is one measurement of one case on one target.
type result struct {
	Value float64 `json:"value"`
	// Extra holds the case's other figures (p50, p99, CPU, ...).
	Extra map[string]float64 `json:"extra,omitempty"`
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

// reqResp keeps conns persistent connections, each sending 128 bytes and
// waiting for their echo, for d: operations per second, p50 and p99.
func reqResp(t *target, conns int, d time.Duration) (result, error) {
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
			c, err := net.Dial("tcp", t.ports.echo)
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
		return result{}, fmt.Errorf("request/response through %s: %d connections failed", t.ports.echo, errs.Load())
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
			msg, buf := make([]byte, 128), make([]byte, 128)
			for time.Now().Before(stop) {
				c, err := net.Dial("tcp", t.ports.echo)
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

// udpSend sends size-byte datagrams to addr from sources source ports for
// d, at rate datagrams per second (0: as fast as it can), spreading them
// over the sockets. It returns how many it sent.
func udpSend(addrs []string, sources, size int, rate float64, d time.Duration) (uint64, error) {
	socks := make([]*ipv4.PacketConn, sources)
	raw := make([]*net.UDPConn, sources)
	for i := range socks {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		defer c.Close()
		c.SetWriteBuffer(4 << 20)
		raw[i], socks[i] = c, ipv4.NewPacketConn(c)
	}
	dst := make([]*net.UDPAddr, len(addrs))
	for i, a := range addrs {
		ua, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			return 0, err
		}
		dst[i] = ua
	}
	// Two senders, one per core; each sends batches of 32 with sendmmsg.
	const batch = 32
	senders := 2
	var sent atomic.Uint64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, size)
			msgs := make([]ipv4.Message, batch)
			for i := range msgs {
				msgs[i].Buffers = [][]byte{payload}
			}
			start := time.Now()
			var mine uint64
			for k := s; time.Now().Before(stop); k += senders {
				if rate > 0 {
					// Pace: this sender's share of rate.
					due := time.Duration(float64(mine) / (rate / float64(senders)) * float64(time.Second))
					if wait := due - time.Since(start); wait > 0 {
						time.Sleep(wait)
					}
				}
				for i := range msgs {
					msgs[i].Addr = dst[(k+i)%len(dst)]
				}
				n, err := socks[k%sources].WriteBatch(msgs, 0)
				if err != nil && !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOBUFS) && !errors.Is(err, syscall.EAGAIN) {
					return
				}
				mine += uint64(max(n, 0))
			}
			sent.Add(mine)
		}()
	}
	wg.Wait()
	return sent.Load(), nil
}

// udpTargets is where the UDP load goes for t: the proxy's port, or both
// sinks for direct.
func udpTargets(t *target, b *backends) []string {
	if t.cmd == nil {
		return b.udp[:]
	}
	return []string{t.ports.udp}
}

// udpOverload sends as fast as it can for d: datagrams delivered per
// second, and the proxy's CPU seconds per million datagrams.
func udpOverload(t *target, b *backends, sources, size int, d time.Duration) (result, error) {
	before := b.received()
	cpu0 := cpuSeconds(t.pids())
	start := time.Now()
	if _, err := udpSend(udpTargets(t, b), sources, size, 0, d); err != nil {
		return result{}, err
	}
	got := settle(b, before)
	res := result{Value: float64(got) / time.Since(start).Seconds(), Extra: map[string]float64{}}
	if t.cmd != nil && got > 0 {
		res.Extra["cpu_s_per_million"] = (cpuSeconds(t.pids()) - cpu0) / (float64(got) / 1e6)
	}
	return res, nil
}

// udpLoss offers rate datagrams per second for d: the fraction lost, in
// percent.
func udpLoss(t *target, b *backends, sources, size int, rate float64, d time.Duration) (result, error) {
	before := b.received()
	sent, err := udpSend(udpTargets(t, b), sources, size, rate, d)
	if err != nil {
		return result{}, err
	}
	got := settle(b, before)
	loss := 100 * (1 - float64(got)/float64(max(sent, 1)))
	return result{Value: max(0, loss), Extra: map[string]float64{"offered_per_s": float64(sent) / d.Seconds()}}, nil
}

// settle waits until the sinks stop receiving and returns how many
// datagrams arrived since before.
func settle(b *backends, before uint64) uint64 {
	last := b.received()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		now := b.received()
		if now == last {
			break
		}
		last = now
	}
	return last - before
}

// idleRSS opens n connections through t, each echoing one byte so that it
// reaches the backend, and reports the proxy's extra resident memory per
// connection, in bytes.
func idleRSS(ctx context.Context, t *target, n int) (result, error) {
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
	return result{Value: (after - before) / float64(n)}, nil
}

// udpFloodRSS restarts the proxy, sends a few datagrams from each of n
// source ports through it, and reports its resident memory then, in MB,
// and how much it grew. (Without the restart, what earlier cases left
// resident would hide the growth.)
func udpFloodRSS(t *target, b *backends, n int) (result, error) {
	if t.cmd == nil || t.ports.udp == "" {
		return result{}, nil
	}
	if err := t.restart(); err != nil {
		return result{}, err
	}
	dst, err := net.ResolveUDPAddr("udp", t.ports.udp)
	if err != nil {
		return result{}, err
	}
	runtimeSettle()
	before := rssBytes(t.pids())
	payload := make([]byte, 512)
	for i := 0; i < n; i += 500 {
		var socks []*net.UDPConn
		for range min(500, n-i) {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return result{}, err
			}
			socks = append(socks, c)
		}
		for range 4 {
			for _, c := range socks {
				c.WriteToUDP(payload, dst)
			}
		}
		for _, c := range socks {
			c.Close()
		}
	}
	runtimeSettle()
	after := rssBytes(t.pids())
	return result{Value: after / 1e6, Extra: map[string]float64{"growth_mb": (after - before) / 1e6}}, nil
}

// runtimeSettle gives the proxies a moment to finish what they were doing.
func runtimeSettle() { time.Sleep(300 * time.Millisecond) }
