package pool

import (
	"net/netip"
)

// Event is something the pool decided about an endpoint, for the caller's
// timeline: what health and balancing did, not what was asked of it.
type Event struct {
	Kind     string
	Endpoint netip.AddrPort
	ID       string
	Cause    string
}

// Event kinds.
const (
	EventEjected   = "ejected"   // passive health took the endpoint out (max_fails)
	EventRestored  = "restored"  // back from passive health: a connect succeeded
	EventDrained   = "drained"   // the last connection of an endpoint that left the pool ended
	EventRebalance = "rebalance" // a rebalance round planned its moves (Endpoint unset)
)

// emit hands e to the pool's Events hook, the one last configured, if
// there is one. Events are rare (a decision about an endpoint, never a
// connection or a datagram), so this costs the data path nothing.
func (s *Set) emit(kind string, b *Backend, cause string) {
	if hook := s.pool.events.Load(); hook != nil && *hook != nil {
		(*hook)(Event{Kind: kind, Endpoint: b.addr, ID: b.id, Cause: cause})
	}
}
