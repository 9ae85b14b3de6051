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

// udpFlood sends one datagram from each of many source addresses, each
// its own, in both modes: every datagram is delivered or counted as
// dropped, the session table and the per-source rate table never pass
// max_sessions, and both empty after the silence.
func udpFlood(t *testing.T) {
	for _, mode := range []string{"packet", "session"} {
		t.Run(mode, func(t *testing.T) {
			a, b := testsupport.StartUDP(t), testsupport.StartUDP(t)
			listen := testsupport.FreePort(t)
			// Well under the sources, so that the bound is reached in the
			// short run too.
			maxSessions := scale(1_000, 10_000)
			p := startPinlb(t, fmt.Sprintf(`listener "span" {
  protocol = "udp"
  address  = %q
  udp {
    mode            = %q
    session_timeout = "1s"
    max_sessions    = %d
  }
  limits { datagram_rate_per_source = 10 }
  upstream { servers = [%q, %q] }
}
`, listen, mode, maxSessions, a.Addr, b.Addr), 0)
			sources := scale(5_000, 100_000)
			dst := net.UDPAddrFromAddrPort(netipAddrPort(t, listen))
			var peak int64
			var peakSources int
			for sent := 0; sent < sources; {
				// A burst of 500 sources, each its own address of
				// 127.1.0.0/16 and up.
				burst := min(500, sources-sent)
				for i := range burst {
					n := sent + i
					src := &net.UDPAddr{IP: net.IPv4(127, byte(1+n>>16), byte(n>>8), byte(n))}
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
					peak, peakSources = max(peak, l.Counters.Sessions), max(peakSources, l.Counters.Sources)
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
			figure(t, fmt.Sprintf("sessions at most (max %d)", maxSessions), peak, peak <= int64(maxSessions))
			figure(t, fmt.Sprintf("rate table at most (max %d)", maxSessions), peakSources, peakSources <= maxSessions)
			figure(t, "datagrams dropped at the session limit (it was reached)", l.Counters.Dropped["session_limit"], l.Counters.Dropped["session_limit"] > 0)
			start := time.Now()
			testsupport.WaitFor(t, "the sessions and the rate table to empty", func() bool {
				c := p.listener("span").Counters
				return c.Sessions == 0 && c.Sources == 0
			})
			figure(t, "sessions ended after the silence", time.Since(start).Round(100*time.Millisecond), true)
		})
	}
}
