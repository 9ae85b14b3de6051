//go:build !linux

package nodeagent

import "syscall"

// dieWithParent is Linux's alone; elsewhere Close ends the app.
func dieWithParent() *syscall.SysProcAttr { return nil }
