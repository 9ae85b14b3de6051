//go:build linux

package reactor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Group is the process's reactors, one per CPU it may use, started by the
// first user to acquire them and stopped when the last lets them go. The
// zero Group is ready.
type Group struct {
	mu    sync.Mutex
	users int
	all   []*Reactor
	// started is all, for reading without the lock.
	started atomic.Pointer[[]*Reactor]
}

// Acquire starts the reactors if nobody holds them yet: one per CPU the
// process may use (GOMAXPROCS, which follows a container's CPU limit), not
// per CPU of the host.
func (g *Group) Acquire() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.users == 0 {
		for range runtime.GOMAXPROCS(0) {
			r, err := New()
			if err != nil {
				g.stop()
				return err
			}
			g.all = append(g.all, r)
		}
		all := g.all
		g.started.Store(&all)
	}
	g.users++
	return nil
}

// Release lets the reactors go; the last user's stops them, once every
// handler has ended.
func (g *Group) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.users--; g.users == 0 {
		g.stop()
	}
}

func (g *Group) stop() {
	for _, r := range g.all {
		r.Stop()
	}
	g.all = nil
	g.started.Store(nil)
}

// Reactors are the running reactors; nil when nobody holds them.
func (g *Group) Reactors() []*Reactor {
	if all := g.started.Load(); all != nil {
		return *all
	}
	return nil
}

// Lightest is where a handler that r took on should go: r, unless it
// holds more than the reactor holding the fewest by over Slack. A few
// handlers stay together (a hand-off costs the other reactor a wake-up,
// and on a small host that reactor's CPU serves the peers too), while many
// spread.
func (g *Group) Lightest(r *Reactor) *Reactor {
	mine := r.Held()
	best, least := r, mine
	for _, o := range g.Reactors() {
		if n := o.Held(); n < least {
			best, least = o, n
		}
	}
	if mine > least+Slack(least) {
		return best
	}
	return r
}

// Slack is how many more handlers than the lightest reactor one may keep:
// 8, and a quarter more as they grow.
func Slack(least int32) int32 { return 8 + least/4 }
