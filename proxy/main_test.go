//go:build linux

package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine they started is
// still running at the end: a listener, session, watch or agent that
// Shutdown did not stop.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
