package agent

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/shoenig/test/must"
)

// startWithAPI runs an agent with the API on a free port, telemetry as by
// default, a TCP listener named tcpName and a UDP one named "span", both on
// Consul's "collector".
func startWithAPI(t *testing.T, srv *testsupport.Consul, tcpName string, edit ...func(*config.Config)) *Agent {
	t.Helper()
	span := consulListener(t, "span", config.Upstream{})
	span.Protocol, span.Address = "udp", testsupport.FreePort(t)
	span.UDP = config.UDP{Mode: "packet", SessionTimeout: time.Minute, MaxSessions: 10}
	cfg := &config.Config{
		Consul:    config.Consul{Address: srv.HTTP, StaleTTL: time.Minute},
		API:       config.API{Enabled: true, Address: "127.0.0.1:0"},
		Telemetry: config.Telemetry{MetricsPrefix: "pinlb", DisableHostname: true, PrometheusRetentionTime: time.Minute},
		Listeners: []config.Listener{consulListener(t, tcpName, config.Upstream{}), span},
	}
	for _, e := range edit {
		e(cfg)
	}
	return startConfig(t, cfg, testWriter{t})
}

// metricsDoc is the metrics reference that ships with pinlb.
const metricsDoc = "../website/content/docs/metrics.md"

// The Prometheus output parses, and its names and the metrics reference
// are the same set: nothing undocumented, nothing documented that is not
// there.
func TestMetrics_PrometheusOutputMatchesTheReference(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	tcp := testsupport.StartTCP(t)
	collector(t, c, "a", tcp.Addr.Port())
	tlsFiles := t.TempDir()
	ca := testsupport.NewCA(t)
	ca.Issue(t, tlsFiles, "server", x509.ExtKeyUsageServerAuth)
	cert, err := tls.LoadX509KeyPair(tlsFiles+"/server.pem", tlsFiles+"/server-key.pem")
	must.NoError(t, err)
	ag := startWithAPI(t, srv, "grpc", func(cfg *config.Config) { // a TLS listener has its metrics too
		cfg.Listeners[0].TLS = config.TLS{Certificate: &cert, MinVersion: "1.2", HandshakeTimeout: time.Second}
	})
	waitEndpoints(t, ag, "grpc", tcp.Addr.Port())
	waitEndpoints(t, ag, "span", tcp.Addr.Port())

	var names []string
	testsupport.WaitFor(t, "a sample with the endpoint metrics", func() bool {
		resp, err := http.Get("http://" + ag.APIAddr().String() + "/v1/metrics")
		must.NoError(t, err)
		defer resp.Body.Close()
		must.Eq(t, 200, resp.StatusCode)
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		must.NoError(t, err)
		names = names[:0]
		for name := range families {
			if !strings.HasPrefix(name, "pinlb_runtime_") {
				names = append(names, name)
			}
		}
		// A datagram's in and out counts may land in different samples.
		return slices.Contains(names, "pinlb_endpoint_connections_total") && slices.Contains(names, "pinlb_endpoint_datagrams_in_total") &&
			slices.Contains(names, "pinlb_endpoint_datagrams_out_total") && slices.Contains(names, "pinlb_consul_watch_latency")
	})
	slices.Sort(names)

	doc, err := os.ReadFile(metricsDoc)
	must.NoError(t, err)
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(pinlb_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		if !strings.HasPrefix(m[1], "pinlb_runtime_") {
			documented = append(documented, m[1])
		}
	}
	slices.Sort(documented)
	must.Eq(t, documented, names)
}
