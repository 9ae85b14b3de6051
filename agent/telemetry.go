package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/go-metrics/datadog"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// sampleInterval is how often the listeners' counters are read into the
// metric sinks. The data path keeps its own atomic counters and never calls
// go-metrics: a call takes a lock.
const sampleInterval = time.Second

// telemetry is the agent's go-metrics instance and its sinks: an in-memory
// sink (the JSON view and the SIGUSR1 dump), Prometheus (/v1/metrics) unless
// its retention is 0, and statsd and dogstatsd when configured.
type telemetry struct {
	m         *metrics.Metrics
	push      *metrics.Metrics // the push sinks alone, for the endpoint series; nil without one
	inm       *metrics.InmemSink
	prom      http.Handler // nil when Prometheus is off
	endpoints *endpointCollector

	// last holds the counters' values at the previous sample, by series,
	// so that each sample emits the increase.
	mu   sync.Mutex
	last map[string]float64
	seen map[string]bool

	// history keeps the samples for the dashboard's charts.
	history *history
}

func newTelemetry(cfg config.Telemetry) (*telemetry, error) {
	t := &telemetry{inm: metrics.NewInmemSink(10*time.Second, time.Minute), last: map[string]float64{}, history: newHistory(),
		endpoints: newEndpointCollector(cfg.MetricsPrefix)}
	sinks := metrics.FanoutSink{t.inm}
	if cfg.PrometheusRetentionTime > 0 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(t.endpoints)
		ps, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
			Expiration: cfg.PrometheusRetentionTime,
			Registerer: reg,
		})
		if err != nil {
			return nil, fmt.Errorf("telemetry: prometheus: %w", err)
		}
		sinks = append(sinks, ps)
		t.prom = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	}
	push, err := pushSinks(cfg)
	if err != nil {
		return nil, err
	}
	sinks = append(sinks, push...)
	mc := metrics.DefaultConfig(cfg.MetricsPrefix)
	mc.EnableHostname = !cfg.DisableHostname
	// Runtime metrics come from run, not from go-metrics' own collector:
	// its goroutine can never be stopped.
	mc.EnableRuntimeMetrics = false
	m, err := metrics.New(mc, sinks)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	t.m = m
	if len(push) > 0 {
		if t.push, err = metrics.New(mc, push); err != nil {
			return nil, fmt.Errorf("telemetry: %w", err)
		}
	}
	return t, nil
}

// pushSinks are the statsd and dogstatsd sinks cfg asks for.
func pushSinks(cfg config.Telemetry) (metrics.FanoutSink, error) {
	var sinks metrics.FanoutSink
	if cfg.StatsdAddress != "" {
		s, err := metrics.NewStatsdSink(cfg.StatsdAddress)
		if err != nil {
			return nil, fmt.Errorf("telemetry: statsd_address: %w", err)
		}
		sinks = append(sinks, s)
	}
	if cfg.DogstatsdAddr != "" {
		host, _ := os.Hostname()
		s, err := datadog.NewDogStatsdSink(cfg.DogstatsdAddr, host)
		if err != nil {
			return nil, fmt.Errorf("telemetry: dogstatsd_addr: %w", err)
		}
		s.SetTags(cfg.DogstatsdTags)
		sinks = append(sinks, s)
	}
	return sinks, nil
}

// stop shuts every sink down; push's are among m's, and push has no
// goroutine of its own (no runtime metrics).
func (t *telemetry) stop() { t.m.Shutdown() }

