//go:build !linux

package testsupport

import "os/exec"

// dieWithTest does nothing here: only Linux kills a child with its parent;
// the test's cleanup stops the peer.
func dieWithTest(*exec.Cmd) {}
