package testsupport

import (
	"fmt"
	"time"
)

// TimeEach checks done for each of keys, all at once, every 100 ms for up
// to limit, and says for each how long it took to hold ("2.3 s"), or "not
// within 15 s": a figure to print, never a speed to assert.
func TimeEach(keys []string, limit time.Duration, done func(key string) bool) map[string]string {
	out := map[string]string{}
	start := time.Now()
	for len(out) < len(keys) && time.Since(start) < limit {
		for _, k := range keys {
			if _, seen := out[k]; !seen && done(k) {
				out[k] = fmt.Sprintf("%.1f s", time.Since(start).Seconds())
			}
		}
		time.Sleep(100 * time.Millisecond) // sampling, not waiting on a guess
	}
	for _, k := range keys {
		if _, seen := out[k]; !seen {
			out[k] = fmt.Sprintf("not within %.0f s", limit.Seconds())
		}
	}
	return out
}
