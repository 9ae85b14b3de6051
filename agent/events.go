package agent

import (
	"sync"
	"time"
)

// eventCapacity bounds the timeline: the oldest event goes when a new one
// comes. At about 200 bytes an event, 4096 keep under 1 MiB, hours of a
// busy fleet's changes.
const eventCapacity = 4096

// Event is one change to a pool or to what feeds it, with its cause: the
// timeline of /v1/events and pinlb monitor.
type Event struct {
	// Index orders events: it grows by one per event, from 1, for the
	// life of the process.
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Listener string    `json:"listener,omitempty"`
	Service  string    `json:"service,omitempty"`
	// Endpoint is the backend's ip:port; Node and ID are Consul's, when
	// it gave them.
	Endpoint string `json:"endpoint,omitempty"`
	Node     string `json:"node,omitempty"`
	ID       string `json:"id,omitempty"`
	Cause    string `json:"cause,omitempty"`
}

// Event kinds.
const (
	EventJoined      = "endpoint_joined"   // in the pool: new, or back from Consul's checks
	EventLeft        = "endpoint_left"     // out of the pool: deregistered, or its checks failed
	EventDraining    = "endpoint_draining" // in Consul maintenance: no new traffic, open connections drain
	EventEjected     = "endpoint_ejected"  // taken out by passive health (max_fails)
	EventRestored    = "endpoint_restored" // back from passive health: a connect succeeded
	EventDrained     = "endpoint_drained"  // the last connection of an endpoint that left ended
	EventRebalance   = "rebalance"         // a rebalance round planned its moves
	EventApplied     = "consul_applied"    // a Consul answer changed the usable set
	EventUnchanged   = "consul_unchanged"  // a Consul answer changed nothing usable (check output)
	EventHeld        = "consul_held"       // an answer held back: the resync hold, or an ACL problem
	EventUnreachable = "consul_unreachable"
	EventReachable   = "consul_reachable"
	EventStale       = "consul_stale" // the endpoints may be out of date: stale_ttl passed, or no leader
	EventReloaded    = "reload_applied"
	EventRefused     = "reload_refused"
	EventAdded       = "listener_added"
	EventRemoved     = "listener_removed"
)

// eventLog is a bounded ring of events that readers can wait on.
type eventLog struct {
	mu   sync.Mutex
	ring []Event // ring[i%cap] holds the event of index i+1
	last uint64  // index of the newest event; 0: none yet
	// grown holds a channel per listener filter that readers wait on ("":
	// every listener), closed and dropped by the next event it selects: a
	// thousand long-polls on one listener sleep through another's events.
	grown map[string]chan struct{}
}

// maxWakeFilters bounds grown: readers of further listener names (which
// a client chooses) wait on every event, as those of "" do.
const maxWakeFilters = 1024

func newEventLog() *eventLog {
	return &eventLog{ring: make([]Event, eventCapacity), grown: map[string]chan struct{}{}}
}

// add appends e, stamped with its index and, if unset, the time, and wakes
// the readers it concerns.
func (l *eventLog) add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.mu.Lock()
	l.last++
	e.Index = l.last
	l.ring[(l.last-1)%uint64(len(l.ring))] = e
	for filter, ch := range l.grown {
		if filter == "" || e.Listener == "" || e.Listener == filter {
			close(ch)
			delete(l.grown, filter)
		}
	}
	l.mu.Unlock()
}

// wake is the channel a reader of listener filter waits on; l.mu held.
func (l *eventLog) wake(filter string) chan struct{} {
	if _, ok := l.grown[filter]; !ok && len(l.grown) >= maxWakeFilters {
		filter = ""
	}
	ch, ok := l.grown[filter]
	if !ok {
		ch = make(chan struct{})
		l.grown[filter] = ch
	}
	return ch
}

// eventFilter selects events.
type eventFilter struct {
	after    uint64    // index: only newer events
	since    time.Time // only events at or after it
	listener string    // only this listener's, and those of no listener
}

func (f eventFilter) match(e Event) bool {
	return e.Index > f.after && !e.Time.Before(f.since) &&
		(f.listener == "" || e.Listener == "" || e.Listener == f.listener)
}

// read returns the kept events that f selects, oldest first, the index of
// the newest event, and a channel closed when the next one f's listener
// filter selects comes.
func (l *eventLog) read(f eventFilter) ([]Event, uint64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := uint64(len(l.ring))
	first := uint64(1)
	if l.last > n {
		first = l.last - n + 1
	}
	first = max(first, f.after+1)
	var out []Event
	for i := first; i <= l.last; i++ {
		if e := l.ring[(i-1)%n]; f.match(e) {
			out = append(out, e)
		}
	}
	return out, l.last, l.wake(f.listener)
}
