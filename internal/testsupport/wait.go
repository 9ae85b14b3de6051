package testsupport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// WaitFor retries cond until it holds, failing the test after 10 seconds.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitUpTo(t, 10*time.Second, what, cond)
}

// WaitUpTo retries cond until it holds, failing the test after limit.
func WaitUpTo(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FreePort returns a loopback address whose port was free for both TCP
// and UDP a moment ago, for configuration files and servers that must name
// a port. It is below the kernel's ephemeral range (32768 and up), where the
// sockets other tests bind to port 0 never land.
func FreePort(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
}

// freePorts picks n distinct ports as FreePort does.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n; tries++ {
		if tries == 10000 {
			t.Fatalf("no free loopback port below 32768 after %d tries", tries)
		}
		p := 10000 + rand.IntN(22000)
		if !seen[p] && portFree(p) {
			ports = append(ports, p)
		}
		seen[p] = true
	}
	return ports
}

// portFree reports whether p can be bound on loopback for TCP and UDP.
func portFree(p int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	return pc.Close() == nil
}

// LogBuffer collects log output from several goroutines, for assertions.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
