//go:build linux

package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// datagramLog is a backend that keeps every datagram it receives, and the
// address it came from.
type datagramLog struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  [][]byte
	from netip.AddrPort
}

func startDatagramLog(t *testing.T) *datagramLog {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	must.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	d := &datagramLog{conn: c}
	go func() {
		buf := make([]byte, maxDatagram)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			d.mu.Lock()
			d.got, d.from = append(d.got, bytes.Clone(buf[:n])), from
			d.mu.Unlock()
		}
	}()
	return d
}

func (d *datagramLog) endpoint() Endpoint {
	return Endpoint{Addr: d.conn.LocalAddr().(*net.UDPAddr).AddrPort(), Weight: 1}
}

func (d *datagramLog) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.got)
}

// datagram is datagram seq of a test: its number, then bytes of its own.
func datagram(seq, size int) []byte {
	p := bytes.Repeat([]byte{byte(seq)}, size)
	binary.BigEndian.PutUint32(p, uint32(seq))
	return p
}

// burstSizes mixes runs of one size, which leave as segments of one
// message, with datagrams of other sizes between them, which must not.
var burstSizes = []int{512, 512, 512, 512, 512, 512, 512, 512, 100, 512, 512, 512, 1400, 1400, 1400, 7, 512, 512}

// sendBursts sends bursts of burstSizes, each with one sendmmsg, so that
// pinlb reads many at once; it waits for each burst to arrive, so that no
// socket buffer overflows. It returns the size of every datagram, by seq.
func sendBursts(t *testing.T, c *net.UDPConn, bursts int, arrived func() int) []int {
	t.Helper()
	pc := ipv4.NewPacketConn(c)
	var sizes []int
	for range bursts {
		msgs := make([]ipv4.Message, len(burstSizes))
		for i, size := range burstSizes {
			msgs[i].Buffers = [][]byte{datagram(len(sizes), size)}
			sizes = append(sizes, size)
		}
		for len(msgs) > 0 {
			n, err := pc.WriteBatch(msgs, 0)
			must.NoError(t, err)
			msgs = msgs[n:]
		}
		testsupport.WaitFor(t, "the burst to arrive", func() bool { return arrived() == len(sizes) })
	}
	return sizes
}

// Datagrams of one flow that share a size leave as segments of one message
// (UDP_SEGMENT), and each backend gets them as they were sent: every one
// whole, of its size, in the order sent.
func TestUDP_SegmentedDatagramsArriveAsSent(t *testing.T) {
	a, b := startDatagramLog(t), startDatagramLog(t)
	l := startUDPTo(t, udpConfig(PacketMode), hclog.NewNullLogger(), a, b)
	sizes := sendBursts(t, client(t, l), 40, func() int { return a.count() + b.count() })
	for _, d := range []*datagramLog{a, b} {
		last := -1
		for _, p := range d.got {
			seq := int(binary.BigEndian.Uint32(p))
			must.Greater(t, last, seq, must.Sprint("out of order"))
			must.Eq(t, datagram(seq, sizes[seq]), p)
			last = seq
		}
	}
}

// A socket that cannot send segments (here: checksums turned off, which
// UDP_SEGMENT needs; in the field, a path MTU below the datagrams' size)
// makes its flow send them one by one, and says so once: no datagram is
// lost to it.
func TestUDP_SegmentsRefusedSendOneByOne(t *testing.T) {
	a := startDatagramLog(t)
	var logs testsupport.LogBuffer
	l := startUDPTo(t, udpConfig(PacketMode), hclog.New(&hclog.LoggerOptions{Output: &logs}), a)
	c := client(t, l)
	_, err := c.Write(datagram(0, 512))
	must.NoError(t, err)
	testsupport.WaitFor(t, "the first datagram", func() bool { return a.count() == 1 })
	a.mu.Lock()
	fd := socketOf(t, unix.SOCK_DGRAM, a.from) // the flow's socket, in this process
	a.mu.Unlock()
	must.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NO_CHECK, 1))

	sent := 1
	testsupport.WaitFor(t, "a refused message of segments", func() bool {
		sent += len(sendBursts(t, c, 1, func() int { return a.count() - sent }))
		return strings.Contains(logs.String(), "refused datagrams sent as segments")
	})
	sendBursts(t, c, 5, func() int { return a.count() - sent })
	must.Eq(t, 1, strings.Count(logs.String(), "refused datagrams sent as segments"))
}

// startUDPTo starts a UDP listener over the datagram logs.
func startUDPTo(t *testing.T, cfg Config, logger hclog.Logger, backends ...*datagramLog) Listener {
	t.Helper()
	l, err := Listen(cfg, logger)
	must.NoError(t, err)
	t.Cleanup(func() { l.Shutdown(context.Background()) })
	eps := make([]Endpoint, len(backends))
	for i, b := range backends {
		eps[i] = b.endpoint()
	}
	l.SetEndpoints(eps)
	return l
}
