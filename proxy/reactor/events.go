//go:build linux

package reactor

import "golang.org/x/sys/unix"

// Events are what epoll reported for one descriptor.
type Events uint32

// In: bytes to read, or the peer's end.
func (e Events) In() bool { return e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 }

// Out: room to write, or a failure that a write will report.
func (e Events) Out() bool { return e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 }

// Hangup: the peer ended its side, or the socket failed.
func (e Events) Hangup() bool { return e&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 }

// Failed: the socket failed or both sides are shut (a connect that did not
// work says so this way).
func (e Events) Failed() bool { return e&(unix.EPOLLHUP|unix.EPOLLERR) != 0 }

// Mode is how a descriptor is watched.
type Mode uint32

const (
	// Edge: reads, writes and the peer's end, edge-triggered.
	Edge = Mode(unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET)
	// Exclusive: reads, level-triggered, and only one of the reactors
	// watching the descriptor woken for each (a listening socket that
	// every reactor accepts on).
	Exclusive = Mode(unix.EPOLLIN | unix.EPOLLEXCLUSIVE)
)
