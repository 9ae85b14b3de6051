package config

import (
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// sizeUnits are the suffixes a size takes, binary as the kernel's buffers
// are: "262144", "256KiB", "1MiB".
var sizeUnits = []struct {
	suffix string
	bytes  int
}{{"MiB", 1 << 20}, {"KiB", 1 << 10}, {"", 1}}

// size parses an optional size string of bytes, def when unset, and
// checks it lies within [lo, hi].
func (v *validator) size(s *string, r hcl.Range, def, lo, hi int) int {
	if s == nil {
		return def
	}
	n, ok := parseSize(*s)
	switch {
	case !ok:
		v.errorf(r, "Invalid size", `%q is not a size (use e.g. "256KiB", "1MiB" or a number of bytes)`, *s)
	case n < lo || n > hi:
		v.errorf(r, "Invalid size", "%q is outside %s to %s", *s, formatSize(lo), formatSize(hi))
	}
	return n
}

func parseSize(s string) (int, bool) {
	for _, u := range sizeUnits {
		if digits, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.Atoi(digits)
			if err != nil || n < 0 || n > (1<<40)/u.bytes {
				return 0, false
			}
			return n * u.bytes, true
		}
	}
	return 0, false
}

// formatSize writes n in the largest unit that divides it.
func formatSize(n int) string {
	for _, u := range sizeUnits {
		if u.bytes > 1 && n%u.bytes == 0 {
			return strconv.Itoa(n/u.bytes) + u.suffix
		}
	}
	return strconv.Itoa(n)
}
