package fault

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
)

func netipAddrPort(t *testing.T, s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// udpFlood sends one datagram from each of many source addresses, in both
// modes: every datagram is delivered or counted as dropped, the session
// table never passes max_sessions, and it empties after the silence.
func udpFlood(t *testing.T) {
	for _, mode := range []string{"packet", "session"} {
		t.Run(mode, func(t *testing.T) {
			a, b := testsupport.StartUDP(t), testsupport.StartUDP(t)
			listen := testsupport.FreePort(t)
			p := startPinlb(t, fmt.Sprintf(`listener "span" {
  protocol = "udp"
  address  = %q
  udp {
    mode            = %q
    session_timeout = "1s"
    max_sessions    = 10000
  }
  upstream { servers = [%q, %q] }
}
`, listen, mode, a.Addr, b.Addr), 0)
			sources := scale(5_000, 50_000)
			dst := net.UDPAddrFromAddrPort(netipAddrPort(t, listen))
			var peak int64
			for sent := 0; sent < sources; {
				// A burst of 500 sources, each its own socket, from
				// 127.0.0.2-5 so that ports are not reused among them.
				burst := min(500, sources-sent)
				for i := range burst {
					src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(2+(sent+i)%4))}
					c, err := net.ListenUDP("udp", src)
					if err != nil {
						t.Fatal(err)
					}
					c.WriteToUDP([]byte("span"), dst)
					c.Close()
				}
				sent += burst
				testsupport.WaitFor(t, "the burst to be delivered or counted", func() bool {
					l := p.listener("span")
					peak = max(peak, l.Counters.Sessions)
					dropped := uint64(0)
					for _, n := range l.Counters.Dropped {
						dropped += n
					}
					return uint64(a.Datagrams.Load()+b.Datagrams.Load())+dropped == uint64(sent)
				})
			}
			l := p.listener("span")
			figure(t, "sources", sources, true)
			figure(t, "delivered", a.Datagrams.Load()+b.Datagrams.Load(), true)
			figure(t, "dropped (session_limit, receive_buffer)", fmt.Sprintf("%d, %d", l.Counters.Dropped["session_limit"], l.Counters.Dropped["receive_buffer"]), true)
			figure(t, "sessions at most (max 10000)", peak, peak <= 10000)
			start := time.Now()
			testsupport.WaitFor(t, "the sessions to end", func() bool { return p.listener("span").Counters.Sessions == 0 })
			figure(t, "sessions ended after the silence", time.Since(start).Round(100*time.Millisecond), true)
		})
	}
}
