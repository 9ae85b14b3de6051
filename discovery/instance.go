package discovery

import (
	"maps"
	"slices"
	"sort"

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
}

// Usable reports whether the instance takes new traffic.
func (a Instance) Usable() bool {
	return a.Weight > 0 && (a.Health == Passing || a.Health == Warning)
}

func (a Instance) equal(b Instance) bool {
	return a.ID == b.ID && a.Address == b.Address && a.Port == b.Port &&
		a.Weight == b.Weight && a.Health == b.Health && a.Held == b.Held &&
		slices.Equal(a.Tags, b.Tags) && maps.Equal(a.Meta, b.Meta)
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
		health, weight := Passing, max(1, e.Service.Weights.Passing)
		switch e.Checks.AggregatedStatus() {
		case api.HealthPassing:
		case api.HealthMaint:
			health = Maintenance
		case api.HealthWarning:
			health, weight = Warning, max(0, e.Service.Weights.Warning)
			if !includeWarning {
				weight = 0
			}
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
			ID:        e.Node.Node + "/" + e.Service.ID,
			Node:      e.Node.Node,
			ServiceID: e.Service.ID,
			Address:   addr,
			Port:      e.Service.Port,
			Weight:    weight,
			Health:    health,
			Tags:      tags,
			Meta:      e.Service.Meta,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
