//go:build linux

package proxy

import (
	"errors"
	"syscall"
)

// localError reports whether a connect failed for want of pinlb's own
// resources: file descriptors, kernel buffers or local ports. The endpoint
// is not at fault, and the next one would fail the same way.
func localError(err error) bool {
	for _, errno := range [...]syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.EADDRNOTAVAIL} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}
