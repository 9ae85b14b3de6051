package agent

import (
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
