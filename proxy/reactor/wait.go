//go:build linux

package reactor

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How a reactor sleeps. Blocking in epoll_wait through the runtime's
// syscall path costs a message a scheduler round: with no idle P, sysmon
// takes the blocked thread's P after ~20 µs, the runtime wakes a spinning
// thread that finds nothing, and the reactor comes back the slow way. So
// the epoll set is a file of Go's own netpoller instead (an epoll set may
// sit in another, and is readable while it holds events): the reactor polls
// it without blocking, and when it is empty parks its goroutine on it, as
// any Go socket read parks, until it has events or the earliest deadline
// passes (the file's read deadline). A parked reactor holds no thread and
// costs no CPU.

// park makes the epoll set a file of Go's netpoller.
func (r *Reactor) park() error {
	if err := unix.SetNonblock(r.epfd, true); err != nil { // or os.NewFile would not poll it
		return err
	}
	r.file = os.NewFile(uintptr(r.epfd), "epoll")
	rc, err := r.file.SyscallConn()
	if err != nil {
		return err
	}
	r.rc = rc
	r.waitFn = func(uintptr) bool {
		r.ready = r.poll()
		return r.ready > 0 // none: park until the set is readable
	}
	return nil
}

// wait returns how many events of r.events the next batch holds: at once
// when a handler asked for another turn, or a deadline passed (0 then);
// otherwise once the set has events.
func (r *Reactor) wait() int {
	if len(r.again) > 0 {
		return r.poll()
	}
	r.setDeadline()
	r.ready = 0
	if err := r.rc.Read(r.waitFn); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		panic("reactor: waiting on the epoll set: " + err.Error()) // closed under us: a bug of ours
	}
	return r.ready
}

// setDeadline gives the file the earliest timer's deadline, when it
// changed.
func (r *Reactor) setDeadline() {
	var at int64
	if len(r.timers.h) > 0 {
		at = r.timers.h[0].at
	}
	if at == r.deadline {
		return
	}
	r.deadline = at
	if at == 0 {
		r.file.SetReadDeadline(time.Time{})
		return
	}
	r.file.SetReadDeadline(time.Unix(0, at))
}

// poll takes the events the set holds now, without waiting and without the
// scheduler's hand-off of a blocking call. EINTR is retried: an empty poll
// parks the reactor, and events already in the set raise no new edge on
// its file to wake it.
func (r *Reactor) poll() int {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(r.epfd), uintptr(unsafe.Pointer(&r.events[0])),
			uintptr(len(r.events)), 0, 0, 0)
		switch e {
		case 0:
			return int(n)
		case unix.EINTR:
			continue
		}
		panic("reactor: epoll_pwait: " + e.Error()) // EBADF or EINVAL: a bug of ours
	}
}
