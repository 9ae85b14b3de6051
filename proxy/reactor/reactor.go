//go:build linux

package reactor

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Handler is told when a descriptor it watches is ready: tag is what it
// was watched under (which of its descriptors), ev what epoll said.
type Handler interface {
	Ready(tag uint32, ev Events)
}

// A Resumer takes another turn, one it asked for with Again.
type Resumer interface {
	Resume()
}

// Slot is a handler's place in a reactor's table, carried in each of its
// descriptors' epoll events.
type Slot uint32

// wakeSlot marks the eventfd's events.
const wakeSlot = -1

// BufferSize is each reactor's read buffer, shared by its handlers, and
// each spare's.
const BufferSize = 64 << 10

// Reactor is one epoll set and the goroutine that waits on it. See the
// package's rules.
type Reactor struct {
	epfd, wake int // the epoll set; an eventfd that wakes it for posts

	// The epoll set as a file of Go's netpoller, which the reactor parks
	// on (wait.go).
	file     *os.File
	rc       syscall.RawConn
	waitFn   func(uintptr) bool
	ready    int   // events the last wait found
	deadline int64 // the file's read deadline, Unix nanoseconds; 0 none

	mu    sync.Mutex
	inbox []func() // guarded by mu
	work  []func() // the reactor's own, swapped with inbox

	// Owned by the reactor's goroutine.
	handlers []Handler // by slot
	free     []Slot    // slots to reuse
	freed    []Slot    // released during this batch of events: reused after it
	timers   timers
	again    []Resumer
	buf      []byte
	pipes    []*Pipe
	spares   [][]byte
	events   [128]unix.EpollEvent

	held atomic.Int32 // handlers in slots, for other goroutines to compare
	done chan struct{}
}

// New starts a reactor on a goroutine of its own.
func New() (*Reactor, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeSlot}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, err
	}
	r := &Reactor{epfd: epfd, wake: wake, buf: make([]byte, BufferSize), done: make(chan struct{})}
	if err := r.park(); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, err
	}
	go r.run()
	return r, nil
}

func (r *Reactor) run() {
	defer close(r.done)
	for {
		n := r.wait()
		posted := false
		for i := range n {
			ev := &r.events[i]
			if ev.Fd == wakeSlot {
				posted = true
			} else if h := r.handlers[ev.Fd]; h != nil {
				h.Ready(uint32(ev.Pad), Events(ev.Events))
			}
		}
		r.free, r.freed = append(r.free, r.freed...), r.freed[:0]
		if len(r.timers.h) > 0 {
			r.timers.expire(time.Now().UnixNano())
		}
		r.resume()
		if posted && !r.runPosted() {
			return
		}
	}
}

// Again gives h another turn once this one's events are dispatched,
// without waiting for an edge. Ask once per turn.
func (r *Reactor) Again(h Resumer) { r.again = append(r.again, h) }

// resume gives the handlers that asked for it their next turn.
func (r *Reactor) resume() {
	again := r.again
	r.again = nil
	for _, h := range again {
		h.Resume()
	}
	if r.again == nil {
		r.again = again[:0]
	}
}

// Register gives h a slot to watch descriptors under.
func (r *Reactor) Register(h Handler) Slot {
	slot := Slot(len(r.handlers))
	if n := len(r.free); n > 0 {
		slot, r.free = r.free[n-1], r.free[:n-1]
		r.handlers[slot] = h
	} else {
		r.handlers = append(r.handlers, h)
	}
	r.held.Add(1)
	return slot
}

// Release empties a slot. Its descriptors must have left the epoll set
// (closed, or Unwatch).
func (r *Reactor) Release(s Slot) {
	r.handlers[s] = nil
	r.freed = append(r.freed, s)
	r.held.Add(-1)
}

// Held is how many slots hold a handler; any goroutine may ask.
func (r *Reactor) Held() int32 { return r.held.Load() }

// Watch adds fd to the epoll set; its events go to the handler in s, with
// tag.
func (r *Reactor) Watch(fd int, s Slot, tag uint32, m Mode) error {
	ev := unix.EpollEvent{Events: uint32(m), Fd: int32(s), Pad: int32(tag)}
	return unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// Unwatch takes fd out of the epoll set (closing it does that too, unless
// another reactor or process holds it).
func (r *Reactor) Unwatch(fd int) { unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, fd, nil) }

// Buf is the reactor's read buffer: a handler's until it returns.
func (r *Reactor) Buf() []byte { return r.buf }

// Stop ends the reactor and frees what it holds; its handlers must have
// ended.
func (r *Reactor) Stop() {
	r.Post(nil)
	<-r.done
	for _, p := range r.pipes {
		p.Close()
	}
	r.file.Close() // and the epoll set
	unix.Close(r.wake)
}
