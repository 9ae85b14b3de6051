package discovery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/shoenig/test/must"
)

// An answer is decoded one instance at a time; null is no instance, and a
// truncated or foreign answer is an error, never a smaller set.
func TestDecodeEntries(t *testing.T) {
	got, err := decodeEntries(strings.NewReader(`[{"Node":{"Node":"n1","Address":"10.0.0.1","TaggedAddresses":{"lan":"10.0.0.1"}},
	  "Service":{"ID":"c1","Port":9991,"Meta":{"port_grpc_span":"9993"},"Weights":{"Passing":3,"Warning":1},"Proxy":{}},
	  "Checks":[{"CheckID":"serfHealth","Status":"passing","Definition":{"Interval":"10s"}}]}]`))
	must.NoError(t, err)
	must.Eq(t, 1, len(got))
	e := serviceEntries(got)[0]
	must.Eq(t, "n1", e.Node.Node)
	must.Eq(t, "10.0.0.1", e.Node.Address)
	must.Eq(t, api.AgentWeights{Passing: 3, Warning: 1}, e.Service.Weights)
	must.Eq(t, "9993", e.Service.Meta["port_grpc_span"])
	must.Eq(t, "passing", e.Checks[0].Status)

	got, err = decodeEntries(strings.NewReader("null"))
	must.NoError(t, err)
	must.Eq(t, 0, len(got))
	for _, bad := range []string{`[{"Node":{"Node":"n1"}}`, `{"Node":{}}`, ``} {
		_, err := decodeEntries(strings.NewReader(bad))
		must.Error(t, err, must.Sprint(bad))
	}
}

// The request is the one consul/api would send for the same options.
func TestHealthAnswer_Request(t *testing.T) {
	c, err := NewClient(ClientConfig{Address: "127.0.0.1:8500", Datacenter: "dc2", Token: "s3cret"})
	must.NoError(t, err)
	q := &api.QueryOptions{WaitIndex: 7, WaitTime: 55 * time.Second, AllowStale: true, Near: "_agent", Filter: `Service.Meta.zone == "a"`}
	req, err := c.request(context.Background(), "/v1/health/service/pinpoint collector", q)
	must.NoError(t, err)
	must.Eq(t, "http://127.0.0.1:8500/v1/health/service/pinpoint%20collector?dc=dc2&filter=Service.Meta.zone+%3D%3D+%22a%22&index=7&near=_agent&stale=&wait=55000ms", req.URL.String())
	must.Eq(t, "s3cret", req.Header.Get("X-Consul-Token"))

	unix, err := NewClient(ClientConfig{Address: "unix:///run/consul.sock"})
	must.NoError(t, err)
	req, err = unix.request(context.Background(), "/v1/health/service/c", &api.QueryOptions{UseCache: true})
	must.NoError(t, err)
	must.Eq(t, "http://localhost/v1/health/service/c?cached=", req.URL.String())
}
