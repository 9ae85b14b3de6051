//go:build linux

package reactor

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a reactor outlives them: Stop
// must end its goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
