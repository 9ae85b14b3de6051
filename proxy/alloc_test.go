//go:build linux && !race

package proxy

import "testing"

// The race detector allocates on its own; without it, forwarding a
// datagram allocates nothing.
func TestUDP_ForwardAllocatesNothing(t *testing.T) {
	for _, mode := range []string{PacketMode, SessionMode} {
		l, client := forwardFixture(t, mode)
		p := make([]byte, 512)
		if n := testing.AllocsPerRun(1000, func() { l.forward(p, client) }); n != 0 {
			t.Errorf("%s mode: %.1f allocations per datagram", mode, n)
		}
	}
	l, clients := batchFixture(t)
	p := make([]byte, 512)
	if n := testing.AllocsPerRun(100, func() { sendBatch(l, clients, p) }); n != 0 {
		t.Errorf("batched: %.1f allocations per batch of %d", n, udpBatch)
	}
	if st := l.l.Stats(); st.DatagramsOut != st.DatagramsIn {
		t.Errorf("batched: %d datagrams in, %d out", st.DatagramsIn, st.DatagramsOut)
	}
}
