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
	dst := net.UDPAddrFromAddrPort(netipAddrPort(t, span))
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 1)} {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			c.WriteToUDP([]byte("span"), dst)
		}
		c.Close()
	}
	var dropped uint64
	testsupport.WaitFor(t, "every datagram delivered or dropped", func() bool {
		dropped = p.listener("span").Counters.Dropped["denied"]
		return dropped+uint64(u.Datagrams.Load()) >= uint64(2*n)
	})
	ok, failed, _ := l.stop()
	st := p.listener("grpc").Counters
	figure(t, "allowed connections ok", ok, ok > 0)
	figure(t, "allowed connections failed", failed, failed == 0)
	figure(t, "denied connections closed", fmt.Sprintf("%d/%d", refused, n), refused == n)
	figure(t, "denied (counter)", st.Denied, st.Denied == uint64(n))
	figure(t, "datagrams denied, delivered", fmt.Sprintf("%d, %d", dropped, u.Datagrams.Load()), dropped == uint64(n) && u.Datagrams.Load() == int64(n))
}
