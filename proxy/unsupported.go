//go:build !linux

package proxy

import (
	"fmt"
	"runtime"

	"github.com/hashicorp/go-hclog"
)

// pinlb's data path is Linux's: splice(2) through pipes, recvmmsg and
// sendmmsg, SO_REUSEPORT socket groups, TCP_INFO and SO_MEMINFO counters.
// Elsewhere the binary builds, so that validate, render, register, maint
// and the API clients work from an operator's laptop, but no listener
// starts: `pinlb agent` fails with this error.
var errNotLinux = fmt.Errorf("pinlb's proxy runs on Linux only (splice, recvmmsg, SO_REUSEPORT groups, TCP_INFO); this is %s", runtime.GOOS)

func listenTCP(Config, hclog.Logger) (Listener, error) { return nil, errNotLinux }

func listenUDP(Config, hclog.Logger) (Listener, error) { return nil, errNotLinux }
