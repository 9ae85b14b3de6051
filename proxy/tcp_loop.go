//go:build linux

package proxy

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A loop relays established TCP connections over one epoll set: it reads
// whatever socket is ready and writes it on, so that a connection costs its
// two sockets and a small struct, not two parked goroutines, and a message
// costs no scheduler wake-up. The loops, one per CPU, are shared by every
// TCP listener, and accept and connect on it too (tcp_accept.go,
// tcp_dial.go) and read PROXY headers (tcp_header.go); a TLS connection
// goes to a goroutine of its own, and everything but the connections stays
// on goroutines.
type loop struct {
	epfd, wake int // the epoll set; an eventfd that wakes it for commands

	mu    sync.Mutex
	inbox []loopCmd // guarded by mu
	work  []loopCmd // the loop's own, swapped with inbox

	// Owned by the loop's goroutine.
	flows     []*tcpFlow   // by slot
	held      atomic.Int32 // flows in slots, for other loops to compare
	free      []uint32     // slots to reuse
	freed     []uint32     // slots freed during this batch of events: reused after it
	timers    loopTimers
	acceptors []*acceptor // by slot
	again     []*tcpFlow  // flows with a direction that ran out of its turn
	buf       []byte      // the read buffer of every flow of this loop
	pipes     []*pipe     // empty pipes, for directions that splice
	spares    [][]byte    // empty buffers, for bytes a full socket did not take
	events    [128]unix.EpollEvent

	done chan struct{}
}

type loopOp uint8

const (
	opOpen     loopOp = iota // start a flow another loop accepted
	opAbort                  // close both sockets
	opMove                   // a FIN toward the client; see tcpConn.move
	opListen                 // accept on the acceptor's socket
	opUnlisten               // stop accepting on it
	opRearm                  // accept again after a back-off
	opCancel                 // fail the listener's connects in progress
	opStop                   // end the loop
)

type loopCmd struct {
	op   loopOp
	f    *tcpFlow
	a    *acceptor
	l    *tcpListener
	done chan error // a call's result
}

// wakeSlot marks the eventfd's events; acceptPad, in an event's Pad, an
// acceptor's (a flow's holds its side).
const (
	wakeSlot  = -1
	acceptPad = 2
)

// readBufferSize is each loop's read buffer. A read that fills it marks
// its direction as bulk, which then splices.
const readBufferSize = 64 << 10

func newLoop() (*loop, error) {
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
	lp := &loop{epfd: epfd, wake: wake, buf: make([]byte, readBufferSize), done: make(chan struct{})}
	go lp.run()
	return lp, nil
}

// post hands the loop a command. Only the first command of a batch writes
// the eventfd: the loop takes the whole inbox once it wakes.
func (lp *loop) post(op loopOp, f *tcpFlow) { lp.send(loopCmd{op: op, f: f}) }

func (lp *loop) postAcceptor(op loopOp, a *acceptor) { lp.send(loopCmd{op: op, a: a}) }

// call posts an acceptor's command and waits for its outcome.
func (lp *loop) call(op loopOp, a *acceptor) error {
	done := make(chan error, 1)
	lp.send(loopCmd{op: op, a: a, done: done})
	return <-done
}

func (lp *loop) send(c loopCmd) {
	lp.mu.Lock()
	first := len(lp.inbox) == 0
	lp.inbox = append(lp.inbox, c)
	lp.mu.Unlock()
	if first {
		one := [8]byte{1}
		unix.Write(lp.wake, one[:])
	}
}

func (lp *loop) run() {
	defer close(lp.done)
	for {
		timeout := -1
		switch {
		case len(lp.again) > 0:
			timeout = 0
		case len(lp.timers.h) > 0:
			timeout = lp.timers.wait(time.Now().UnixNano())
		}
		n, err := unix.EpollWait(lp.epfd, lp.events[:], timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			panic("proxy: epoll_wait: " + err.Error()) // EBADF or EINVAL: a bug of ours
		}
		commands := false
		for i := range n {
			ev := &lp.events[i]
			if ev.Fd == wakeSlot {
				commands = true
				continue
			}
			if ev.Pad == acceptPad {
				if a := lp.acceptors[ev.Fd]; a != nil {
					a.accept()
				}
			} else if f := lp.flows[ev.Fd]; f != nil {
				f.ready(side(ev.Pad), ev.Events)
			}
		}
		lp.free, lp.freed = append(lp.free, lp.freed...), lp.freed[:0]
		if len(lp.timers.h) > 0 {
			lp.timers.expire(time.Now().UnixNano())
		}
		lp.runAgain()
		if commands && !lp.commands() {
			return
		}
	}
}

// runAgain gives the flows that ran out of their turn another one.
func (lp *loop) runAgain() {
	again := lp.again
	lp.again = nil
	for _, f := range again {
		f.resume()
	}
	if lp.again == nil {
		lp.again = again[:0]
	}
}

// commands carries out what was posted; false once told to stop.
func (lp *loop) commands() bool {
	var b [8]byte
	unix.Read(lp.wake, b[:]) // before taking the inbox, so no post is missed
	lp.mu.Lock()
	lp.work, lp.inbox = lp.inbox, lp.work[:0]
	lp.mu.Unlock()
	for i, c := range lp.work {
		switch c.op {
		case opOpen:
			c.f.start()
		case opAbort:
			c.f.close()
		case opMove:
			c.f.shutdownClient()
		case opListen:
			c.done <- lp.listen(c.a)
		case opUnlisten:
			lp.unlisten(c.a)
			c.done <- nil
		case opRearm:
			c.a.rearm()
		case opCancel:
			lp.cancelConnects(c.l)
		case opStop:
			return false
		}
		lp.work[i] = loopCmd{}
	}
	return true
}

