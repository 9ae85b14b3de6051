// Package consulbin finds the pinned Consul binary that `make consul`
// builds, for the tests and the demo.
package consulbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
)

// Version is the Consul that tools/consul/go.mod pins: the one place the
// version is written (the GNUmakefile reads it there too). It is read from
// the source tree, where the tests and the demo run.
func Version() (string, error) {
	_, self, _, _ := runtime.Caller(0)
	mod := filepath.Join(filepath.Dir(self), "..", "..", "tools", "consul", "go.mod")
	b, err := os.ReadFile(mod)
	if err != nil {
		return "", fmt.Errorf("the pinned Consul version: %w", err)
	}
	m := regexp.MustCompile(`(?m)^require github\.com/hashicorp/consul v(\S+)$`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s: no `require github.com/hashicorp/consul vX.Y.Z` line", mod)
	}
	return string(m[1]), nil
}

// Path finds consul: $PINLB_CONSUL, then the versioned cache path that
// `make consul` fills ($PINLB_CACHE or ~/.cache/pinlb), then $PATH.
func Path() (string, error) {
	if p := os.Getenv("PINLB_CONSUL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PINLB_CONSUL: %w (unset it to use `make consul`'s build)", err)
		}
		return p, nil
	}
	version, err := Version()
	if err != nil {
		return "", err
	}
	cache := os.Getenv("PINLB_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "pinlb")
	}
	p := filepath.Join(cache, "consul-"+version, "consul")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("consul %s (run `make consul`, or set PINLB_CONSUL)", version)
}
