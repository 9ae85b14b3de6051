package fault

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
)

// proxyHeaders: a trusted balancer's address (127.0.0.2) sends garbage,
// stalls inside a header, cuts a v2 header short, or sends a good one,
// while untrusted clients (127.0.0.1) come and go. Every bad header is
// closed and counted without dialling a backend, the stalled ones at the
// header timeout, the good ones are echoed, the others never fail, and
// pinlb's descriptors come back.
func proxyHeaders(t *testing.T) {
	a := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	p := startPinlb(t, staticListener("grpc", listen, `proxy_protocol {
    accept  = true
    trusted = ["127.0.0.2"]
    timeout = "1s"
  }`, addrs(a)...), 0)
	baseline := p.fds()
	l := startLoad(listen, 2, 5*time.Millisecond)
	balancer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	n := scale(50, 500)
	var good, closed atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 * n {
		c, err := balancer.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			switch i % 4 {
			case 0: // garbage
				junk := make([]byte, 512)
				for j := range junk {
					junk[j] = byte(rand.IntN(256))
				}
				junk[0] = 'G' // never a signature
				c.Write(junk)
			case 1: // a header that never ends: the timeout closes it
				c.Write([]byte("PROXY TCP4 192.0.2.1 "))
			case 2: // a v2 header cut short, then the end of the stream
				c.Write([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00"))
				c.(*net.TCPConn).CloseWrite()
			case 3: // a good header, then an echo
				fmt.Fprintf(c, "PROXY TCP4 192.0.2.%d 198.51.100.7 5000 9991\r\nping", i%250+1)
				b := make([]byte, 4)
				if _, err := io.ReadFull(c, b); err == nil && string(b) == "ping" {
					good.Add(1)
				}
				return
			}
			if _, err := c.Read(make([]byte, 1)); err != nil {
				closed.Add(1)
			}
		})
	}
	wg.Wait()
	ok, failed, _ := l.stop()
	st := p.listener("grpc").Counters
	figure(t, "untrusted connections ok", ok, ok > 0)
	figure(t, "untrusted connections failed", failed, failed == 0)
	figure(t, "good headers echoed", fmt.Sprintf("%d/%d", good.Load(), n), good.Load() == int64(n))
	figure(t, "bad headers closed", fmt.Sprintf("%d/%d", closed.Load(), 3*n), closed.Load() == int64(3*n))
	figure(t, "proxy_header_errors", st.ProxyHeaderErrors, st.ProxyHeaderErrors == uint64(3*n))
	var fds int
	testsupport.WaitFor(t, "pinlb's descriptors to come back", func() bool { fds = p.fds(); return fds <= baseline+4 })
	figure(t, "open fds before, after", fmt.Sprintf("%d, %d", baseline, fds), true)
}

// deniedSources: clients from a denied address (127.0.0.2) open TCP
// connections and send datagrams beside allowed ones (127.0.0.1). None of
// theirs reaches a backend, each is counted, the allowed ones never fail.
func deniedSources(t *testing.T) {
	a := testsupport.StartTCP(t)
	u := testsupport.StartUDP(t)
	listen, span := testsupport.FreePort(t), testsupport.FreePort(t)
	p := startPinlb(t, `deny = ["127.0.0.2"]
`+staticListener("grpc", listen, `allow = ["127.0.0.0/8"]`, addrs(a)...)+fmt.Sprintf(`listener "span" {
  protocol = "udp"
  address  = %q
  upstream { servers = [%q] }
}
`, span, u.Addr), 0)
	l := startLoad(listen, 2, 5*time.Millisecond)
	denied := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	n := scale(100, 1000)
	refused := 0
	for range n {
		c, err := denied.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("ping"))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			refused++
		}
		c.Close()
	}
	// Datagrams in rounds of 50 from each source, each round accounted for
	// before the next, so that no socket buffer on the way overflows.
	dst := net.UDPAddrFromAddrPort(netipAddrPort(t, span))
	var socks []*net.UDPConn
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 1)} {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		socks = append(socks, c)
	}
	var dropped uint64
	for sent := 0; sent < n; sent += 50 {
		for _, c := range socks {
			for range min(50, n-sent) {
				c.WriteToUDP([]byte("span"), dst)
			}
		}
		want := uint64(2 * min(sent+50, n))
		testsupport.WaitFor(t, "the round delivered or dropped", func() bool {
			dropped = p.listener("span").Counters.Dropped["denied"]
			return dropped+uint64(u.Datagrams.Load()) >= want
		})
	}
	ok, failed, _ := l.stop()
	st := p.listener("grpc").Counters
	figure(t, "allowed connections ok", ok, ok > 0)
	figure(t, "allowed connections failed", failed, failed == 0)
	figure(t, "denied connections closed", fmt.Sprintf("%d/%d", refused, n), refused == n)
	figure(t, "denied (counter)", st.Denied, st.Denied == uint64(n))
	figure(t, "datagrams denied, delivered", fmt.Sprintf("%d, %d", dropped, u.Datagrams.Load()), dropped == uint64(n) && u.Datagrams.Load() == int64(n))
}

// sourceFlood: connections from 100,000 client addresses (127.1.0.0 on),
// one each, against per-source limits with a table of 10,000, while a
// source over its rate is refused and well-behaved clients go on. The
// table never holds more than max_sources, and pinlb's memory stays
// bounded.
func sourceFlood(t *testing.T) {
	a := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	p := startPinlb(t, staticListener("grpc", listen, `limits {
    max_conns_per_source = 50
    conn_rate_per_source = 20
    max_sources          = 10000
  }`, addrs(a)...), 0)
	rssBefore := p.rssKB()
	l := startLoad(listen, 2, 200*time.Millisecond) // 10 a second: under its own rate
	sources := scale(20_000, 100_000)
	var refused atomic.Int64
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				ip := net.IPv4(127, byte(1+i>>16), byte(i>>8), byte(i))
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
				c, err := d.Dial("tcp", listen)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write([]byte("x"))
				if _, err := c.Read(make([]byte, 1)); err != nil {
					refused.Add(1)
				}
				c.Close()
			}
		})
	}
	for i := range sources {
		next <- i
	}
	close(next)
	wg.Wait()
	// One address over its rate: 200 connections at once, 20 a second allowed.
	hot := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}, Timeout: 5 * time.Second}
	hotOK := 0
	for range 200 {
		if c, err := hot.Dial("tcp", listen); err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("x"))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				hotOK++
			}
			c.Close()
		}
	}
	ok, failed, _ := l.stop()
	st := p.listener("grpc").Counters
	rssAfter := p.rssKB()
	figure(t, "sources", sources, true)
	figure(t, "flood connections refused", refused.Load(), refused.Load() == 0)
	figure(t, "sources tracked (max 10000)", st.Sources, st.Sources <= 10000)
	figure(t, "hot source served of 200 (rate 20/s)", hotOK, hotOK >= 20 && hotOK < 100)
	figure(t, "limited", st.Limited, st.Limited >= uint64(200-hotOK))
	figure(t, "well-behaved connections ok, failed", fmt.Sprintf("%d, %d", ok, failed), ok > 0 && failed == 0)
	figure(t, "RSS before, after (MB)", fmt.Sprintf("%d, %d", rssBefore/1024, rssAfter/1024), rssAfter-rssBefore < 64*1024)
}
