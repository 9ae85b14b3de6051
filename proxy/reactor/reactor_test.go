//go:build linux

package reactor

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
	"golang.org/x/sys/unix"
)

// started is a reactor stopped when the test ends.
func started(t *testing.T) *Reactor {
	t.Helper()
	r, err := New()
	must.NoError(t, err)
	t.Cleanup(r.Stop)
	return r
}

// socketPair is two connected non-blocking stream sockets.
func socketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	must.NoError(t, err)
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// handlerFunc is a Handler of a test.
type handlerFunc func(tag uint32, ev Events)

func (h handlerFunc) Ready(tag uint32, ev Events) { h(tag, ev) }

// on runs fn on r's goroutine and waits for it.
func on(r *Reactor, fn func()) { r.Call(func() error { fn(); return nil }) }

// An edge-triggered descriptor raises one event per change: bytes that
// stay unread raise nothing more, and new bytes raise a new edge.
func TestReactor_EdgeTriggered(t *testing.T) {
	r := started(t)
	mine, peer := socketPair(t)
	var reads atomic.Int32
	got := make(chan Events, 16)
	on(r, func() {
		s := r.Register(handlerFunc(func(tag uint32, ev Events) {
			must.Eq(t, 7, tag)
			if ev.In() {
				reads.Add(1)
				got <- ev
			}
		}))
		must.NoError(t, r.Watch(mine, s, 7, Edge))
	})
	unix.Write(peer, []byte("one"))
	ev := <-got
	must.True(t, ev.In())
	must.False(t, ev.Hangup())
	unix.Write(peer, []byte("two")) // unread bytes and new ones: a new edge
	<-got
	// Nothing is read: no edge comes again until something changes.
	on(r, func() {}) // a turn of the reactor with the bytes still there
	must.Eq(t, 2, reads.Load())
	unix.Shutdown(peer, unix.SHUT_WR)
	ev = <-got
	must.True(t, ev.Hangup(), must.Sprint("the peer's end is a hang-up"))
}

// Posts from many goroutines each run once, none lost, however they race
// the reactor's taking of its inbox.
func TestReactor_PostsRunOnceEach(t *testing.T) {
	r := started(t)
	const posters, each = 8, 5000
	var ran atomic.Int64
	var wg sync.WaitGroup
	for range posters {
		wg.Go(func() {
			for range each {
				r.Post(func() { ran.Add(1) })
			}
		})
	}
	wg.Wait()
	testsupport.WaitFor(t, "every post to run", func() bool { return ran.Load() == posters*each })
	on(r, func() {})
	must.Eq(t, posters*each, ran.Load())
}

// A slot released during a batch of events is not handed out again until
// the batch is over: a later event of the batch for it finds it empty.
func TestReactor_ReleasedSlotWaitsForTheBatch(t *testing.T) {
	r := started(t)
	a, peer := socketPair(t)
	done := make(chan [3]Slot, 1)
	var self Slot
	on(r, func() {
		self = r.Register(handlerFunc(func(uint32, Events) {
			r.Unwatch(a)
			r.Release(self)
			next := r.Register(handlerFunc(func(uint32, Events) {}))
			r.Post(func() { // after the batch
				done <- [3]Slot{self, next, r.Register(handlerFunc(func(uint32, Events) {}))}
			})
		}))
		must.NoError(t, r.Watch(a, self, 0, Edge))
	})
	unix.Write(peer, []byte("x"))
	slots := <-done
	must.NotEq(t, slots[0], slots[1], must.Sprint("reused within the batch that released it"))
	must.Eq(t, slots[0], slots[2], must.Sprint("not reused after the batch"))
}

// Timers fire in deadline order, never early, and a stopped one never.
func TestReactor_TimersFireInOrder(t *testing.T) {
	r := started(t)
	now := time.Now()
	var fired []int
	done := make(chan struct{})
	ts := make([]Timer, 5)
	on(r, func() {
		for i, ms := range []int{40, 10, 30, 20, 50} {
			at := now.Add(time.Duration(ms) * time.Millisecond)
			r.SetTimer(&ts[i], at.UnixNano(), expireFunc(func() {
				must.False(t, time.Now().Before(at), must.Sprint("early"))
				fired = append(fired, ms)
				if ms == 50 {
					close(done)
				}
			}))
		}
		r.StopTimer(&ts[2]) // 30
		must.False(t, ts[2].Set())
	})
	<-done
	on(r, func() { must.Eq(t, []int{10, 20, 40, 50}, fired) })
}

type expireFunc func()

func (f expireFunc) Expire() { f() }

