package agent

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/proxy"
	"github.com/shoenig/test/must"
)

// countingPool is a proxy listener that counts the endpoint sets it gets.
type countingPool struct {
	proxy.Listener
	sets int
}

func (p *countingPool) SetEndpoints([]proxy.Endpoint) { p.sets++ }

// A snapshot that changes nothing the proxy uses (a tag no backup rule
// reads, as a check's output changes nothing either) touches no pool; a
// weight does.
func TestListener_UnchangedSetTouchesNoPool(t *testing.T) {
	pool := &countingPool{}
	l := &listener{cfg: config.Listener{Name: "grpc", Upstream: config.Upstream{Service: "collector"}},
		pl: pool, logger: hclog.NewNullLogger()}
	inst := discovery.Instance{ID: "n/c1", Address: "127.0.0.1", Port: 9991, Weight: 1, Health: discovery.Passing}
	apply := func() { l.applySnapshot(discovery.Snapshot{Instances: []discovery.Instance{inst}}) }

	apply()
	must.Eq(t, 1, pool.sets)
	inst.Tags = []string{"churn"}
	apply()
	must.Eq(t, 1, pool.sets, must.Sprint("the same endpoints were set again"))
	inst.Weight = 2
	apply()
	must.Eq(t, 2, pool.sets)
}

// A listener whose port no instance serves (the Thrift listeners in front
// of a Pinpoint 3.x fleet) says so once and warns of no instance; one
// instance that lacks a port the others have is warned of.
func TestListener_PortNoInstanceServesSaysSoOnce(t *testing.T) {
	var log strings.Builder
	l := &listener{cfg: config.Listener{Name: "thrift-agent", Upstream: config.Upstream{Service: "collector", PortMeta: "port_thrift_agent"}},
		pl: &countingPool{}, logger: hclog.New(&hclog.LoggerOptions{Output: &log})}
	grpcOnly := func(id string) discovery.Instance {
		return discovery.Instance{ID: id, Address: "127.0.0.1", Port: 9991, Weight: 1, Health: discovery.Passing,
			Meta: map[string]string{"port_grpc_agent": "9991"}}
	}
	l.applySnapshot(discovery.Snapshot{Instances: []discovery.Instance{grpcOnly("n/c1"), grpcOnly("n/c2")}})
	l.applySnapshot(discovery.Snapshot{Instances: []discovery.Instance{grpcOnly("n/c1"), grpcOnly("n/c2"), grpcOnly("n/c3")}})
	must.Eq(t, 1, strings.Count(log.String(), "no instance serves this listener's port"), must.Sprint(log.String()))
	must.StrNotContains(t, log.String(), "[WARN]")

	thrift := grpcOnly("n/c4")
	thrift.Meta = map[string]string{"port_thrift_agent": "9994"}
	l.applySnapshot(discovery.Snapshot{Instances: []discovery.Instance{grpcOnly("n/c1"), thrift, grpcOnly("n/c5")}})
	must.StrContains(t, log.String(), "[WARN]  instance left out: no valid port in its meta: instance=n/c5")
}
