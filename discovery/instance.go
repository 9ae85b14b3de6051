package discovery

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
)

// Health of an instance in a snapshot.
const (
	Passing = "passing"
	Warning = "warning"
	// Critical: a failed check or node.
	Critical = "critical"
	// Maintenance instances (service or node maintenance) take no new
	// traffic; their connections drain.
	Maintenance = "maintenance"
)

// Instance is one usable service instance.
type Instance struct {
	ID        string // node/serviceID: unique within a datacenter
	Node      string
	ServiceID string
	Address   string // the service address, else the node's
	Port      int
	// Weight is Weights.Passing, or Weights.Warning for a warning
	// instance; 0 for one that must get no traffic: critical, or warning
	// without IncludeWarning.
	Weight int
	Health string // Passing, Warning, Critical or Maintenance
	Tags   []string
	Meta   map[string]string
	// Held is set on an instance Consul no longer lists, kept by the resync
	// hold: right after Consul came back, absence is not evidence.
	Held bool
	// PortHealth is what the checks of one port say, by the meta key that
	// names the port (see portKey): Warning or Critical; a port whose
	// checks pass is not in it. Health and Weight come from the other
	// checks: the node's and the instance's general ones. ForPort combines
	// them for one listener.
	PortHealth map[string]string
	warnWeight int // the weight a warning gives: Weights.Warning, 0 without include_warning
}

// ForPort is the instance as a listener forwarding to port sees it: its
// health and weight with those of the checks of that port, which the
// listener's port_meta key names, or any meta key whose value is port. A
// collector whose span receiver fails leaves the span pool only.
func (a Instance) ForPort(port int, metaKey string) Instance {
	worst := Passing
	for key, h := range a.PortHealth {
		if key == metaKey || a.Meta[key] == strconv.Itoa(port) {
			if h == Critical || worst == Passing {
				worst = h
			}
		}
	}
	switch {
	case a.Health == Maintenance || a.Health == Critical || worst == Passing:
	case worst == Critical:
		a.Health, a.Weight = Critical, 0
	case a.Health == Passing: // a warning port on a passing instance
		a.Health, a.Weight = Warning, a.warnWeight
	}
	return a
}

// portKey is the port a check concerns, when it concerns one: an
// instance's check whose ID ends in ":" and one of its meta keys that
// start with "port_" (collector-1:tcp:port_grpc_span). `pinlb register`
// writes its checks so; a hand-written service definition can follow the
// rule. Any other check concerns the whole instance.
func portKey(c *api.HealthCheck, svc *api.AgentService) (string, bool) {
	if c == nil || c.ServiceID == "" || c.ServiceID != svc.ID {
		return "", false
	}
	i := strings.LastIndexByte(c.CheckID, ':')
	if i < 0 || !strings.HasPrefix(c.CheckID[i+1:], "port_") {
		return "", false
	}
	key := c.CheckID[i+1:]
	_, ok := svc.Meta[key]
	return key, ok
}

// splitChecks sorts an entry's checks into the general ones and each
// port's.
func splitChecks(e *api.ServiceEntry) (api.HealthChecks, map[string]api.HealthChecks) {
	var general api.HealthChecks
	var ports map[string]api.HealthChecks
	for _, c := range e.Checks {
		key, ok := portKey(c, e.Service)
		if !ok {
			general = append(general, c)
			continue
		}
		if ports == nil {
			ports = map[string]api.HealthChecks{}
		}
		ports[key] = append(ports[key], c)
	}
	return general, ports
}

// portHealth is each port's health that is not passing; nil when all pass.
func portHealth(ports map[string]api.HealthChecks) map[string]string {
	var out map[string]string
	for key, cs := range ports {
		h := Critical
		switch cs.AggregatedStatus() {
		case api.HealthPassing:
			continue
		case api.HealthWarning:
			h = Warning
		}
		if out == nil {
			out = map[string]string{}
		}
		out[key] = h
	}
	return out
}

// Usable reports whether the instance takes new traffic.
func (a Instance) Usable() bool {
	return a.Weight > 0 && (a.Health == Passing || a.Health == Warning)
}

func (a Instance) equal(b Instance) bool {
	return a.ID == b.ID && a.Address == b.Address && a.Port == b.Port &&
		a.Weight == b.Weight && a.Health == b.Health && a.Held == b.Held &&
		slices.Equal(a.Tags, b.Tags) && maps.Equal(a.Meta, b.Meta) &&
		maps.Equal(a.PortHealth, b.PortHealth) && a.warnWeight == b.warnWeight
}

// Snapshot is every instance of a query, usable or not, sorted by ID.
type Snapshot struct {
	Instances []Instance
	Index     uint64 // the Consul index it was read at
}

// instances turns Consul's answer into a sorted set, each instance with its
// health and the weight it gets: 0 for a critical one, and for a warning
// one unless includeWarning (and Weights.Warning is above 0).
func instances(entries []*api.ServiceEntry, includeWarning bool) []Instance {
	out := make([]Instance, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil || e.Node == nil {
			continue // a malformed answer: nothing to route to
		}
		warnWeight := max(0, e.Service.Weights.Warning)
		if !includeWarning {
			warnWeight = 0
		}
		general, ports := splitChecks(e)
		health, weight := Passing, max(1, e.Service.Weights.Passing)
		switch general.AggregatedStatus() {
		case api.HealthPassing:
		case api.HealthMaint:
			health = Maintenance
		case api.HealthWarning:
			health, weight = Warning, warnWeight
		default:
			health, weight = Critical, 0
		}
		addr := e.Service.Address
		if addr == "" {
			addr = e.Node.Address
		}
		tags := slices.Clone(e.Service.Tags)
		sort.Strings(tags)
		out = append(out, Instance{
			ID:         e.Node.Node + "/" + e.Service.ID,
			Node:       e.Node.Node,
			ServiceID:  e.Service.ID,
			Address:    addr,
			Port:       e.Service.Port,
			Weight:     weight,
			Health:     health,
			Tags:       tags,
			Meta:       e.Service.Meta,
			PortHealth: portHealth(ports),
			warnWeight: warnWeight,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