// The heap gives back the deadlines left, earliest first, whatever was
// stopped in between.
func TestTimers_EarliestFirst(t *testing.T) {
	var heap timers
	ts := make([]Timer, 500)
	left := 0
	for i := range ts {
		ts[i].at = int64((i * 7919) % 1000)
		heap.push(&ts[i])
	}
	for i := range ts {
		if i%3 == 0 {
			heap.remove(&ts[i])
			must.False(t, ts[i].Set())
		} else {
			left++
		}
	}
	heap.remove(&Timer{}) // one that is not set: nothing happens
	must.SliceLen(t, left, heap.h)
	last := int64(-1)
	for len(heap.h) > 0 {
		first := heap.h[0]
		must.GreaterEq(t, last, first.at)
		last = first.at
		heap.remove(first)
	}
}

// A signal that interrupts epoll_wait (EINTR) is no event and no error:
// the reactor waits on, and its deadlines hold.
func TestReactor_SignalsInterruptNothing(t *testing.T) {
	r := started(t)
	fired := make(chan time.Time, 1)
	var timer Timer
	due := time.Now().Add(300 * time.Millisecond)
	on(r, func() { r.SetTimer(&timer, due.UnixNano(), expireFunc(func() { fired <- time.Now() })) })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { interruptThreads(stop) })
	at := <-fired
	close(stop)
	wg.Wait()
	must.False(t, at.Before(due), must.Sprint("fired early"))
	var ran atomic.Bool
	on(r, func() { ran.Store(true) })
	must.True(t, ran.Load())
}

// interruptThreads sends SIGURG (which Go's runtime takes and ignores) to
// every thread of the process, over and over, until stop.
func interruptThreads(stop chan struct{}) {
	pid := os.Getpid()
	for {
		select {
		case <-stop:
			return
		default:
		}
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			var tid int
			for _, c := range task.Name() {
				tid = tid*10 + int(c-'0')
			}
			unix.Tgkill(pid, tid, unix.SIGURG)
		}
		time.Sleep(time.Millisecond)
	}
}

// The group starts one reactor per CPU the process may use (GOMAXPROCS, a
// container's CPU limit), not per CPU of the host, and stops them with its
// last user.
func TestGroup_OnePerUsableCPU(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var g Group
	must.NoError(t, g.Acquire())
	must.NoError(t, g.Acquire())
	must.SliceLen(t, 1, g.Reactors())
	g.Release()
	must.SliceLen(t, 1, g.Reactors())
	g.Release()
	must.Nil(t, g.Reactors())
}

// A reactor keeps what it took on until it holds more than the lightest
// by over Slack; then the lightest takes it.
func TestGroup_Lightest(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	var g Group
	must.NoError(t, g.Acquire())
	defer g.Release()
	busy, idle := g.Reactors()[0], g.Reactors()[1]
	var slots []Slot
	hold := func(n int) {
		on(busy, func() {
			for range n {
				slots = append(slots, busy.Register(handlerFunc(func(uint32, Events) {})))
			}
		})
	}
	hold(int(Slack(0)))
	must.Eq(t, busy, g.Lightest(busy), must.Sprint("within the slack"))
	hold(1)
	must.Eq(t, idle, g.Lightest(busy), must.Sprint("past the slack"))
	on(busy, func() {
		for _, s := range slots {
			busy.Release(s)
		}
	})
}

// A reactor with nothing to do parks in Go's netpoller: it costs no CPU
// while it waits, a deadline pending or not. (The window measures; it
// waits for nothing.)
func TestReactor_IdleCostsNothing(t *testing.T) {
	r := started(t)
	var timer Timer
	on(r, func() { r.SetTimer(&timer, time.Now().Add(time.Hour).UnixNano(), expireFunc(func() {})) })
	before := processCPU(t)
	time.Sleep(300 * time.Millisecond)
	must.Less(t, 100*time.Millisecond, processCPU(t)-before, must.Sprint("an idle reactor spins"))
}

// processCPU is the user and system time the process has used.
func processCPU(t *testing.T) time.Duration {
	var ru unix.Rusage
	must.NoError(t, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A pipe holds the size asked for; a pooled one asked for another size is
// resized, and none is asked for more than MaxPipeSize, which no size
// stands for.
func TestReactor_PipesHoldTheSizeAsked(t *testing.T) {
	r := &Reactor{}
	p, err := r.GetPipe(128 << 10)
	must.NoError(t, err)
	must.Eq(t, 128<<10, p.size)
	r.PutPipe(p)
	p, err = r.GetPipe(16 << 10)
	must.NoError(t, err)
	must.Eq(t, 16<<10, p.size)
	r.PutPipe(p)
	p, err = r.GetPipe(64 << 20)
	must.NoError(t, err)
	must.Eq(t, MaxPipeSize, p.size)
	r.PutPipe(p)
	p, err = r.GetPipe(0) // no size: the most
	must.NoError(t, err)
	must.Eq(t, MaxPipeSize, p.size)
	p.Close()
}
