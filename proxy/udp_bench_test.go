//go:build linux

package proxy

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// forwardFixture is a UDP listener whose two endpoints are bound sockets
// nobody reads (the kernel drops what overflows them, allocating nothing
// here), and a client whose flow already exists: what forward does for
// every datagram after a session's first.
func forwardFixture(tb testing.TB, mode string) (*udpReader, netip.AddrPort) {
	tb.Helper()
	cfg := udpConfig(mode)
	cfg.UDP.SessionTimeout = time.Hour
	pl, err := Listen(cfg, hclog.NewNullLogger())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pl.Shutdown(context.Background()) })
	var eps []Endpoint
	for range 2 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		eps = append(eps, Endpoint{Addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), Weight: 1})
	}
	pl.SetEndpoints(eps)
	r := pl.(*udpListener).readers[0]
	client := netip.MustParseAddrPort("127.0.0.1:40000")
	r.forward(make([]byte, 512), client) // opens the flow
	return r, client
}

// BenchmarkUDPForward is the per-datagram path once a client's flow exists:
// pick the backend, count, send. Run with:
//
//	go test -run '^$' -bench UDPForward -benchmem ./proxy
func BenchmarkUDPForward(b *testing.B) {
	for _, mode := range []string{PacketMode, SessionMode} {
		b.Run(mode, func(b *testing.B) {
			l, client := forwardFixture(b, mode)
			p := make([]byte, 512)
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				l.forward(p, client)
			}
		})
	}
}

// BenchmarkUDPBatchDecode is reading a recvmmsg batch's messages.
func BenchmarkUDPBatchDecode(b *testing.B) {
	bt := newBatch(udpBatch, maxDatagram)
	for i := range bt.hdrs {
		bt.hdrs[i].Len = 512
		bt.names[i].Addr.Family = 10 // AF_INET6
	}
	bt.n = udpBatch
	b.ReportAllocs()
	for b.Loop() {
		for i := range bt.n {
			p, from := bt.message(i)
			_, _ = p, from
		}
	}
}

// BenchmarkUDPBatchForward is what the reader does with one recvmmsg batch:
// 32 datagrams from 4 clients queued, then sent with one sendmmsg per flow.
// An op is a batch.
func BenchmarkUDPBatchForward(b *testing.B) {
	l, clients := batchFixture(b)
	p := make([]byte, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(p) * udpBatch))
	for b.Loop() {
		sendBatch(l, clients, p)
	}
}

// batchFixture is forwardFixture's listener in packet mode with four
// clients whose flows exist.
func batchFixture(tb testing.TB) (*udpReader, []netip.AddrPort) {
	l, first := forwardFixture(tb, PacketMode)
	clients := []netip.AddrPort{first}
	for port := uint16(40001); len(clients) < 4; port++ {
		c := netip.AddrPortFrom(first.Addr(), port)
		l.forward(make([]byte, 1), c)
		clients = append(clients, c)
	}
	return l, clients
}

func sendBatch(l *udpReader, clients []netip.AddrPort, p []byte) {
	now := time.Now().UnixNano()
	pp := &l.l.cfg.Load().ProxyProtocol
	for i := range udpBatch {
		l.enqueue(p, clients[i%len(clients)], pp, now)
	}
	l.flush()
}
