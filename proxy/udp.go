//go:build linux

package proxy

import (
	"context"
	"github.com/pinlb/pinlb/proxy/pool"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// maxDatagram fits any UDP payload (65507 bytes over IPv4).
const maxDatagram = 65535

// udpReadBuffer is the receive buffer asked for a UDP listener's socket.
const udpReadBuffer = 8 << 20

// Reasons a datagram is dropped, as reported in Stats.Dropped.
const (
	dropNoBackend = iota
	dropSessionLimit
	dropSocket
	dropSendError
	dropReplyUnknownSource
	dropReplySendError
	dropDenied
	dropLimited
	dropProxyHeader
	dropAddressFamily
	numDropReasons
)

var dropNames = [numDropReasons]string{
	"no_backend", "session_limit", "socket_error", "send_error",
	"reply_unknown_source", "reply_send_error", outcomeDenied.String(), outcomeLimited.String(),
	"proxy_header", "address_family",
}

// dropReceiveBuffer is the reason for the datagrams the kernel dropped
// before pinlb could read them: its listening sockets' buffers were full.
const dropReceiveBuffer = "receive_buffer"

// replyBuffers holds datagram buffers for replies, so that an idle session
// holds no buffer while it waits.
var replyBuffers = sync.Pool{New: func() any {
	b := make([]byte, maxDatagram)
	return &b
}}

// udpListener forwards datagrams. Each client address gets a flow: its own
// upstream socket, so that replies can be routed back to it. The listener
// has a socket per CPU, bound with SO_REUSEPORT: the kernel sends a client
// address always to the same one, and one goroutine reads each socket and
// alone owns its flow table, so the forward path takes no lock and
// allocates nothing once a flow exists.
type udpListener struct {
	logger  hclog.Logger
	readers []*udpReader
	cfg     atomic.Pointer[Config]
	pool    *pool.Pool

	wg       sync.WaitGroup // the readers and one per flow
	stopOnce sync.Once

	sessions                           atomic.Int64
	datagramsIn, datagramsOut, replies atomic.Uint64
	bytesIn, bytesOut                  atomic.Uint64
	dropped                            [numDropReasons]atomic.Uint64
	dropLog                            [numDropReasons]rateLog
	segmentLog                         rateLog    // segmentation refused
	sources                            udpSources // for limits { datagram_rate_per_source }
}

// udpReaders is how many sockets and readers a UDP listener has.
func udpReaders() int { return min(runtime.GOMAXPROCS(0), 8) }

func listenUDP(cfg Config, logger hclog.Logger) (*udpListener, error) {
	conns, err := listenReusePort(cfg.Address, udpReaders())
	if err != nil {
		return nil, err
	}
	l := &udpListener{logger: logger, pool: newPool(&cfg)}
	for _, c := range conns {
		// Room for bursts: the default (about 200 KB) holds fifty 4 KB
		// datagrams. The kernel caps it at net.core.rmem_max.
		c.SetReadBuffer(udpReadBuffer)
		r := &udpReader{l: l, conn: c, flows: map[netip.AddrPort]*flow{}}
		r.out.sendFn = r.out.send
		l.readers = append(l.readers, r)
	}
	l.cfg.Store(&cfg)
	for _, r := range l.readers {
		l.wg.Add(1)
		go r.serve()
	}
	return l, nil
}

// listenReusePort binds n UDP sockets to address with SO_REUSEPORT. It
// binds once without it first, so that a port another process holds is an
// error here, not a share of that process's traffic.
func listenReusePort(address string, n int) ([]*net.UDPConn, error) {
	probe, err := net.ListenPacket("udp", address)
	if err != nil {
		return nil, err
	}
	bound := probe.LocalAddr().String() // port 0 resolved
	probe.Close()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	conns := make([]*net.UDPConn, 0, n)
	for range n {
		pc, err := lc.ListenPacket(context.Background(), "udp", bound)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		conns = append(conns, pc.(*net.UDPConn))
	}
	return conns, nil
}

func (l *udpListener) Addr() net.Addr { return l.readers[0].conn.LocalAddr() }

func (l *udpListener) Update(cfg Config) error {
	if err := checkUpdate(l.cfg.Load(), cfg); err != nil {
		return err
	}
	l.pool.Configure(rulesOf(&cfg))
	l.cfg.Store(&cfg)
	return nil
}

// SetEndpoints replaces the endpoint set. Sessions bound to an endpoint
// that left move on their next datagram.
func (l *udpListener) SetEndpoints(eps []Endpoint) { l.pool.Update(eps) }

func (l *udpListener) Stats() Stats {
	s := Stats{
		DatagramsIn:  l.datagramsIn.Load(),
		DatagramsOut: l.datagramsOut.Load(),
		Replies:      l.replies.Load(),
		BytesIn:      l.bytesIn.Load(),
		BytesOut:     l.bytesOut.Load(),
		Sessions:     l.sessions.Load(),
		Sources:      l.sources.len(),
		Dropped:      make(map[string]uint64, numDropReasons),
	}
	for i := range l.dropped {
		s.Dropped[dropNames[i]] = l.dropped[i].Load()
	}
	s.Dropped[dropReceiveBuffer] = l.kernelDrops()
	return s
}

// kernelDrops adds up what the kernel dropped on the listening sockets.
func (l *udpListener) kernelDrops() uint64 {
	var n uint64
	for _, r := range l.readers {
		if d, err := socketDrops(r.conn); err == nil { // closing: nothing more to count
			n += d
		}
	}
	return n
}

func (l *udpListener) Status() (Stats, []EndpointStatus) {
	return l.Stats(), l.pool.Status(nil)
}

// Shutdown closes the socket and every session at once: a UDP listener has
// nothing to drain, and replies need the socket that is going away.
func (l *udpListener) Shutdown(context.Context) error {
	l.stopOnce.Do(func() {
		for _, r := range l.readers {
			r.conn.Close()
		}
	})
	l.wg.Wait()
	return nil
}
