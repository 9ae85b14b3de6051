package command

import (
	"flag"
	"fmt"
	"strings"

	"github.com/pinlb/pinlb/internal/pinpoint"
)

// portPlan is what decides the ports `pinlb register` registers: the port
// flags (numbers; 0 leaves a port out), the collector's configuration, and
// its Pinpoint version, which says which ports it opens at all (1.x
// Thrift, 2.x gRPC and Thrift, 3.x gRPC).
type portPlan struct {
	flags  map[string]*int
	given  map[string]bool           // port flags on the command line
	config *pinpoint.CollectorConfig // nil without -collector-config
	stated *pinpoint.Version         // -pinpoint; nil: learn it from the collector
}

func newPortPlan(fs *flag.FlagSet, flags map[string]*int, configs []string, version string) (*portPlan, error) {
	p := &portPlan{flags: flags, given: map[string]bool{}}
	fs.Visit(func(f *flag.Flag) {
		if name, ok := strings.CutSuffix(f.Name, "-port"); ok {
			p.given[name] = true
		}
	})
	for name, n := range flags {
		if *n < 0 || *n > 65535 {
			return nil, fmt.Errorf("-%s-port=%d is not a port from 0 to 65535", name, *n)
		}
	}
	if len(configs) > 0 {
		cc, err := pinpoint.ReadCollectorConfig(configs...)
		if err != nil {
			return nil, err
		}
		p.config = cc
	}
	if version != "auto" {
		v, err := pinpoint.ParseVersion(version)
		if err != nil {
			return nil, fmt.Errorf("-pinpoint: %w", err)
		}
		p.stated = &v
	}
	return p, nil
}

// planPorts reads what the flags and the configuration say of the ports
// and the version, and checks that they are sound and agree; stated is nil
// when only the collector can tell its version.
func planPorts(fs *flag.FlagSet, flags map[string]*int, configs []string, version string) (*portPlan, *pinpoint.Version, error) {
	plan, err := newPortPlan(fs, flags, configs, version)
	if err != nil {
		return nil, nil, err
	}
	stated, err := plan.version()
	if err != nil {
		return nil, nil, err
	}
	check := pinpoint.Generation(2) // every port a collector may open
	if stated != nil {
		check = *stated
	}
	if _, _, err := plan.ports(check); err != nil {
		return nil, nil, err
	}
	return plan, stated, nil
}

// version is the collector's version as the operator or its configuration
// says it; nil when only the collector can tell (see collector.Detect).
func (p *portPlan) version() (*pinpoint.Version, error) {
	gen := 0
	if p.config != nil {
		gen = p.config.Generation()
	}
	switch {
	case p.stated != nil && gen != 0 && gen != p.stated.Major:
		return nil, fmt.Errorf("-pinpoint=%s disagrees with the collector's configuration, which is a %d.x collector's: correct one of them",
			p.stated.Text, gen)
	case p.stated != nil:
		return p.stated, nil
	case gen != 0:
		v := pinpoint.Generation(gen)
		return &v, nil
	}
	return nil, nil
}

// ports are the ports a collector of version v opens, by name, with their
// numbers: a flag's, else the configuration's, else Pinpoint's default.
// left names the port flags the version overrules, when it was learned
// from the collector; a stated version that overrules one is an error.
func (p *portPlan) ports(v pinpoint.Version) (ports map[string]int, left []string, err error) {
	ports = map[string]int{}
	var cfg map[string]int
	if p.config != nil {
		if cfg, err = p.config.Ports(); err != nil {
			return nil, nil, err
		}
	}
	for _, port := range append(pinpoint.Ports, pinpoint.Cluster) {
		n := p.number(port, cfg)
		if n != 0 && port != pinpoint.Cluster && !v.Serves(port) {
			if p.given[port.Name] && p.stated != nil {
				return nil, nil, fmt.Errorf("-%s-port=%d says the collector opens it, but a Pinpoint %s collector has no %s port: correct -pinpoint or drop the flag",
					port.Name, n, v.Text, port.Name)
			}
			if p.given[port.Name] {
				left = append(left, fmt.Sprintf("-%s-port=%d", port.Name, n))
			}
			n = 0
		}
		if n != 0 {
			ports[port.Name] = n
		}
	}
	return ports, left, nil
}

// number is one port's number: its flag's when given, else the
// configuration's (a Thrift port it does not name is left at its default,
// for the version to decide), else the flag's default.
func (p *portPlan) number(port pinpoint.Port, cfg map[string]int) int {
	switch {
	case p.given[port.Name] || cfg == nil:
		return *p.flags[port.Name]
	case cfg[port.Name] == 0 && !port.GRPC() && port != pinpoint.Cluster && p.config.Generation() == 0:
		return port.Default
	}
	return cfg[port.Name]
}
