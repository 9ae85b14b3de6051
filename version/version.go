// Package version holds pinlb's version, stamped at build time.
package version

// Version is the release version.
const Version = "0.1.0-dev"

// GitCommit is set by the build: -ldflags "-X github.com/pinlb/pinlb/version.GitCommit=<sha>".
var GitCommit = ""

// String is the human-readable version, e.g. "pinlb v0.1.0-dev (1a2b3c4)".
func String() string {
	s := "pinlb v" + Version
	if GitCommit != "" {
		s += " (" + GitCommit + ")"
	}
	return s
}
