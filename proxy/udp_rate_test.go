//go:build linux

package proxy

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

func TestUDPSource_AllowsABurstThenTheRate(t *testing.T) {
	var s udpSource
	now := time.Now().UnixNano()
	n := 0
	for s.allow(now, 10) {
		n++
	}
	must.Eq(t, 10, n, must.Sprint("a second's worth at once"))
	must.False(t, s.allow(now+int64(50*time.Millisecond), 10))
	must.True(t, s.allow(now+int64(100*time.Millisecond), 10), must.Sprint("one more each 1/rate"))
	must.False(t, s.allow(now+int64(100*time.Millisecond), 10))
	var slow udpSource
	must.True(t, slow.allow(now, 0.5))
	must.False(t, slow.allow(now+int64(time.Second), 0.5), must.Sprint("under 1/s: a burst of one"))
	must.True(t, slow.allow(now+int64(2*time.Second), 0.5))
}

// One address's datagrams, from two ports, share its rate; another
// address has its own. What is over it is dropped and counted, in both
// modes.
func TestUDP_DatagramRatePerSource(t *testing.T) {
	for _, mode := range []string{PacketMode, SessionMode} {
		t.Run(mode, func(t *testing.T) {
			u := testsupport.StartUDP(t)
			cfg := udpConfig(mode)
			cfg.Limits.DatagramRatePerSource = 50
			l := startUDP(t, cfg, u)
			from := func(ip string) *net.UDPConn { return clientFrom(t, l, ip) }
			start := time.Now()
			loud := []*net.UDPConn{from("127.0.0.2"), from("127.0.0.2")}
			for i := range 200 {
				send(t, loud[i%2], 1, []byte("loud"))
			}
			send(t, from("127.0.0.3"), 10, []byte("quiet"))
			testsupport.WaitFor(t, "every datagram delivered or dropped", func() bool {
				return u.Datagrams.Load()+int64(l.Stats().Dropped[outcomeLimited.String()]) == 210
			})
			elapsed := time.Since(start).Seconds()
			delivered := u.Datagrams.Load() - 10
			must.GreaterEq(t, 50, delivered, must.Sprint("the burst"))
			must.LessEq(t, int64(50+50*elapsed+1), delivered, must.Sprintf("the rate, over %.3fs", elapsed))
			must.Eq(t, 2, l.Stats().Sources)
		})
	}
}

// However many addresses send, the rate table holds one entry per
// address with a session, and none once the sessions end.
func TestUDP_RateTableIsBoundedBySessions(t *testing.T) {
	u := testsupport.StartUDP(t)
	cfg := udpConfig(PacketMode)
	cfg.Limits.DatagramRatePerSource = 1000
	cfg.UDP.MaxSessions, cfg.UDP.SessionTimeout = 50, 300*time.Millisecond
	l := startUDP(t, cfg, u)
	to := l.Addr().(*net.UDPAddr)
	for i := range 300 {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(fmt.Sprintf("127.1.%d.%d", i/250, 1+i%250))}, to)
		must.NoError(t, err)
		_, err = c.Write([]byte("x"))
		must.NoError(t, err)
		c.Close()
	}
	testsupport.WaitFor(t, "300 datagrams accounted for", func() bool {
		st := l.Stats()
		return u.Datagrams.Load()+int64(st.Dropped["session_limit"]) == 300
	})
	must.LessEq(t, 50, l.Stats().Sources)
	testsupport.WaitFor(t, "the table empty once the sessions ended", func() bool { return l.Stats().Sources == 0 })
}
