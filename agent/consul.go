package agent

import (
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/discovery"
)

// consulConn is the Consul client the watches share, and the settings it
// and they were built from: a reload that changes neither keeps them.
type consulConn struct {
	client *discovery.Client // nil until a listener forwards to a service
	cfg    config.Consul
}

// clientConfig is how the consul {} block reaches Consul.
func clientConfig(c config.Consul) discovery.ClientConfig {
	return discovery.ClientConfig{
		Address: c.Address, Datacenter: c.Datacenter, Token: c.Token,
		CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, ServerName: c.TLS.ServerName,
		Consistency: discovery.Consistency(c.Consistency),
	}
}

func query(u config.Upstream) discovery.Query {
	return discovery.Query{
		Service:        u.Service,
		Datacenter:     u.Datacenter,
		Filter:         u.Filter,
		IncludeWarning: u.IncludeWarning,
	}
}

// usesConsul reports whether a listener of cfg forwards to a service.
func usesConsul(cfg *config.Config) bool {
	for _, l := range cfg.Listeners {
		if l.Upstream.Service != "" {
			return true
		}
	}
	return false
}
