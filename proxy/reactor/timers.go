//go:build linux

package reactor

// A Timer is one deadline of a handler, in the reactor's heap until it
// passes or is stopped. A handler embeds one and sets it for whatever its
// current phase waits for.
type Timer struct {
	at    int64 // Unix nanoseconds
	index int   // one past its place in the heap; 0 when not set
	owner Expirer
}

// An Expirer is told that its Timer passed. The Timer is out of the heap
// by then.
type Expirer interface {
	Expire()
}

// Set reports whether the timer is in the heap.
func (t *Timer) Set() bool { return t.index != 0 }

// timers are a min-heap of Timers, by deadline. Each knows its place, so
// a phase that ends takes its deadline out at once.
type timers struct {
	h []*Timer
}

// SetTimer sets t to at, Unix nanoseconds; owner is told when it passes.
func (r *Reactor) SetTimer(t *Timer, at int64, owner Expirer) {
	r.timers.remove(t)
	t.at, t.owner = at, owner
	r.timers.push(t)
}

// StopTimer takes t out, if it is set.
func (r *Reactor) StopTimer(t *Timer) { r.timers.remove(t) }

// Timed calls fn with the owner of every timer set, in no order: how a
// handler's policy finds, say, every connect in progress.
func (r *Reactor) Timed(fn func(Expirer)) {
	owners := make([]Expirer, len(r.timers.h))
	for i, t := range r.timers.h {
		owners[i] = t.owner
	}
	for _, o := range owners {
		fn(o)
	}
}

func (ts *timers) push(t *Timer) {
	ts.h = append(ts.h, t)
	t.index = len(ts.h)
	ts.up(len(ts.h) - 1)
}

func (ts *timers) remove(t *Timer) {
	if t.index == 0 {
		return
	}
	i, last := t.index-1, len(ts.h)-1
	ts.swap(i, last)
	ts.h[last] = nil
	ts.h = ts.h[:last]
	t.index = 0
	if i < last {
		ts.down(i)
		ts.up(i)
	}
}

func (ts *timers) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if ts.h[parent].at <= ts.h[i].at {
			return
		}
		ts.swap(i, parent)
		i = parent
	}
}

func (ts *timers) down(i int) {
	for n := len(ts.h); ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < n && ts.h[l].at < ts.h[least].at {
			least = l
		}
		if r < n && ts.h[r].at < ts.h[least].at {
			least = r
		}
		if least == i {
			return
		}
		ts.swap(i, least)
		i = least
	}
}

func (ts *timers) swap(i, j int) {
	ts.h[i], ts.h[j] = ts.h[j], ts.h[i]
	ts.h[i].index, ts.h[j].index = i+1, j+1
}

// expire takes out each timer whose deadline has passed and tells its
// owner.
func (ts *timers) expire(now int64) {
	for len(ts.h) > 0 && ts.h[0].at <= now {
		t := ts.h[0]
		ts.remove(t)
		t.owner.Expire()
	}
}
