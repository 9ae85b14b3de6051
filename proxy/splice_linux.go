package proxy

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// pipe is a kernel pipe that splice(2) moves bytes through, socket to pipe
// to socket, without copying them to user space.
type pipe struct {
	r, w int
	size int
}

// pipeSize is asked for each pipe (as Go's own splice does); the kernel may
// give less.
const pipeSize = 1 << 20

// idlePipes keeps empty pipes between uses. A direction of a connection
// holds a pipe only while its bytes move, so an idle connection holds none.
// (io.Copy's splice holds one per direction for as long as the connection
// lives: four more file descriptors per proxied connection.)
var idlePipes = make(chan *pipe, 256)

func getPipe() (*pipe, error) {
	select {
	case p := <-idlePipes:
		return p, nil
	default:
	}
	return newPipe()
}

func newPipe() (*pipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	size, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, pipeSize)
	if err != nil || size <= 0 {
		size = 64 << 10 // the default
	}
	return &pipe{r: fds[0], w: fds[1], size: size}, nil
}

// putPipe keeps an empty pipe for the next user, or closes it.
func putPipe(p *pipe) {
	select {
	case idlePipes <- p:
	default:
		p.close()
	}
}

func (p *pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// spliceCopy copies src to dst until src's EOF or an error, and returns the
// bytes written to dst, as io.Copy does, but kernel-side and holding a pipe
// only while bytes move: when src has nothing to read, the pipe goes back
// to the pool before the goroutine waits.
func spliceCopy(dst, src *net.TCPConn) (int64, error) {
	var s splicer
	var err error
	if s.src, err = src.SyscallConn(); err != nil {
		return 0, err
	}
	if s.dst, err = dst.SyscallConn(); err != nil {
		return 0, err
	}
	// Method values made once: a closure per system call would allocate.
	s.fillFn, s.drainFn = s.fill, s.drain
	defer s.release()
	var total int64
	for {
		if err := s.src.Read(s.fillFn); err != nil {
			return total, err
		}
		switch {
		case s.err != nil:
			return total, s.err
		case s.n == 0:
			return total, nil // EOF
		}
		for s.inPipe = s.n; s.inPipe > 0; {
			if err := s.dst.Write(s.drainFn); err != nil {
				return total, err
			}
			if s.err != nil {
				return total, s.err
			}
			s.inPipe -= s.n
			total += s.n
		}
	}
}

// splicer is one direction of a connection: its sockets, the pipe it holds
// while bytes move, and the result of the last splice.
type splicer struct {
	src, dst syscall.RawConn
	p        *pipe
	n        int64 // bytes the last splice moved
	inPipe   int64 // bytes in the pipe, waiting for dst
	err      error

	fillFn, drainFn func(fd uintptr) bool
}

// fill splices what the socket has into the pipe. When it has nothing, the
// empty pipe goes back to the pool and fill returns false: the poller waits
// for the socket, within the same RawConn.Read, so no readiness is lost,
// and calls fill again, which takes a pipe again.
func (s *splicer) fill(fd uintptr) bool {
	if s.p == nil {
		if s.p, s.err = getPipe(); s.err != nil {
			return true
		}
	}
	for {
		s.n, s.err = unix.Splice(int(fd), nil, s.p.w, nil, s.p.size, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch s.err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			putPipe(s.p)
			s.p = nil
			return false
		}
		return true
	}
}

// drain splices from the pipe into the socket; false (wait until it takes
// more) when the socket is full.
func (s *splicer) drain(fd uintptr) bool {
	s.n, s.err = unix.Splice(s.p.r, nil, int(fd), nil, int(s.inPipe), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	return s.err != unix.EAGAIN && s.err != unix.EINTR
}

// release gives the pipe back when the copy ends: to the pool if it is
// empty, else closed, with the bytes that can no longer go anywhere (never
// to another connection).
func (s *splicer) release() {
	if s.p == nil {
		return
	}
	if s.inPipe == 0 {
		putPipe(s.p)
	} else {
		s.p.close()
	}
	s.p = nil
}
