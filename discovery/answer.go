package discovery

import "github.com/hashicorp/consul/api"

// answerEntry is what pinlb reads of one instance in Consul's health answer.
// Decoding only this skips most of what api.ServiceEntry allocates (node
// and service tagged addresses, check definitions and outputs, raft
// indexes): with 2,000 collectors an answer is 3 MB of JSON, and decoding
// it into consul/api's types took most of the watcher's CPU (make fault,
// the catalog scenario).
type answerEntry struct {
	Node struct {
		Node, Address string
	}
	Service struct {
		ID, Address string
		Port        int
		Tags        []string
		Meta        map[string]string
		Weights     api.AgentWeights
	}
	Checks []struct {
		CheckID, ServiceID, Status string
	}
}

// serviceEntries gives entries the shape the watch's rules take, with the
// fields they read.
func serviceEntries(entries []answerEntry) []*api.ServiceEntry {
	out := make([]*api.ServiceEntry, len(entries))
	for i := range entries {
		e := &entries[i]
		checks := make(api.HealthChecks, len(e.Checks))
		for j, c := range e.Checks {
			checks[j] = &api.HealthCheck{CheckID: c.CheckID, ServiceID: c.ServiceID, Status: c.Status}
		}
		out[i] = &api.ServiceEntry{
			Node: &api.Node{Node: e.Node.Node, Address: e.Node.Address},
			Service: &api.AgentService{ID: e.Service.ID, Address: e.Service.Address, Port: e.Service.Port,
				Tags: e.Service.Tags, Meta: e.Service.Meta, Weights: e.Service.Weights},
			Checks: checks,
		}
	}
	return out
}
