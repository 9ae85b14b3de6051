//go:build linux

package reactor

import "golang.org/x/sys/unix"

// Pipe is a kernel pipe that splice(2) moves bytes through, socket to pipe
// to socket, without copying them to user space.
type Pipe struct {
	r, w  int
	size  int // what it holds
	asked int // what it was last asked to hold
}

// MaxPipeSize is the most a pipe is asked to hold (as Go's own splice
// asks); the kernel may give less (fs.pipe-max-size for a process without
// CAP_SYS_RESOURCE).
const MaxPipeSize = 1 << 20

// keep bounds the empty pipes and spare buffers a reactor keeps for reuse.
const keep = 64

func newPipe(size int) (*Pipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	p := &Pipe{r: fds[0], w: fds[1], size: 64 << 10} // the kernel's default
	p.resize(size)
	return p, nil
}

// resize asks the kernel for a pipe of size bytes (at most MaxPipeSize,
// which 0 stands for; it rounds up to a power of two pages) and keeps what
// it got. A pipe that cannot have it keeps its size.
func (p *Pipe) resize(size int) {
	ask := MaxPipeSize
	if size > 0 {
		ask = min(size, MaxPipeSize)
	}
	got, err := unix.FcntlInt(uintptr(p.w), unix.F_SETPIPE_SZ, ask)
	if err == nil && got > 0 {
		p.asked, p.size = size, got
	}
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

// GetPipe is an empty pipe that holds size bytes (or what the kernel
// grants), reused or new. Listeners that ask for different sizes share the
// reactor's pipes: one asked for another size is resized, which an empty
// pipe always allows.
func (r *Reactor) GetPipe(size int) (*Pipe, error) {
	if n := len(r.pipes); n > 0 {
		p := r.pipes[n-1]
		r.pipes = r.pipes[:n-1]
		if p.asked != size {
			p.resize(size)
		}
		return p, nil
	}
	return newPipe(size)
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
