package main

import (
	"fmt"
	"strings"
)

const module = "github.com/pinlb/pinlb"

// rule forbids the packages under room to depend on anything under the
// forbidden prefixes; direct forbids direct imports only.
type rule struct {
	room      string
	forbidden []string
	direct    bool
	except    []string // rooms the rule does not apply to
}

// rules are the boundaries of website/content/docs/architecture.md.
var rules = []rule{
	{room: "proxy", forbidden: []string{module + "/config", module + "/discovery", module + "/agent", module + "/command",
		"github.com/hashicorp/hcl", "github.com/hashicorp/consul"}},
	// The proxy room's parts stand alone: the reactor knows file
	// descriptors and handlers, never connections, listeners or pools; the
	// pool knows endpoints, never sockets or listeners; h2c knows bytes.
	{room: "proxy/reactor", forbidden: []string{module + "/proxy"}},
	{room: "proxy/pool", forbidden: []string{module + "/proxy", "golang.org/x/sys"}},
	{room: "proxy/h2c", forbidden: []string{module + "/proxy", "golang.org/x/sys"}},
	{room: "discovery", forbidden: []string{module + "/proxy", module + "/config", module + "/agent", module + "/command",
		"github.com/hashicorp/hcl"}},
	{room: "config", forbidden: []string{module + "/agent", module + "/proxy", module + "/discovery", module + "/command"}},
	{room: "agent", forbidden: []string{module + "/command"}},
	// The Pinpoint gRPC stand-ins (internal/pinpointgrpc) are test parts:
	// gRPC stays out of the pinlb binary, all of which command reaches.
	{room: "command", forbidden: []string{"google.golang.org/grpc"}},
	// Consul's API is the discovery room's. The test helpers that run a
	// real Consul (one server, or a fleet of them and the tool that
	// measures it) and the demo (a module of its own, outside the binary)
	// are its only other users.
	{room: "", forbidden: []string{"github.com/hashicorp/consul/api"}, direct: true,
		except: []string{"discovery", "internal/testsupport", "internal/fleet", "tools/consul-load", "demo"}},
}

// boundaryViolations applies rules to pkgs.
func boundaryViolations(pkgs []pkg) []string {
	var out []string
	for _, r := range rules {
		for _, p := range pkgs {
			if !r.covers(p.ImportPath) {
				continue
			}
			deps := p.Deps
			if r.direct {
				deps = p.Imports
			}
			for _, bad := range r.forbidden {
				if d, ok := firstUnder(deps, bad); ok {
					out = append(out, fmt.Sprintf("boundary: %s imports %s%s", rel(p.ImportPath), d, r.how()))
				}
			}
		}
	}
	return out
}

// firstUnder is the first of paths at or under prefix: one line per
// forbidden room is enough to point at the cause.
func firstUnder(paths []string, prefix string) (string, bool) {
	for _, d := range paths {
		if d == prefix || strings.HasPrefix(d, prefix+"/") {
			return d, true
		}
	}
	return "", false
}

func (r rule) covers(path string) bool {
	for _, e := range r.except {
		if inRoom(path, e) {
			return false
		}
	}
	return r.room == "" || inRoom(path, r.room)
}

func (r rule) how() string {
	if r.direct {
		return ""
	}
	return " (directly or through its imports)"
}

func inRoom(path, room string) bool {
	p := module + "/" + room
	return path == p || strings.HasPrefix(path, p+"/")
}

func rel(path string) string {
	if r, ok := strings.CutPrefix(path, module+"/"); ok {
		return r
	}
	return path
}
