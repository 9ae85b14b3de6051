package agent

import (
	"strings"
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
// second, by sampleEndpoints. Both read endpointSeries.

// endpointSeries is one series every endpoint of a protocol has, besides
// its state.
type endpointSeries struct {
	key      []string // after "endpoint": {"bytes_in", "total"}
	help     string
	counter  bool
	protocol string // TCP or UDP only; "" for both
	value    func(EndpointStatus) uint64
}

var endpointSeriesSet = []endpointSeries{
	{[]string{"active"}, "Open TCP connections, or UDP sessions bound to the endpoint.", false, "",
		func(e EndpointStatus) uint64 { return uint64(max(e.Active, 0)) }},
	{[]string{"bytes_in", "total"}, "Bytes sent to the endpoint.", true, "",
		func(e EndpointStatus) uint64 { return e.BytesIn }},
	{[]string{"bytes_out", "total"}, "Bytes received from the endpoint.", true, "",
		func(e EndpointStatus) uint64 { return e.BytesOut }},
	{[]string{"connections", "total"}, "TCP connections made to the endpoint.", true, proxy.TCP,
		func(e EndpointStatus) uint64 { return e.Connections }},
	{[]string{"connect_failures", "total"}, "Failed TCP connects to the endpoint.", true, proxy.TCP,
		func(e EndpointStatus) uint64 { return e.ConnectFailures }},
	{[]string{"datagrams_in", "total"}, "UDP datagrams sent to the endpoint.", true, proxy.UDP,
		func(e EndpointStatus) uint64 { return e.DatagramsIn }},
	{[]string{"datagrams_out", "total"}, "UDP replies from the endpoint.", true, proxy.UDP,
		func(e EndpointStatus) uint64 { return e.DatagramsOut }},
}

func (s endpointSeries) of(protocol string) bool { return s.protocol == "" || s.protocol == protocol }

// endpointStates are the values of the state series' state label: 1 for
// the endpoint's, 0 for the others.
var endpointStates = []string{proxy.StateActive, proxy.StateDraining, proxy.StateOut}

// endpointCollector is a prometheus.Collector of every endpoint's series.
// It describes none: the set follows the pools (an "unchecked" collector).
type endpointCollector struct {
	view  atomic.Pointer[view] // nil until the agent runs
	state *prometheus.Desc
	descs []*prometheus.Desc // endpointSeriesSet's
}

func newEndpointCollector(prefix string) *endpointCollector {
	labels := []string{"listener", "endpoint", "id"}
	c := &endpointCollector{state: prometheus.NewDesc(prefix+"_endpoint_state",
		"1 for the endpoint's current state, 0 for the other two.", append(labels, "state"), nil)}
	for _, s := range endpointSeriesSet {
		c.descs = append(c.descs, prometheus.NewDesc(prefix+"_endpoint_"+strings.Join(s.key, "_"), s.help, labels, nil))
	}
	return c
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
	for _, s := range endpointStates {
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, boolFloat(e.State == s), listener, e.Address, e.ID, s)
	}
	for i, s := range endpointSeriesSet {
		if !s.of(protocol) {
			continue
		}
		kind := prometheus.GaugeValue
		if s.counter {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[i], kind, float64(s.value(e)), listener, e.Address, e.ID)
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
		for _, s := range endpointStates {
			t.push.SetPrecisionGaugeWithLabels([]string{"endpoint", "state"}, boolFloat(e.State == s), append(el[:3:3], metrics.Label{Name: "state", Value: s}))
		}
		for _, s := range endpointSeriesSet {
			key := append([]string{"endpoint"}, s.key...)
			switch {
			case !s.of(ls.Protocol):
			case s.counter:
				t.pushCounter(key, s.value(e), el)
			default:
				t.push.SetPrecisionGaugeWithLabels(key, float64(s.value(e)), el)
			}
		}
	}
}
