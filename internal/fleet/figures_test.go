//go:build linux

package fleet

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// The scenarios' figures, printed as one table at the end of the run.
var (
	figuresMu sync.Mutex
	figures   [][3]string
)

// figure records one figure of t's scenario, and logs it.
func figure(t *testing.T, name, format string, args ...any) {
	t.Helper()
	v := fmt.Sprintf(format, args...)
	t.Logf("%s: %s", name, v)
	figuresMu.Lock()
	defer figuresMu.Unlock()
	figures = append(figures, [3]string{t.Name(), name, v})
}

func printFigures(w io.Writer) {
	figuresMu.Lock()
	defer figuresMu.Unlock()
	if len(figures) == 0 {
		return
	}
	fmt.Fprintln(w, "\nfleet scenarios:")
	for _, f := range figures {
		fmt.Fprintf(w, "  %-34s %-44s %s\n", f[0], f[1], f[2])
	}
}

// secs is d in seconds, to the millisecond.
func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
