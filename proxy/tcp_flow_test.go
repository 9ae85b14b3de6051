//go:build linux

package proxy

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/pinlb/pinlb/proxy/reactor"
	"github.com/shoenig/test/must"
)

// flowHarness runs one flow on a reactor of its own, with a listener
// value that has no socket: the test holds the client's end of a TCP
// pair, and, when the flow connects, accepts the upstream end itself.
type flowHarness struct {
	r        *reactor.Reactor
	l        *tcpListener
	records  *records
	client   *net.TCPConn // the test's end of the client pair
	upstream net.Listener // where the flow connects, when the case gives it an endpoint
}

func newFlowHarness(t *testing.T, cfg Config, endpoint bool) *flowHarness {
	r, err := reactor.New()
	must.NoError(t, err)
	t.Cleanup(r.Stop)
	h := &flowHarness{r: r, records: &records{}}
	cfg.Recorder = h.records
	l := &tcpListener{logger: hclog.NewNullLogger(), pool: newPool(&cfg), conns: map[*tcpConn]struct{}{}, sources: newSources()}
	l.dialCtx, l.cancelDial = context.WithCancel(context.Background())
	t.Cleanup(l.cancelDial)
	l.cfg.Store(&cfg)
	h.l = l
	if endpoint {
		h.upstream, err = net.Listen("tcp", "127.0.0.1:0")
		must.NoError(t, err)
		t.Cleanup(func() { h.upstream.Close() })
		l.pool.Update([]Endpoint{{Addr: h.upstream.Addr().(*net.TCPAddr).AddrPort(), Weight: 1}})
	}
	return h
}

// start hands the flow the pinlb end of a fresh client pair, as an
// acceptor would.
func (h *flowHarness) start(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	must.NoError(t, err)
	h.client = c.(*net.TCPConn)
	t.Cleanup(func() { h.client.Close() })
	accepted, err := ln.Accept()
	must.NoError(t, err)
	defer accepted.Close()
	fd, err := dupSocket(accepted.(*net.TCPConn))
	must.NoError(t, err)
	peer := h.client.LocalAddr().(*net.TCPAddr).AddrPort()
	h.r.Post(func() { h.l.accepted(h.r, fd, peer) })
}

// accept is the flow's upstream end, once it connected.
func (h *flowHarness) accept(t *testing.T) net.Conn {
	c, err := h.upstream.Accept()
	must.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// ended waits for the flow's record, and checks that it let go of
// everything it held on its reactor.
func (h *flowHarness) ended(t *testing.T) Record {
	rec := h.records.wait(t, 1)[0]
	h.r.Call(func() error { return nil })
	must.Eq(t, 0, h.r.Held(), must.Sprint("the flow's slot is still held"))
	must.Eq(t, 0, h.l.stats.active.Load())
	return rec
}

// readAll reads c to its end.
func readAll(t *testing.T, c net.Conn) string {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	must.NoError(t, err)
	return string(b)
}

func write(t *testing.T, c net.Conn, s string) {
	_, err := c.Write([]byte(s))
	must.NoError(t, err)
}

// The phase machine, driven over real socket pairs with no listening
// socket and no backend: each case goes through some phases and ends
// with its outcome.
func TestTCPFlow_Phases(t *testing.T) {
	trusted := func(cfg *Config) {
		cfg.ProxyProtocol = ProxyProtocolConfig{Accept: true, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Timeout: 100 * time.Millisecond}
	}
	for _, tc := range []struct {
		name     string
		setup    func(*Config)
		endpoint bool
		before   func(h *flowHarness) // before the client comes
		drive    func(t *testing.T, h *flowHarness)
		want     outcome
		check    func(t *testing.T, r Record)
	}{{
		name: "connecting, relaying both ways, each side's end passed on", endpoint: true,
		drive: func(t *testing.T, h *flowHarness) {
			write(t, h.client, "ping")
			h.client.CloseWrite()
			up := h.accept(t)
			must.Eq(t, "ping", readAll(t, up)) // the client's end came as a half-close
			write(t, up, "pong")               // and the other way goes on
			up.Close()
			must.Eq(t, "pong", readAll(t, h.client))
		},
		want:  outcomeOK,
		check: func(t *testing.T, r Record) { must.Eq(t, 4, r.BytesIn); must.Eq(t, 4, r.BytesOut) },
	}, {
		name: "a PROXY header taken alone, then relaying", setup: trusted, endpoint: true,
		drive: func(t *testing.T, h *flowHarness) {
			write(t, h.client, "PROXY TCP4 192.0.2.1 198.51.100.7 5000 9991\r\nspan")
			h.client.CloseWrite()
			up := h.accept(t)
			must.Eq(t, "span", readAll(t, up))
			up.Close()
		},
		want:  outcomeOK,
		check: func(t *testing.T, r Record) { must.Eq(t, "192.0.2.1:5000", r.ProxyClient.String()) },
	}, {
		name: "a header that is none", setup: trusted,
		drive: func(t *testing.T, h *flowHarness) { write(t, h.client, "GET / HTTP/1.1\r\n\r\n") },
		want:  outcomeProxyInvalid,
	}, {
		name: "a header cut short by the client's end", setup: trusted,
		drive: func(t *testing.T, h *flowHarness) { write(t, h.client, "PROXY TCP4 192."); h.client.CloseWrite() },
		want:  outcomeProxyInvalid,
	}, {
		name: "no header within its timeout", setup: trusted,
		drive: func(*testing.T, *flowHarness) {},
		want:  outcomeProxyTimeout,
	}, {
		name: "admission: the header's client is denied",
		setup: func(cfg *Config) {
			trusted(cfg)
			cfg.Access = AccessConfig{Deny: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
		},
		endpoint: true,
		drive: func(t *testing.T, h *flowHarness) {
			write(t, h.client, "PROXY TCP4 192.0.2.1 198.51.100.7 5000 9991\r\n")
		},
		want: outcomeDenied,
	}, {
		name:  "connecting with no endpoint",
		drive: func(*testing.T, *flowHarness) {},
		want:  outcomeNoBackend,
	}, {
		name: "connecting to an endpoint that refuses", endpoint: true,
		before: func(h *flowHarness) { h.upstream.Close() },
		drive:  func(*testing.T, *flowHarness) {},
		want:   outcomeConnectFailed,
	}, {
		name: "relaying, then the watchdog's abort", endpoint: true,
		drive: func(t *testing.T, h *flowHarness) {
			h.accept(t)
			testsupport.WaitFor(t, "the connection to be tracked", func() bool { return len(h.l.tracked()) == 1 })
			h.l.tracked()[0].abort(outcomeIdle)
		},
		want: outcomeIdle,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tcpConfig()
			if tc.setup != nil {
				tc.setup(&cfg)
			}
			h := newFlowHarness(t, cfg, tc.endpoint)
			if tc.before != nil {
				tc.before(h)
			}
			h.start(t)
			tc.drive(t, h)
			r := h.ended(t)
			must.Eq(t, tc.want.String(), r.Status)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}
