package discovery

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
)

// FuzzInstances maps arbitrary Consul answers to endpoint sets, then lays
// a resync hold over them: nothing may panic, the set is sorted by ID,
// weights are never negative, only passing and warning instances are
// usable, and a hold keeps every instance it had.
func FuzzInstances(f *testing.F) {
	f.Add([]byte(`[{"Node":{"Node":"n1","Address":"10.0.0.1"},"Service":{"ID":"c1","Service":"collector","Port":9991,"Weights":{"Passing":3,"Warning":1},"Meta":{"port_span":"9996"}},"Checks":[{"Status":"passing"}]}]`), 1, false)
	f.Add([]byte(`[{"Node":{"Node":"n1"},"Service":{"ID":"c1","Address":"::1"},"Checks":[{"Status":"warning"},{"CheckID":"_service_maintenance:c1","Status":"critical"}]},{"Node":{"Node":"n2"},"Service":{"ID":"c2"},"Checks":[{"Status":"critical"}]}]`), 0, true)
	f.Add([]byte(`[{},null,{"Service":{}},{"Node":{}}]`), 2, false)
	f.Fuzz(func(t *testing.T, answer []byte, keep int, includeWarning bool) {
		var entries []*api.ServiceEntry
		if json.Unmarshal(answer, &entries) != nil {
			return
		}
		insts := instances(entries, includeWarning)
		if !slices.IsSortedFunc(insts, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) }) {
			t.Fatalf("not sorted: %v", insts)
		}
		for _, i := range insts {
			if i.Weight < 0 || (i.Usable() && i.Health != Passing && i.Health != Warning) {
				t.Fatalf("bad instance %+v", i)
			}
		}
		last := insts[:min(max(keep, 0), len(insts))]
		h := resyncHold{d: time.Minute, logger: hclog.NewNullLogger()}
		out := h.apply(last, insts[len(last):], true, time.Now())
		for _, i := range last {
			if _, ok := slices.BinarySearchFunc(out, i.ID, func(o Instance, id string) int { return strings.Compare(o.ID, id) }); !ok {
				t.Fatalf("the hold lost %s", i.ID)
			}
		}
	})
}
