//go:build linux

package fleet

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// promCounters sums, per name, the samples of Prometheus text lines whose
// metric is one of names, whatever their labels.
func promCounters(r io.Reader, names []string) (map[string]float64, error) {
	out := map[string]float64{}
	want := map[string]bool{}
	for _, n := range names {
		want[n], out[n] = true, 0
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, rest = name[:i], line[strings.LastIndexByte(line, '}')+2:]
		}
		if !want[name] {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}
