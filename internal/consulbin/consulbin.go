// Package consulbin finds the pinned Consul binary that `make consul`
// builds, for the tests and the demo.
package consulbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Version is the Consul pinlb is tested against.
const Version = "1.22.3"

// Path finds consul: $PINLB_CONSUL, then the versioned cache path that
// `make consul` fills ($PINLB_CACHE or ~/.cache/pinlb), then $PATH.
func Path() (string, error) {
	if p := os.Getenv("PINLB_CONSUL"); p != "" {
		return p, nil
	}
	cache := os.Getenv("PINLB_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "pinlb")
	}
	p := filepath.Join(cache, "consul-"+Version, "consul")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("consul %s not found: run `make consul` (or set PINLB_CONSUL)", Version)
}
