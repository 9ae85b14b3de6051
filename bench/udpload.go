package main

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

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
