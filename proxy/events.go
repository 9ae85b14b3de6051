package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Event is something the proxy did to an endpoint, for the caller's
// timeline: what health and balancing decided, not what was asked of it.
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

// emit hands e to the listener's Events hook, if it has one. Events are
// rare (a decision about an endpoint, never a connection or a datagram),
// so this costs the data path nothing.
func emit(cfg *Config, e Event) {
	if cfg.Events != nil {
		cfg.Events(e)
	}
}

func backendEvent(kind string, b *backend, cause string) Event {
	return Event{Kind: kind, Endpoint: b.addr, ID: b.id, Cause: cause}
}

// releaseConn ends one open connection's hold on b: when b has left the
// pool and this was its last, it is drained.
func releaseConn(cfg *Config, b *backend) {
	if b.active.Add(-1) == 0 && b.removed.Load() {
		emit(cfg, backendEvent(EventDrained, b, "its last open connection ended"))
	}
}

// rebalanceCause says where a rebalance round's moves come from.
func rebalanceCause(plan map[*backend]int, total, conns int) string {
	from := make([]string, 0, len(plan))
	for b, n := range plan {
		from = append(from, fmt.Sprintf("%s (%d)", b.addr, n))
	}
	slices.Sort(from)
	return fmt.Sprintf("moving %d of %d connections to less loaded endpoints, from %s", total, conns, strings.Join(from, ", "))
}
