// Package reactor is the mechanism under pinlb's TCP data path: an epoll
// set on one goroutine (parked in Go's netpoller while it is empty, see
// wait.go) that tells handlers their file descriptors are ready, with what a relay needs beside it (a wake-up inbox for other
// goroutines, a slot table, a deadline heap, a turn queue, pipes and
// buffers, and system calls that never block). It knows file descriptors,
// slots and handlers, never connections, listeners or endpoints: the
// policy is the handlers'.
//
// Typical use:
//
//	var g reactor.Group
//	if err := g.Acquire(); err != nil { ... }
//	defer g.Release()
//	r := g.Reactors()[0]
//	r.Post(func() {
//		slot := r.Register(h)
//		r.Watch(fd, slot, 0, reactor.Edge) // h.Ready(0, events) from now on
//	})
//
// The rules that keep it correct:
//
//   - One goroutine owns a reactor. Everything but Post, Call, Held and
//     Stop runs on it: in a Handler's Ready, an Expirer's Expire, a
//     Resumer's Resume or a posted function.
//   - Call waits for the reactor, so it never runs on a reactor's goroutine
//     (any reactor's: two reactors calling each other would wait for ever).
//   - A released slot is reused only once the batch of events that
//     released it has been dispatched: an event of the same batch for that
//     slot finds it empty, never a stranger.
//   - Edge-triggered descriptors (Edge) are read and written until the
//     kernel says EAGAIN, or a read comes back short of its buffer; only
//     then does a new edge tell of new bytes. A handler that stops before
//     that (its turn ended) asks for another turn with Again.
//   - A Timer is set at most once at a time; the reactor takes it out
//     before calling Expire, which may set it again.
//   - System calls retry EINTR at once: an edge-triggered handler that took
//     it for "nothing left" would wait for an edge that never comes.
package reactor
