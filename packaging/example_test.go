package packaging

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pinlb/pinlb/config"
	"github.com/shoenig/test/must"
)

// The packaged example is `pinlb agent -dev` on every interface: the same
// listeners, settings and upstreams, so the two cannot drift apart.
func TestExampleConfig_IsDevOnEveryInterface(t *testing.T) {
	example, diags := config.Load([]string{"pinlb.hcl"})
	must.False(t, diags.HasErrors(), must.Sprint(diags.Error()))
	dev, diags := config.LoadOver([]config.Source{config.Dev()}, nil)
	must.False(t, diags.HasErrors(), must.Sprint(diags.Error()))
	must.SliceNotEmpty(t, dev.Listeners)
	want := dev.Listeners
	for i := range want {
		want[i].Address = strings.Replace(want[i].Address, "127.0.0.1:", "0.0.0.0:", 1)
	}
	if diff := cmp.Diff(want, example.Listeners); diff != "" {
		t.Fatalf("packaging/pinlb.hcl differs from config/dev.hcl (-dev +example):\n%s", diff)
	}
}
