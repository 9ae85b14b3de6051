package pool

import (
	"fmt"
	"time"
)

// Endpoint states, as EndpointStatus reports them.
const (
	// StateActive: takes new connections and datagrams.
	StateActive = "active"
	// StateDraining: takes nothing new (it left the pool or is draining)
	// and still has connections or sessions open.
	StateDraining = "draining"
	// StateOut: takes nothing new and has nothing open.
	StateOut = "out"
)

// EndpointStatus is one endpoint's state and counters, for operators.
type EndpointStatus struct {
	// Endpoint is as last given. Left is set when it is no longer in the
	// endpoint set: it is listed only while its connections drain.
	Endpoint
	Left bool

	State string
	// Reasons say what the proxy itself holds against the endpoint:
	// "passive:N failures", "slow_start 40%", "max_conns 100". Why an
	// endpoint left or is draining is the caller's to say.
	Reasons []string
	// Since is when the current state began; Until, when passive health
	// lets it back (zero otherwise).
	Since, Until time.Time

	Active          int64  // open TCP connections, or UDP sessions bound to it
	Connections     uint64 // TCP connections made to it
	ConnectFailures uint64
	BytesIn         uint64 // client to backend, live connections included
	BytesOut        uint64 // backend to client, live connections included
	DatagramsIn     uint64 // UDP datagrams sent to it
	DatagramsOut    uint64 // UDP replies from it
}

// Status lists the set's endpoints and those that left with connections
// still open. live adds the bytes of open TCP connections, by backend.
func (p *Pool) Status(live map[*Backend][2]uint64) []EndpointStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := p.cur.Load()
	now := time.Now()
	out := make([]EndpointStatus, 0, len(set.backends)+len(p.draining))
	for _, b := range set.backends {
		out = append(out, b.status(set.rules, now, !set.single, live[b]))
	}
	for _, b := range p.draining {
		if b.active.Load() > 0 && set.byAddr[b.addr] != b {
			st := b.status(set.rules, now, false, live[b])
			st.Left = true
			out = append(out, st)
		}
	}
	return out
}

func (b *Backend) status(cfg *Rules, now time.Time, passive bool, live [2]uint64) EndpointStatus {
	st := EndpointStatus{
		Endpoint:        b.ep,
		State:           StateActive,
		Since:           time.Unix(0, max(b.joined, b.since.Load())),
		Active:          b.active.Load(),
		Connections:     b.conns.Load(),
		ConnectFailures: b.connectFails.Load(),
		BytesIn:         b.bytesIn.Load() + live[0],
		BytesOut:        b.bytesOut.Load() + live[1],
		DatagramsIn:     b.datagramsIn.Load(),
		DatagramsOut:    b.datagramsOut.Load(),
	}
	nanos := now.UnixNano()
	switch down := b.downUntil.Load(); {
	case b.removed.Load():
		st.State, st.Since = StateOut, time.Unix(0, b.removedAt.Load())
		if st.Active > 0 {
			st.State = StateDraining
		}
	case passive && down > nanos:
		st.State = StateOut
		st.Since, st.Until = time.Unix(0, down-int64(cfg.FailTimeout)), time.Unix(0, down)
		st.Reasons = append(st.Reasons, fmt.Sprintf("passive:%d failures", cfg.MaxFails))
	default:
		if down != 0 && down <= nanos {
			st.Since = time.Unix(0, max(b.joined, b.since.Load(), down))
		}
		if r := b.ramp(nanos, cfg.SlowStart); cfg.SlowStart > 0 && r < 1 {
			st.Reasons = append(st.Reasons, fmt.Sprintf("slow_start %d%%", int(100*r)))
		}
		if cfg.MaxConns > 0 && st.Active >= int64(cfg.MaxConns) {
			st.Reasons = append(st.Reasons, fmt.Sprintf("max_conns %d", cfg.MaxConns))
		}
	}
	return st
}
