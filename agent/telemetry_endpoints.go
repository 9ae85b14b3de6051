package agent

import (
	"sync/atomic"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/pinlb/pinlb/proxy"
	"github.com/prometheus/client_golang/prometheus"
)

// Endpoint series are many: 2,000 collectors behind the six Pinpoint
// listeners are 96,000 of them. Handed to go-metrics every second, they
// kept 300 MB in its sinks and most of a core busy (a make fault
// scenario). Prometheus reads them instead when it scrapes, from the
// listeners' own counters (endpointCollector), and keeps nothing between
// scrapes; only the push sinks (statsd, dogstatsd) are sent them every
// second, by sampleEndpoints.

// endpointCollector is a prometheus.Collector of every endpoint's series.
// It describes none: the set follows the pools (an "unchecked" collector).
type endpointCollector struct {
	view atomic.Pointer[view] // nil until the agent runs

	state, active, bytesIn, bytesOut, connections, connectFailures, datagramsIn, datagramsOut *prometheus.Desc
}

func newEndpointCollector(prefix string) *endpointCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prefix+"_endpoint_"+name, help, append([]string{"listener", "endpoint", "id"}, labels...), nil)
	}
	return &endpointCollector{
		state:           desc("state", "1 for the endpoint's current state, 0 for the other two.", "state"),
		active:          desc("active", "Open TCP connections, or UDP sessions bound to the endpoint."),
		bytesIn:         desc("bytes_in_total", "Bytes sent to the endpoint."),
		bytesOut:        desc("bytes_out_total", "Bytes received from the endpoint."),
		connections:     desc("connections_total", "TCP connections made to the endpoint."),
		connectFailures: desc("connect_failures_total", "Failed TCP connects to the endpoint."),
		datagramsIn:     desc("datagrams_in_total", "UDP datagrams sent to the endpoint."),
		datagramsOut:    desc("datagrams_out_total", "UDP replies from the endpoint."),
	}
}

func (c *endpointCollector) Describe(chan<- *prometheus.Desc) {}

func (c *endpointCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.view.Load()
	if v == nil {
		return
	}
	for _, ls := range (*v).Listeners() {
		for _, e := range ls.Endpoints {
			c.collectEndpoint(ch, ls.Protocol, ls.Name, e)
		}
	}
}

func (c *endpointCollector) collectEndpoint(ch chan<- prometheus.Metric, protocol, listener string, e EndpointStatus) {
	send := func(d *prometheus.Desc, kind prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, kind, v, append([]string{listener, e.Address, e.ID}, labels...)...)
	}
	for _, s := range []string{proxy.StateActive, proxy.StateDraining, proxy.StateOut} {
		send(c.state, prometheus.GaugeValue, boolFloat(e.State == s), s)
	}
	send(c.active, prometheus.GaugeValue, float64(e.Active))
	send(c.bytesIn, prometheus.CounterValue, float64(e.BytesIn))
	send(c.bytesOut, prometheus.CounterValue, float64(e.BytesOut))
	if protocol == proxy.TCP {
		send(c.connections, prometheus.CounterValue, float64(e.Connections))
		send(c.connectFailures, prometheus.CounterValue, float64(e.ConnectFailures))
	} else {
		send(c.datagramsIn, prometheus.CounterValue, float64(e.DatagramsIn))
		send(c.datagramsOut, prometheus.CounterValue, float64(e.DatagramsOut))
	}
}

// sampleEndpoints sends ls's endpoint series to the push sinks, when there
// are any.
func (t *telemetry) sampleEndpoints(ls ListenerStatus) {
	if t.push == nil {
		return
	}
	for _, e := range ls.Endpoints {
		el := []metrics.Label{{Name: "listener", Value: ls.Name}, {Name: "endpoint", Value: e.Address}, {Name: "id", Value: e.ID}}
		ek := func(k ...string) []string { return append([]string{"endpoint"}, k...) }
		for _, s := range []string{proxy.StateActive, proxy.StateDraining, proxy.StateOut} {
			t.push.SetPrecisionGaugeWithLabels(ek("state"), boolFloat(e.State == s), append(el[:3:3], metrics.Label{Name: "state", Value: s}))
		}
		t.push.SetPrecisionGaugeWithLabels(ek("active"), float64(e.Active), el)
		t.pushCounter(ek("bytes_in", "total"), e.BytesIn, el)
		t.pushCounter(ek("bytes_out", "total"), e.BytesOut, el)
		if ls.Protocol == proxy.TCP {
			t.pushCounter(ek("connections", "total"), e.Connections, el)
			t.pushCounter(ek("connect_failures", "total"), e.ConnectFailures, el)
		} else {
			t.pushCounter(ek("datagrams_in", "total"), e.DatagramsIn, el)
			t.pushCounter(ek("datagrams_out", "total"), e.DatagramsOut, el)
		}
	}
}
