package discovery

import "fmt"

// Query is what one watcher asks Consul: the usable instances of a service.
type Query struct {
	Service    string
	Datacenter string // empty: the agent's
	Filter     string // a Consul filter expression over service entries
	// IncludeWarning lets instances with warning checks through, at their
	// Weights.Warning weight. Otherwise only passing instances are usable.
	IncludeWarning bool
}

func (q Query) String() string {
	s := q.Service
	if q.Datacenter != "" {
		s += "@" + q.Datacenter
	}
	if q.IncludeWarning {
		s += " (include_warning)"
	}
	if q.Filter != "" {
		s += fmt.Sprintf(" filter %q", q.Filter)
	}
	return s
}
