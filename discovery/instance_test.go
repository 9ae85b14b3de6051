package discovery

import (
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/shoenig/test/must"
)

// entry is a collector with its ports in meta and the given checks.
func entry(checks ...*api.HealthCheck) *api.ServiceEntry {
	return &api.ServiceEntry{
		Node: &api.Node{Node: "host-a", Address: "10.0.0.5"},
		Service: &api.AgentService{ID: "collector-1", Port: 9991, Weights: api.AgentWeights{Passing: 1, Warning: 1},
			Meta: map[string]string{"port_grpc_agent": "9991", "port_grpc_span": "9993", "port_thrift_span": "9996"}},
		Checks: checks,
	}
}

func check(id, serviceID, status string) *api.HealthCheck {
	return &api.HealthCheck{CheckID: id, ServiceID: serviceID, Status: status}
}

// A port's checks gate the listeners of that port only; the node's, the
// instance's general ones and those that name no port of its meta gate
// every listener.
func TestInstance_PortChecksGateTheirPortOnly(t *testing.T) {
	span := check("collector-1:tcp:port_grpc_span", "collector-1", api.HealthCritical)
	agent := check("collector-1:tcp:port_grpc_agent", "collector-1", api.HealthPassing)
	for _, tc := range []struct {
		name            string
		checks          []*api.HealthCheck
		agent, spanPort string // health seen by an agent listener (the service port) and a port_grpc_span one
	}{
		{"span critical", []*api.HealthCheck{span, agent}, Passing, Critical},
		{"a node check named like a port check", []*api.HealthCheck{check("serfHealth:port_grpc_span", "", api.HealthCritical)}, Critical, Critical},
		{"a key not in meta", []*api.HealthCheck{check("collector-1:tcp:port_cluster", "collector-1", api.HealthCritical)}, Critical, Critical},
		{"a general check", []*api.HealthCheck{agent, check("collector-1:jvm", "collector-1", api.HealthCritical)}, Critical, Critical},
		{"maintenance wins", []*api.HealthCheck{span, check("_service_maintenance:collector-1", "collector-1", api.HealthMaint)}, Maintenance, Maintenance},
		{"span warning", []*api.HealthCheck{check("collector-1:probe:port_grpc_span", "collector-1", api.HealthWarning)}, Passing, Warning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := instances([]*api.ServiceEntry{entry(tc.checks...)}, false)[0]
			must.Eq(t, tc.agent, inst.ForPort(9991, "").Health, must.Sprint("the agent listener"))
			got := inst.ForPort(9993, "port_grpc_span")
			must.Eq(t, tc.spanPort, got.Health, must.Sprint("the span listener"))
			must.Eq(t, got.Health == Passing || got.Health == Maintenance, got.Weight > 0,
				must.Sprint("a warning port without include_warning takes no traffic"))
			must.Eq(t, tc.spanPort, inst.ForPort(9993, "").Health, must.Sprint("port = 9993, found by its meta value"))
		})
	}
}
