//go:build linux

package reactor

import "golang.org/x/sys/unix"

// Post has the reactor run fn on its goroutine, after the events it is
// dispatching. Any goroutine may post. Only the first post of a batch
// writes the eventfd: the reactor takes the whole inbox once it wakes.
func (r *Reactor) Post(fn func()) {
	r.mu.Lock()
	first := len(r.inbox) == 0
	r.inbox = append(r.inbox, fn)
	r.mu.Unlock()
	if first {
		one := [8]byte{1}
		unix.Write(r.wake, one[:])
	}
}

// Call runs fn on the reactor's goroutine and returns its error. It waits,
// so it never runs on a reactor's goroutine.
func (r *Reactor) Call(fn func() error) error {
	done := make(chan error, 1)
	r.Post(func() { done <- fn() })
	return <-done
}

// runPosted runs what was posted; false once told to stop (a nil post).
func (r *Reactor) runPosted() bool {
	var b [8]byte
	unix.Read(r.wake, b[:]) // before taking the inbox, so that no post is missed
	r.mu.Lock()
	r.work, r.inbox = r.inbox, r.work[:0]
	r.mu.Unlock()
	for i, fn := range r.work {
		if fn == nil {
			return false
		}
		fn()
		r.work[i] = nil
	}
	return true
}
