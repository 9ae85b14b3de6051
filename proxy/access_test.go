//go:build linux

package proxy

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

func TestAccess_Allows(t *testing.T) {
	p := netip.MustParsePrefix
	a := AccessConfig{Allow: []netip.Prefix{p("127.0.0.0/8"), p("::1/128")}, Deny: []netip.Prefix{p("127.0.0.3/32")}}
	for addr, want := range map[string]bool{
		"127.0.0.2": true, "127.0.0.3": false, "::1": true, "::2": false,
		"10.0.0.1": false, "::ffff:127.0.0.2": true, "::ffff:127.0.0.3": false,
	} {
		must.Eq(t, want, a.allows(netip.MustParseAddr(addr)), must.Sprint(addr))
	}
	must.True(t, (&AccessConfig{}).allows(netip.MustParseAddr("192.0.2.1")))
}

// Clients from several loopback addresses and ::1: the allowed ones reach
// the backend, the others are closed before any dial and counted.
func TestAccess_TCP(t *testing.T) {
	b := testsupport.StartTCP(t)
	rec := &records{}
	cfg := tcpConfig()
	cfg.Address = "[::]:0" // both families
	cfg.Recorder = rec
	p := netip.MustParsePrefix
	cfg.Access = AccessConfig{Allow: []netip.Prefix{p("127.0.0.0/30"), p("::1/128")}, Deny: []netip.Prefix{p("127.0.0.2/32")}}
	l := startTCP(t, cfg, b.Addr)
	port := l.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		from   string
		served bool
	}{{"127.0.0.1", true}, {"127.0.0.2", false}, {"127.0.0.3", true}, {"127.0.0.4", false}, {"::1", true}} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tc.from)}, Timeout: 5 * time.Second}
		to := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
		if tc.from == "::1" {
			to.IP = net.IPv6loopback
		}
		c, err := d.Dial("tcp", to.String())
		must.NoError(t, err)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write([]byte("x"))
		must.NoError(t, err)
		_, err = c.Read(make([]byte, 1))
		must.Eq(t, tc.served, err == nil, must.Sprintf("%s: %v", tc.from, err))
		c.Close()
	}
	recs := rec.wait(t, 5)
	denied := 0
	for _, r := range recs {
		if r.Status == outcomeDenied.String() {
			denied++
		}
	}
	must.Eq(t, 2, denied)
	must.Eq(t, uint64(2), l.Stats().Denied)
	must.Eq(t, int64(3), b.Accepted.Load())
}

// A denied source's datagrams are dropped and counted; an allowed one's
// get through, in both modes.
func TestAccess_UDP(t *testing.T) {
	for _, mode := range []string{PacketMode, SessionMode} {
		t.Run(mode, func(t *testing.T) {
			u := testsupport.StartUDP(t)
			cfg := udpConfig(mode)
			cfg.Access = AccessConfig{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
			l := startUDP(t, cfg, u)
			to := l.Addr().(*net.UDPAddr)
			for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
				c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, to)
				must.NoError(t, err)
				defer c.Close()
				for range 3 {
					_, err := c.Write([]byte("datagram"))
					must.NoError(t, err)
				}
			}
			testsupport.WaitFor(t, "3 datagrams delivered and 3 denied", func() bool {
				return u.Datagrams.Load() == 3 && l.Stats().Dropped[outcomeDenied.String()] == 3
			})
		})
	}
}

// A deny that a reload adds stops a live flow too: a packet-mode agent's
// flow never ends while it sends, so a check at its start alone would
// never see the deny.
func TestAccess_UDPDenyByReloadStopsALiveFlow(t *testing.T) {
	for _, mode := range []string{PacketMode, SessionMode} {
		t.Run(mode, func(t *testing.T) {
			u := testsupport.StartUDP(t)
			cfg := udpConfig(mode)
			l := startUDP(t, cfg, u)
			c, err := net.DialUDP("udp", nil, l.Addr().(*net.UDPAddr))
			must.NoError(t, err)
			defer c.Close()
			send := func() {
				_, err := c.Write([]byte("span"))
				must.NoError(t, err)
			}
			send()
			testsupport.WaitFor(t, "the flow's first datagram", func() bool { return u.Datagrams.Load() == 1 })
			cfg.Access = AccessConfig{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
			must.NoError(t, l.Update(cfg))
			send()
			testsupport.WaitFor(t, "the live flow's datagram denied", func() bool {
				return l.Stats().Dropped[outcomeDenied.String()] == 1
			})
			must.Eq(t, 1, u.Datagrams.Load())
			cfg.Access = AccessConfig{}
			must.NoError(t, l.Update(cfg))
			send()
			testsupport.WaitFor(t, "the flow let through again", func() bool { return u.Datagrams.Load() == 2 })
		})
	}
}
