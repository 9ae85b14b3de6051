package discovery

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/shoenig/test/must"
)

// A static source emits its servers once, each passing with weight 1, and
// is always reachable.
func TestStatic_EmitsItsServersOnce(t *testing.T) {
	servers := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:9991"), netip.MustParseAddrPort("[::1]:9992")}
	got := make(chan Snapshot, 2)
	s := NewStatic(servers, func(snap Snapshot) { got <- snap })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	snap := <-got
	must.Eq(t, []Instance{
		{ID: "10.0.0.1:9991", Address: "10.0.0.1", Port: 9991, Weight: 1, Health: Passing},
		{ID: "[::1]:9992", Address: "::1", Port: 9992, Weight: 1, Health: Passing},
	}, snap.Instances)
	must.Eq(t, StaticSnapshot(servers), snap)
	must.True(t, snap.Instances[0].Usable())
	must.True(t, s.Status().Reachable)

	select {
	case <-got:
		t.Fatal("a second snapshot")
	case <-time.After(50 * time.Millisecond): // a bounded look for what must not come
	}
	cancel()
	<-done
}
