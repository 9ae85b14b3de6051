package discovery

import (
	"sync/atomic"
	"testing"

	"github.com/shoenig/test/must"
)

// Each read mode asks Consul its own way; while Consul fails or has no
// leader, reads through it turn stale, and streaming stays as it is.
func TestHealthQuery_ReadModes(t *testing.T) {
	for _, tc := range []struct {
		mode                  Consistency
		troubled              bool // Consul fails or has no leader
		stale, cached, sorted bool
	}{
		{mode: "", sorted: true},
		{mode: ReadLeader, sorted: true},
		{mode: ReadLeader, troubled: true, stale: true, sorted: true},
		{mode: ReadStale, stale: true, sorted: true},
		{mode: ReadStreaming, cached: true},
		{mode: ReadStreaming, troubled: true, cached: true},
	} {
		var troubled atomic.Bool
		troubled.Store(tc.troubled)
		h := healthQuery{client: &Client{cfg: ClientConfig{Consistency: tc.mode}}, stale: &troubled}
		o := h.options(7, 0)
		must.Eq(t, tc.stale, o.AllowStale, must.Sprint(tc))
		must.Eq(t, tc.cached, o.UseCache, must.Sprint(tc))
		must.Eq(t, tc.sorted, o.Near == "_agent", must.Sprint(tc))
		must.Eq(t, 7, o.WaitIndex)
	}
}
