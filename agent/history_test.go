package agent

import (
	"testing"
	"time"

	"github.com/pinlb/pinlb/proxy"
	"github.com/shoenig/test/must"
)

// The history keeps 15 minutes of samples per listener, answers those
// after ?since=, and forgets a listener that is gone.
func TestHistory_KeepsTheLastSamples(t *testing.T) {
	h := newHistory()
	t0 := time.UnixMilli(1_000_000)
	for i := range 3 * historyLen {
		ls := []ListenerStatus{{Name: "grpc", Counters: proxy.Stats{Active: int64(i), BytesIn: uint64(i), BytesOut: 1}}}
		if i < 10 {
			ls = append(ls, ListenerStatus{Name: "gone"})
		}
		h.record(ls, t0.Add(time.Duration(i)*time.Second))
	}
	all := h.since(0)
	must.MapLen(t, 1, all)
	g := all["grpc"]
	must.SliceLen(t, historyLen, g.T)
	must.Eq(t, int64(3*historyLen-1), g.Active[historyLen-1])
	must.Eq(t, uint64(3*historyLen-1+1), g.Bytes[historyLen-1])
	must.Eq(t, t0.Add(time.Duration(2*historyLen)*time.Second).UnixMilli(), g.T[0])
	newer := h.since(g.T[historyLen-3])
	must.Eq(t, g.T[historyLen-2:], newer["grpc"].T)
}
