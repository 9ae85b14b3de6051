package proxy

import (
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// capBuffers fixes fd's receive and send buffers at size bytes (the kernel
// doubles it for its own bookkeeping). A fixed size also stops the kernel
// from autotuning them: autotuned, the socket toward a collector that
// stopped reading and the one from its agent would each grow to megabytes,
// which a relay holds on top of what the two ends hold themselves. 0
// leaves the kernel's autotuning.
func capBuffers(fd, size int) error {
	if size <= 0 {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, size)
}

// warnIfCapped says so when the kernel gave the listening socket fd less
// than size: it caps what a process may ask at net.core.rmem_max and
// wmem_max, silently.
func warnIfCapped(logger hclog.Logger, fd, size int) {
	if size <= 0 {
		return
	}
	r, rerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	s, serr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if granted := min(r, s) / 2; rerr == nil && serr == nil && granted < size {
		logger.Warn("buffer_size is above what the kernel allows; raise net.core.rmem_max and net.core.wmem_max",
			"buffer_size", size, "granted", granted)
	}
}
