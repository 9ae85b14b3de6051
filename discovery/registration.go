package discovery

import (
	"time"

	"github.com/hashicorp/consul/api"
)

// Registration is one service instance in the local Consul agent, and its
// checks.
type Registration struct {
	ID      string
	Service string
	Address string
	Port    int
	Tags    []string
	Meta    map[string]string
	Checks  []Check
}

// Check is a check of a registered instance: Consul's own TCP check when
// TCP is set, else a TTL check that Run feeds.
type Check struct {
	ID    string
	Name  string
	Notes string

	TCP      string // host:port Consul connects to every Interval
	Interval time.Duration
	Timeout  time.Duration

	// TTL turns the check critical when no report came for this long.
	TTL time.Duration
	// Run decides a TTL check every registration interval: nil reports
	// passing, an error critical with its message.
	Run func() error
	// StartCritical registers a TTL check critical until its first report.
	StartCritical bool

	// DeregisterAfter lets Consul reap the instance once the check stayed
	// critical this long; 0 never does.
	DeregisterAfter time.Duration
}

// api is the registration as Consul's agent endpoint takes it: equal for
// equal registrations, whatever their Run functions.
func (r Registration) api() *api.AgentServiceRegistration {
	reg := &api.AgentServiceRegistration{
		ID: r.ID, Name: r.Service, Address: r.Address, Port: r.Port, Tags: r.Tags, Meta: r.Meta,
	}
	for _, c := range r.Checks {
		reg.Checks = append(reg.Checks, c.api())
	}
	return reg
}

func (c Check) api() *api.AgentServiceCheck {
	ac := &api.AgentServiceCheck{CheckID: c.ID, Name: c.Name, Notes: c.Notes}
	if c.TCP != "" {
		ac.TCP, ac.Interval, ac.Timeout = c.TCP, c.Interval.String(), c.Timeout.String()
	} else {
		ac.TTL = c.TTL.String()
	}
	if c.StartCritical {
		ac.Status = api.HealthCritical
	}
	if c.DeregisterAfter > 0 {
		ac.DeregisterCriticalServiceAfter = c.DeregisterAfter.String()
	}
	return ac
}
