package agent

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/internal/pinpoint"
	"github.com/shoenig/test/must"
)

func collectorOf(id, version string) discovery.Instance {
	inst := discovery.Instance{ID: id, Address: "127.0.0.1", Port: 9993, Weight: 1, Health: discovery.Passing}
	if version != "" {
		inst.Meta = map[string]string{pinpoint.MetaVersion: version}
	}
	return inst
}

// Only collectors known to differ on 3.1's batched span call make a pool
// mixed: a 3.x collector of no minor version, or of none said, is not
// known either way.
func TestMixedVersionsWarning(t *testing.T) {
	for _, tc := range []struct {
		name     string
		versions []string
		mixed    bool
	}{
		{"3.0 and 3.1", []string{"3.0.1", "3.1.0"}, true},
		{"2.x and 3.1", []string{"2.5.4", "3.1"}, true},
		{"all 3.1", []string{"3.1.0", "3.1.1"}, false},
		{"3.x of no minor and 3.1", []string{"3", "3.1.0"}, false},
		{"none said", []string{"", "3.1.0"}, false},
		{"1.x and 2.x", []string{"1", "2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var insts []discovery.Instance
			for i, v := range tc.versions {
				insts = append(insts, collectorOf(string(rune('a'+i)), v))
			}
			must.Eq(t, tc.mixed, mixedVersionsWarning(insts) != "")
		})
	}
}

// A listener warns once when its pool turns mixed, shows it in the API,
// and says when it is not any more.
func TestListener_WarnsOfMixedVersionsOnce(t *testing.T) {
	var log strings.Builder
	l := &listener{cfg: config.Listener{Name: "grpc-span", Upstream: config.Upstream{Service: "collector"}},
		pl: &countingPool{}, logger: hclog.New(&hclog.LoggerOptions{Output: &log})}
	mixed := discovery.Snapshot{Instances: []discovery.Instance{collectorOf("c1", "3.0.1"), collectorOf("c2", "3.1.0")}}
	l.applySnapshot(mixed)
	l.applySnapshot(mixed)
	must.Eq(t, 1, strings.Count(log.String(), "mixed Pinpoint versions"), must.Sprint(log.String()))
	must.StrContains(t, l.versionWarning, "c1 (3.0.1)")
	l.applySnapshot(discovery.Snapshot{Instances: []discovery.Instance{collectorOf("c2", "3.1.0")}})
	must.Eq(t, "", l.versionWarning)
	must.StrContains(t, log.String(), "no longer mixes")
}