// run samples the agent every sampleInterval until ctx is done.
func (t *telemetry) run(ctx context.Context, a view) {
	t.endpoints.view.Store(&a)
	tick := time.NewTicker(sampleInterval)
	defer tick.Stop()
	for {
		t.sample(a)
		t.m.EmitRuntimeStats()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// counter emits the increase of a monotonic value since the last sample;
// the first sample emits the value itself, zero included, so that every
// series exists from the start. A value that went down (its listener was
// replaced) emits nothing until it passes its old value.
func (t *telemetry) counter(key []string, v uint64, labels ...metrics.Label) {
	t.counterTo(t.m, key, v, labels)
}

// pushCounter is counter, to the push sinks alone.
func (t *telemetry) pushCounter(key []string, v uint64, labels []metrics.Label) {
	t.counterTo(t.push, key, v, labels)
}

func (t *telemetry) counterTo(m *metrics.Metrics, key []string, v uint64, labels []metrics.Label) {
	id := seriesID(key, labels)
	t.seen[id] = true
	prev, ok := t.last[id]
	switch d := float64(v) - prev; {
	case !ok:
		m.IncrCounterWithLabels(key, float32(v), labels)
	case d > 0:
		m.IncrCounterWithLabels(key, float32(d), labels)
	}
	t.last[id] = max(prev, float64(v))
}

func (t *telemetry) gauge(key []string, v float64, labels ...metrics.Label) {
	t.m.SetPrecisionGaugeWithLabels(key, v, labels)
}

func seriesID(key []string, labels []metrics.Label) string {
	var b strings.Builder
	b.WriteString(strings.Join(key, "."))
	for _, l := range labels {
		b.WriteString("|" + l.Name + "=" + l.Value)
	}
	return b.String()
}

// sample reads every listener, endpoint and watch into the sinks.
func (t *telemetry) sample(a view) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen = map[string]bool{}
	listeners := a.Listeners()
	for _, ls := range listeners {
		t.sampleListener(ls)
	}
	t.history.record(listeners, time.Now())
	st := a.Status()
	for _, w := range st.Consul.Watches {
		l := metrics.Label{Name: "service", Value: w.Service}
		t.gauge([]string{"consul", "reachable"}, boolFloat(w.Reachable), l)
		t.gauge([]string{"consul", "stale"}, boolFloat(w.Stale), l)
		t.gauge([]string{"consul", "no_leader"}, boolFloat(w.NoLeader), l)
		t.gauge([]string{"consul", "acl_filtered"}, boolFloat(w.ACLFiltered), l)
		t.gauge([]string{"consul", "instances"}, float64(w.Instances), l)
		t.gauge([]string{"consul", "held_instances"}, float64(w.HeldInstances), l)
	}
	t.counter([]string{"reloads", "total"}, st.Reloads)
	t.counter([]string{"reload_errors", "total"}, st.ReloadErrors)
	t.counter([]string{"access_log", "dropped", "total"}, a.accessLogDropped())
	for id := range t.last {
		if !t.seen[id] {
			delete(t.last, id)
		}
	}
}

func (t *telemetry) sampleListener(ls ListenerStatus) {
	lb := []metrics.Label{{Name: "listener", Value: ls.Name}, {Name: "protocol", Value: ls.Protocol}}
	key := func(k ...string) []string { return append([]string{"listener"}, k...) }
	with := func(name, value string) []metrics.Label {
		return append(lb[:len(lb):len(lb)], metrics.Label{Name: name, Value: value})
	}
	c := ls.Counters
	t.gauge(key("endpoints"), float64(ls.Pool.Active), with("state", proxy.StateActive)...)
	t.gauge(key("endpoints"), float64(ls.Pool.Draining), with("state", proxy.StateDraining)...)
	t.gauge(key("endpoints"), float64(ls.Pool.Out), with("state", proxy.StateOut)...)
	t.counter(key("bytes_in", "total"), c.BytesIn, lb...)
	t.counter(key("bytes_out", "total"), c.BytesOut, lb...)
	t.gauge(key("sources"), float64(c.Sources), lb...)
	if ls.Protocol == proxy.TCP {
		t.gauge(key("connections", "active"), float64(c.Active), lb...)
		t.counter(key("connections", "total"), c.Accepted, lb...)
		t.counter(key("connections", "failed", "total"), c.Rejected, with("reason", "rejected")...)
		t.counter(key("connections", "failed", "total"), c.NoBackend, with("reason", "no_backend")...)
		t.counter(key("connections", "failed", "total"), c.LocalErrors, with("reason", "local_error")...)
		t.counter(key("connections", "failed", "total"), c.ProxyHeaderErrors, with("reason", "proxy_header")...)
		t.counter(key("connections", "failed", "total"), c.Denied, with("reason", "denied")...)
		t.counter(key("connections", "failed", "total"), c.Limited, with("reason", "limited")...)
		t.counter(key("connections", "failed", "total"), c.TLSHandshakeErrors, with("reason", "tls_handshake")...)
		if tls := ls.Edge.TLS; tls != nil {
			t.gauge(key("tls", "cert_expiry_timestamp_seconds"), float64(tls.NotAfter.Unix()), lb...)
		}
		t.counter(key("connect_failures", "total"), c.ConnectFailures, lb...)
		t.counter(key("accept_errors", "total"), c.AcceptErrors, lb...)
		for reason, n := range map[string]uint64{
			"idle_timeout": c.IdleClosed, "drain_timeout": c.DrainClosed,
			"unhealthy": c.UnhealthyClosed, "max_lifetime": c.LifetimeClosed,
		} {
			t.counter(key("connections", "closed", "total"), n, with("reason", reason)...)
		}
		t.counter(key("passive_out", "total"), c.PassiveOut, lb...)
		t.counter(key("rebalance", "moves", "total"), c.RebalanceMoves, lb...)
		t.counter(key("rebalance", "busy", "total"), c.RebalanceBusy, lb...)
		t.counter(key("rebalance", "forced", "total"), c.RebalanceForced, lb...)
		t.counter(key("goaway_sent", "total"), c.GoAwaySent, lb...)
		t.counter(key("quiet_closes", "total"), c.QuietCloses, lb...)
		t.counter(key("calls_ended", "total"), c.CallsEnded, lb...)
	} else {
		t.gauge(key("sessions"), float64(c.Sessions), lb...)
		t.counter(key("datagrams_in", "total"), c.DatagramsIn, lb...)
		t.counter(key("datagrams_out", "total"), c.DatagramsOut, lb...)
		t.counter(key("replies", "total"), c.Replies, lb...)
		for reason, n := range c.Dropped {
			t.counter(key("datagrams_dropped", "total"), n, with("reason", reason)...)
		}
	}
	t.sampleEndpoints(ls)
}

// observeWatch records one Consul call of a watch.
func (t *telemetry) observeWatch(service string, d time.Duration, err error) {
	l := []metrics.Label{{Name: "service", Value: service}}
	t.m.AddSampleWithLabels([]string{"consul", "watch", "latency"}, float32(d.Seconds()*1000), l)
	failed := float32(0) // every call touches the counter, so it exists at 0
	if err != nil {
		failed = 1
	}
	t.m.IncrCounterWithLabels([]string{"consul", "watch", "errors", "total"}, failed, l)
}

// dump writes the in-memory sink's last interval as JSON (SIGUSR1).
func (t *telemetry) dump(w io.Writer) error {
	summary, err := t.inm.DisplayMetrics(nil, nil)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(summary)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// DumpMetrics writes the last interval of every metric as JSON: what
// SIGUSR1 prints.
func (a *Agent) DumpMetrics(w io.Writer) error {
	if a.tel == nil {
		return fmt.Errorf("telemetry is not running")
	}
	return a.tel.dump(w)
}
