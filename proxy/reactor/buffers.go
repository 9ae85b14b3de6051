//go:build linux

package reactor

import "golang.org/x/sys/unix"

// Pipe is a kernel pipe that splice(2) moves bytes through, socket to pipe
// to socket, without copying them to user space.
type Pipe struct {
	r, w int
	size int
}

// pipeSize is asked for each pipe (as Go's own splice does); the kernel
// may give less.
const pipeSize = 1 << 20

// keep bounds the empty pipes and spare buffers a reactor keeps for reuse.
const keep = 64

func newPipe() (*Pipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	size, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, pipeSize)
	if err != nil || size <= 0 {
		size = 64 << 10 // the default
	}
	return &Pipe{r: fds[0], w: fds[1], size: size}, nil
}

// Fill moves what fd holds into the pipe, up to its size.
func (p *Pipe) Fill(fd int) (int, error) { return Splice(fd, p.w, p.size) }

// Drain moves up to n of the pipe's bytes to fd.
func (p *Pipe) Drain(fd, n int) (int, error) { return Splice(p.r, fd, n) }

// Close closes the pipe, and whatever bytes it still holds.
func (p *Pipe) Close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// GetPipe is an empty pipe, reused or new.
func (r *Reactor) GetPipe() (*Pipe, error) {
	if n := len(r.pipes); n > 0 {
		p := r.pipes[n-1]
		r.pipes = r.pipes[:n-1]
		return p, nil
	}
	return newPipe()
}

// PutPipe keeps an empty pipe, up to a few, or closes it.
func (r *Reactor) PutPipe(p *Pipe) {
	if len(r.pipes) < keep {
		r.pipes = append(r.pipes, p)
		return
	}
	p.Close()
}

// GetSpare is an empty buffer of BufferSize's capacity, for bytes a full
// socket did not take.
func (r *Reactor) GetSpare() []byte {
	if n := len(r.spares); n > 0 {
		b := r.spares[n-1]
		r.spares = r.spares[:n-1]
		return b
	}
	return make([]byte, 0, BufferSize)
}

// PutSpare keeps a spare buffer, up to a few.
func (r *Reactor) PutSpare(b []byte) {
	if len(r.spares) < keep {
		r.spares = append(r.spares, b[:0])
	}
}