// place gives the flow a slot.
func (lp *loop) place(f *tcpFlow) {
	slot := uint32(len(lp.flows))
	if n := len(lp.free); n > 0 {
		slot, lp.free = lp.free[n-1], lp.free[:n-1]
		lp.flows[slot] = f
	} else {
		lp.flows = append(lp.flows, f)
	}
	f.slot = slot
	lp.held.Add(1)
}

// watch registers one of the flow's sockets, edge-triggered: the flow
// reads and writes until the kernel says EAGAIN, and is told when that
// changes.
func (lp *loop) watch(f *tcpFlow, s side) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(f.slot), Pad: int32(s)}
	return unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, f.fds[s], &ev)
}

// remove forgets a closed flow's slot. Its sockets left the epoll set when
// they were closed; an event of this batch for the slot finds it empty, as
// the slot is reused only once the batch ends.
func (lp *loop) remove(f *tcpFlow) {
	lp.flows[f.slot] = nil
	lp.freed = append(lp.freed, f.slot)
	lp.held.Add(-1)
}

// lightest is where a flow lp accepted goes: lp, unless it holds more
// than the loop holding the fewest by over loopSlack. A few connections
// stay together (a hand-off costs a wake-up of the other loop, and on a
// small host that loop's CPU serves the peers too), while many spread.
func (lp *loop) lightest() *loop {
	mine := lp.held.Load()
	best, least := lp, mine
	for _, o := range *loops.started.Load() {
		if n := o.held.Load(); n < least {
			best, least = o, n
		}
	}
	if mine > least+loopSlack(least) {
		return best
	}
	return lp
}

// loopSlack is how many more flows than the lightest loop a loop may keep:
// 8, and a quarter more as they grow.
func loopSlack(least int32) int32 { return 8 + least/4 }

// listen gives the acceptor a slot and arms it.
func (lp *loop) listen(a *acceptor) error {
	a.slot = len(lp.acceptors)
	for i, b := range lp.acceptors {
		if b == nil {
			a.slot = i
			break
		}
	}
	if a.slot == len(lp.acceptors) {
		lp.acceptors = append(lp.acceptors, nil)
	}
	lp.acceptors[a.slot] = a
	if err := a.arm(); err != nil {
		lp.acceptors[a.slot] = nil
		return err
	}
	return nil
}

func (lp *loop) unlisten(a *acceptor) {
	a.disarm()
	a.gone = true
	lp.acceptors[a.slot] = nil
}

func (lp *loop) getPipe() (*pipe, error) {
	if n := len(lp.pipes); n > 0 {
		p := lp.pipes[n-1]
		lp.pipes = lp.pipes[:n-1]
		return p, nil
	}
	return newPipe()
}

// putPipe keeps an empty pipe, up to a few, or closes it.
func (lp *loop) putPipe(p *pipe) {
	if len(lp.pipes) < 64 {
		lp.pipes = append(lp.pipes, p)
		return
	}
	p.close()
}

func (lp *loop) getSpare() []byte {
	if n := len(lp.spares); n > 0 {
		b := lp.spares[n-1]
		lp.spares = lp.spares[:n-1]
		return b
	}
	return make([]byte, 0, readBufferSize)
}

func (lp *loop) putSpare(b []byte) {
	if len(lp.spares) < 64 {
		lp.spares = append(lp.spares, b[:0])
	}
}

// stop ends the loop and frees what it holds, once it has no flow.
func (lp *loop) stop() {
	lp.post(opStop, nil)
	<-lp.done
	for _, p := range lp.pipes {
		p.close()
	}
	unix.Close(lp.epfd)
	unix.Close(lp.wake)
}

// loops are the process's relay loops, started with the first TCP listener
// and stopped with the last.
var loops struct {
	mu    sync.Mutex
	users int
	all   []*loop
	// started is all, for the loops and listeners to read without the
	// lock.
	started atomic.Pointer[[]*loop]
}

// acquireLoops starts the loops if no listener holds them yet: one per
// CPU the process may use (GOMAXPROCS, which follows a container's CPU
// limit), not per CPU of the host.
func acquireLoops() error {
	loops.mu.Lock()
	defer loops.mu.Unlock()
	if loops.users == 0 {
		for range runtime.GOMAXPROCS(0) {
			lp, err := newLoop()
			if err != nil {
				stopLoops()
				return err
			}
			loops.all = append(loops.all, lp)
		}
		all := loops.all
		loops.started.Store(&all)
	}
	loops.users++
	return nil
}

// releaseLoops stops the loops when the last listener lets them go: every
// flow has ended by then (Shutdown waits for them).
func releaseLoops() {
	loops.mu.Lock()
	defer loops.mu.Unlock()
	if loops.users--; loops.users == 0 {
		stopLoops()
	}
}

func stopLoops() {
	for _, lp := range loops.all {
		lp.stop()
	}
	loops.all = nil
	loops.started.Store(nil)
}
