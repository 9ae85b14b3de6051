package proxy

import "golang.org/x/sys/unix"

// pipe is a kernel pipe that splice(2) moves bytes through, socket to pipe
// to socket, without copying them to user space.
type pipe struct {
	r, w int
	size int
}

// pipeSize is asked for each pipe (as Go's own splice does); the kernel may
// give less.
const pipeSize = 1 << 20

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

func (p *pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}
