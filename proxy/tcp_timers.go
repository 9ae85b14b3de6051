//go:build linux

package proxy

import (
	"os"
	"time"
)

// loopTimers are a loop's deadlines: of PROXY headers, of connects, and
// of turning keep-alive on (see timeUp). They are a min-heap of flows, by
// deadline. Each flow knows its place (tcpFlow.timer, one
// past its index; 0 for none), so a connect that ends takes its deadline
// out at once.
type loopTimers struct {
	h []*tcpFlow
}

func (t *loopTimers) add(f *tcpFlow, at int64) {
	f.deadline = at
	t.h = append(t.h, f)
	f.timer = len(t.h)
	t.up(len(t.h) - 1)
}

// cancel takes the flow's deadline out, if it has one.
func (t *loopTimers) cancel(f *tcpFlow) {
	if f.timer == 0 {
		return
	}
	i, last := f.timer-1, len(t.h)-1
	t.swap(i, last)
	t.h[last] = nil
	t.h = t.h[:last]
	f.timer = 0
	if i < last {
		t.down(i)
		t.up(i)
	}
}

func (t *loopTimers) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if t.h[parent].deadline <= t.h[i].deadline {
			return
		}
		t.swap(i, parent)
		i = parent
	}
}

func (t *loopTimers) down(i int) {
	for n := len(t.h); ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < n && t.h[l].deadline < t.h[least].deadline {
			least = l
		}
		if r < n && t.h[r].deadline < t.h[least].deadline {
			least = r
		}
		if least == i {
			return
		}
		t.swap(i, least)
		i = least
	}
}

func (t *loopTimers) swap(i, j int) {
	t.h[i], t.h[j] = t.h[j], t.h[i]
	t.h[i].timer, t.h[j].timer = i+1, j+1
}

// wait is epoll_wait's timeout in milliseconds until the earliest
// deadline, rounded up. There must be one.
func (t *loopTimers) wait(now int64) int {
	return int(max(0, (t.h[0].deadline-now+int64(time.Millisecond)-1)/int64(time.Millisecond)))
}

// expire hands each flow whose deadline has passed its time-up, which takes
// the deadline out.
func (t *loopTimers) expire(now int64) {
	for len(t.h) > 0 && t.h[0].deadline <= now {
		t.h[0].timeUp()
	}
}

// timeUp takes the flow's deadline: its PROXY header's or its connect's,
// which fail, or, once it relays, the time to turn keep-alive on for its
// backend's socket (its client's has it from the listening socket).
func (f *tcpFlow) timeUp() {
	switch {
	case f.header:
		f.headerLate()
	case f.connecting:
		f.tryFailed(dialError(f.tries.cur.addr, os.ErrDeadlineExceeded))
	default:
		f.lp.timers.cancel(f)
		setKeepAlive(f.fds[upstreamSide]) // fails only on a socket that is failing anyway
	}
}
