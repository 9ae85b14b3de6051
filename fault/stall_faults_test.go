package fault

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
)

// stalledBackends: collectors that read for a while, then stop, under
// agents that write as fast as they can. Each stuck connection through
// pinlb may hold no more kernel memory than it does straight to the
// collector (pinlb fixes its sockets' buffers and its pipes at
// buffer_size, where the kernel would autotune them to megabytes), and
// unrelated connections through pinlb keep their latency.
func stalledBackends(t *testing.T) {
	n := scale(30, 100)
	echo := testsupport.StartTCP(t)
	echoAddr, stuckAddr := testsupport.FreePort(t), testsupport.FreePort(t)
	p := startPinlb(t, staticListener("echo", echoAddr, "", addrs(echo)...), 0)
	quiet := echoP99(t, echoAddr)
	direct := stallAt(t, p, n, echoAddr, func(backend string) string { return backend })
	proxied := stallAt(t, p, n, echoAddr, func(backend string) string {
		p.write(staticListener("echo", echoAddr, "", addrs(echo)...) + staticListener("stalled", stuckAddr, "", backend))
		if code, body := p.reload(); code != 200 {
			t.Fatalf("reload: %d %s", code, body)
		}
		return stuckAddr
	})
	// buffer_size is fixed on both of pinlb's sockets, which the kernel
	// doubles for its bookkeeping and may pass by the segment it takes
	// last (64 KiB on loopback); its two pipes hold at most buffer_size
	// each on top.
	bound := 2 * (2*config.DefaultBufferSize + 64<<10)
	figure(t, "pinlb's sockets per stuck connection (at most)", fmt.Sprintf("%s (%s)", mb(proxied.relay), mb(float64(bound))), proxied.relay <= float64(bound))
	figure(t, "the ends' sockets per stuck connection, direct / through pinlb", fmt.Sprintf("%s / %s", mb(direct.ends), mb(proxied.ends)), true)
	figure(t, "pinlb's RSS, stuck direct / through pinlb", fmt.Sprintf("%d / %d KiB", direct.rssKB, proxied.rssKB), true)
	figure(t, "unrelated p99: none stuck, stuck direct, stuck through pinlb",
		fmt.Sprintf("%v, %v, %v", quiet, direct.p99, proxied.p99), true)
}

// stallAt has n clients write to a stalling collector, reached at the
// address route gives for the collector's, until every write blocks, and
// measures the kernel memory of the sockets involved, and the unrelated
// connections' p99 (through pinlb at echoAddr), then.
func stallAt(t *testing.T, p *proc, n int, echoAddr string, route func(backend string) string) stalled {
	stop := make(chan struct{})
	backend := testsupport.StartTCPFunc(t, "127.0.0.1:0", func(c *net.TCPConn) {
		io.CopyN(io.Discard, c, stallAfter) // reading, the kernel grows its buffers
		<-stop
	})
	defer backend.Close()
	defer close(stop)
	target := route(backend.Addr.String())
	conns := writeUntilStuck(t, target, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	front, back := portOf(target), portOf(backend.Addr.String())
	var s stalled
	s.ends = perConn(n, socketMemory(t, front, "dport"), socketMemory(t, back, "sport"))
	if front != back {
		s.relay = perConn(n, socketMemory(t, front, "sport"), socketMemory(t, back, "dport"))
	}
	s.p99, s.rssKB = echoP99(t, echoAddr), p.rssKB()
	return s
}

// stallAfter is what a collector reads of each connection before it stalls.
const stallAfter = 8 << 20

type stalled struct {
	ends, relay float64       // bytes per stuck connection: the client's and collector's sockets, pinlb's
	p99         time.Duration // of unrelated round trips meanwhile
	rssKB       int           // pinlb's, meanwhile
}

func perConn(n int, bytes ...int) float64 {
	sum := 0
	for _, b := range bytes {
		sum += b
	}
	return float64(sum) / float64(n)
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// writeUntilStuck opens n connections to addr and writes to each until a
// write makes no progress for half a second.
func writeUntilStuck(t *testing.T, addr string, n int) []net.Conn {
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		wg.Go(func() {
			chunk := make([]byte, 64<<10)
			for {
				c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return conns
}

// echoP99 is the 99th percentile of 128-byte round trips on four
// connections to addr, for two seconds.
func echoP99(t *testing.T, addr string) time.Duration {
	var mu sync.Mutex
	var took []time.Duration
	var wg sync.WaitGroup
	end := time.Now().Add(2 * time.Second)
	for range 4 {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			msg := make([]byte, 128)
			for time.Now().Before(end) {
				start := time.Now()
				if _, err := c.Write(msg); err != nil {
					t.Error(err)
					return
				}
				if _, err := io.ReadFull(c, msg); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				took = append(took, time.Since(start))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(took) == 0 {
		t.Fatal("no round trip")
	}
	slices.Sort(took)
	return took[len(took)*99/100].Round(time.Microsecond)
}

// socketMemory sums the kernel memory (skmem's r, what a socket received
// and nobody read, and w, what it was given to send and its peer has not
// taken) of the TCP sockets on this host whose local or peer port is
// port, per socket, as ss(8) reports it.
func socketMemory(t *testing.T, port, direction string) (bytes int) {
	out, err := exec.Command("ss", "-tmnH", direction+" = :"+port).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	for _, sk := range skmem.FindAllStringSubmatch(string(out), -1) {
		r, _ := strconv.Atoi(sk[1])
		w, _ := strconv.Atoi(sk[2])
		bytes += r + w
	}
	return bytes
}

var skmem = regexp.MustCompile(`skmem:\(r(\d+),.*?,w(\d+),`)

func mb(bytes float64) string { return fmt.Sprintf("%.2f MB", bytes/1e6) }
