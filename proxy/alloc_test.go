//go:build linux && !race

package proxy

import "testing"

// The race detector allocates on its own: make test runs these without it.

// Forwarding a datagram allocates nothing.
func TestUDP_ForwardAllocatesNothing(t *testing.T) {
	for _, mode := range []string{PacketMode, SessionMode} {
		l, client := forwardFixture(t, mode)
		p := make([]byte, 512)
		if n := leastAllocs(1000, func() { l.forward(p, client) }); n != 0 {
			t.Errorf("%s mode: %.1f allocations per datagram", mode, n)
		}
	}
	l, clients := batchFixture(t)
	p := make([]byte, 512)
	if n := leastAllocs(100, func() { sendBatch(l, clients, p) }); n != 0 {
		t.Errorf("batched: %.1f allocations per batch of %d", n, udpBatch)
	}
	if st := l.l.Stats(); st.DatagramsOut != st.DatagramsIn {
		t.Errorf("batched: %d datagrams in, %d out", st.DatagramsIn, st.DatagramsOut)
	}
}

// Relaying a message allocates nothing: the loop's read and write each
// way, and the echo backend's (a plain loop that allocates nothing either).
func TestTCP_MessageAllocatesNothing(t *testing.T) {
	conn := echoFixture(t)
	msg := make([]byte, 128)
	if n := leastAllocs(1000, func() { roundTrip(t, conn, msg) }); n != 0 {
		t.Errorf("%.1f allocations per 128 B message and its echo", n)
	}
}

// leastAllocs is the fewest allocations per call of f over a few
// measurements. AllocsPerRun counts the whole process's, and the
// fixtures' goroutines sometimes allocate meanwhile (a flow ending, a
// reaper's wake-up: once per session, not per datagram); an allocation of
// f's own shows in every measurement.
func leastAllocs(runs int, f func()) float64 {
	least := testing.AllocsPerRun(runs, f)
	for range 4 {
		least = min(least, testing.AllocsPerRun(runs, f))
	}
	return least
}
