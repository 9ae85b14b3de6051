package discovery

import (
	"context"
	"net/netip"
	"time"
)

// Source emits the instances of one upstream: every snapshot is the whole
// set, handed to the OnChange the source was built with, on the source's
// goroutine. The Consul Watcher and Static are the two; another kind (DNS,
// a file) plugs in here.
type Source interface {
	// Run emits snapshots until ctx is done.
	Run(ctx context.Context)
	// Status says how the source is doing.
	Status() Status
}

var (
	_ Source = (*Watcher)(nil)
	_ Source = (*Static)(nil)
)

// Static is a fixed list of servers, as an upstream's servers attribute
// gives them: one snapshot, every server passing with weight 1.
type Static struct {
	snap     Snapshot
	onChange func(Snapshot)
	since    time.Time
}

// NewStatic returns the source of servers; Run emits its one snapshot.
func NewStatic(servers []netip.AddrPort, onChange func(Snapshot)) *Static {
	return &Static{snap: StaticSnapshot(servers), onChange: onChange, since: time.Now()}
}

// StaticSnapshot is the snapshot of servers, which a caller may apply at
// once instead of waiting for Run.
func StaticSnapshot(servers []netip.AddrPort) Snapshot {
	insts := make([]Instance, len(servers))
	for i, s := range servers {
		insts[i] = Instance{ID: s.String(), Address: s.Addr().String(), Port: int(s.Port()), Weight: 1, Health: Passing}
	}
	return Snapshot{Instances: insts}
}

// Run emits the snapshot and waits for ctx.
func (s *Static) Run(ctx context.Context) {
	s.onChange(s.snap)
	<-ctx.Done()
}

// Status is always reachable: there is nothing to reach.
func (s *Static) Status() Status {
	return Status{Reachable: true, LastContact: s.since, Since: s.since}
}
