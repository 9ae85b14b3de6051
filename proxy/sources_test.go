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

func TestSources_MaxConnsAndRate(t *testing.T) {
	s := newSources()
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")
	now := time.Unix(1000, 0)

	cfg := LimitsConfig{MaxConnsPerSource: 2, MaxSources: 10}
	s1, _ := s.admit(a, cfg, now)
	s2, _ := s.admit(a, cfg, now)
	_, why := s.admit(a, cfg, now)
	must.Eq(t, "max_conns_per_source", why)
	_, why = s.admit(b, cfg, now) // another address is counted apart
	must.Eq(t, "", why)
	s.release(s1)
	_, why = s.admit(a, cfg, now)
	must.Eq(t, "", why)
	s.release(s2)

	// A bucket as deep as one second of the rate, refilled with time.
	s = newSources()
	cfg = LimitsConfig{ConnRatePerSource: 5, MaxSources: 10}
	admitted := 0
	for range 20 {
		if src, _ := s.admit(a, cfg, now); src != nil {
			admitted++
			s.release(src)
		}
	}
	must.Eq(t, 5, admitted)
	_, why = s.admit(a, cfg, now)
	must.Eq(t, "conn_rate_per_source", why)
	src, why := s.admit(a, cfg, now.Add(200*time.Millisecond)) // one token back
	must.Eq(t, "", why)
	s.release(src)
}

// However many addresses come, the table holds max_sources; the least
// recently seen is forgotten.
func TestSources_Bounded(t *testing.T) {
	s := newSources()
	cfg := LimitsConfig{MaxConnsPerSource: 1, MaxSources: 1000}
	now := time.Unix(1000, 0)
	first := netip.MustParseAddr("10.0.0.1")
	held, _ := s.admit(first, cfg, now)
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		if src, _ := s.admit(a, cfg, now); src != nil {
			s.release(src)
		}
	}
	must.Eq(t, 1000, s.len())
	// first was forgotten: it may open one again, and its old connection's
	// end changes nothing.
	_, why := s.admit(first, cfg, now)
	must.Eq(t, "", why)
	s.release(held)
}

// Clients from 127.0.0.2, 127.0.0.3 and ::1 each get max_conns_per_source
// open connections; the next is closed before any dial, and counted.
func TestLimits_TCP(t *testing.T) {
	b := testsupport.StartTCP(t)
	rec := &records{}
	cfg := tcpConfig()
	cfg.Address = "[::]:0"
	cfg.Recorder = rec
	cfg.Limits = LimitsConfig{MaxConnsPerSource: 2, MaxSources: 100}
	l := startTCP(t, cfg, b.Addr)
	port := l.Addr().(*net.TCPAddr).Port
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "::1"} {
		to := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
		if from == "::1" {
			to.IP = net.IPv6loopback
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		for i := range 3 {
			c, err := d.Dial("tcp", to.String())
			must.NoError(t, err)
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Write([]byte("x"))
			must.NoError(t, err)
			_, err = c.Read(make([]byte, 1))
			must.Eq(t, i < 2, err == nil, must.Sprintf("%s, connection %d: %v", from, i+1, err))
		}
	}
	must.Eq(t, uint64(3), l.Stats().Limited)
	must.Eq(t, 3, l.Stats().Sources)
	must.Eq(t, outcomeLimited.String(), rec.wait(t, 3)[0].Status)
}
