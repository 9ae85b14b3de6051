package agent

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// statsdReceiver collects what arrives on a UDP port.
func statsdReceiver(t *testing.T) (string, *testsupport.LogBuffer) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	must.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	var got testsupport.LogBuffer
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got.Write(append(buf[:n:n], '\n'))
		}
	}()
	return pc.LocalAddr().String(), &got
}

// The statsd and dogstatsd sinks get the listener's metrics; dogstatsd
// with its labels as tags.
func TestTelemetry_StatsdAndDogstatsd(t *testing.T) {
	statsd, gotStatsd := statsdReceiver(t)
	dog, gotDog := statsdReceiver(t)
	a := testsupport.StartTCP(t)
	l := tcpListener("grpc", "127.0.0.1:0", a)
	startConfig(t, &config.Config{
		Telemetry: config.Telemetry{MetricsPrefix: "pinlb", DisableHostname: true, StatsdAddress: statsd,
			DogstatsdAddr: dog, DogstatsdTags: []string{"env:test"}},
		Listeners: []config.Listener{l},
	}, testWriter{t})
	testsupport.WaitFor(t, "statsd lines, the endpoints' too", func() bool {
		return strings.Contains(gotStatsd.String(), "pinlb.listener.connections.active") &&
			strings.Contains(gotStatsd.String(), "pinlb.endpoint.active")
	})
	testsupport.WaitFor(t, "dogstatsd lines", func() bool {
		return regexp.MustCompile(`pinlb\.listener\.connections\.active:0\|g\|#[^\n]*env:test[^\n]*listener:grpc`).MatchString(gotDog.String())
	})
}

// The text access log: one key=value line per connection.
func TestAccessLog_TextFormat(t *testing.T) {
	a := testsupport.StartTCP(t)
	path := filepath.Join(t.TempDir(), "access.log")
	ag := startConfig(t, &config.Config{
		AccessLog: config.AccessLog{Path: path, Format: "text"},
		Listeners: []config.Listener{tcpListener("grpc", "127.0.0.1:0", a)},
	}, testWriter{t})
	c := dial(t, ag.Addrs()["grpc"])
	roundTrip(t, c)
	c.Close()
	var line string
	testsupport.WaitFor(t, "the line", func() bool {
		b, _ := os.ReadFile(path)
		line = string(b)
		return strings.Contains(line, "\n")
	})
	must.RegexMatch(t, regexp.MustCompile(fmt.Sprintf(
		`^\S+ listener="grpc" protocol=tcp client=127\.0\.0\.1:\d+ local=\S+ upstream=%s status=ok bytes_in=1 bytes_out=1 duration=\S+\n$`,
		regexp.QuoteMeta(a.Addr.String()))), line)
}

// An upstream's datacenter goes into the query: the agent's own works, one
// that does not exist is an error the watch shows, and no pool is emptied.
func TestConsul_UpstreamDatacenter(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	a := testsupport.StartTCP(t)
	collector(t, srv.Client(), "a", a.Addr.Port())
	ag := startWithConsul(t, srv, "",
		consulListener(t, "here", config.Upstream{Datacenter: "dc1"}),
		consulListener(t, "there", config.Upstream{Datacenter: "dc9"}))
	waitEndpoints(t, ag, "here", a.Addr.Port())
	testsupport.WaitFor(t, "the dc9 watch to fail", func() bool {
		for _, w := range ag.Status().Consul.Watches {
			if w.Datacenter == "dc9" {
				return !w.Reachable && strings.Contains(w.LastError, "No path to datacenter")
			}
		}
		return false
	})
	must.SliceEmpty(t, ag.Endpoints("there"))
}

// Consul over HTTPS, set in HCL (consul { tls {} }) and in the CONSUL_*
// environment: both reach it; a CA that did not sign its certificate does
// not, and says so.
func TestConsul_OverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t)
	ca.Issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	caFile := ca.WriteCA(t, dir)
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{TLSDir: dir})
	a := testsupport.StartTCP(t)
	collector(t, srv.Client(), "a", a.Addr.Port())
	over := func(c config.Consul) *Agent {
		c.StaleTTL = time.Minute
		return startConfig(t, &config.Config{Consul: c, Listeners: []config.Listener{consulListener(t, "grpc", config.Upstream{})}}, testWriter{t})
	}

	t.Run("hcl", func(t *testing.T) {
		ag := over(config.Consul{Address: srv.HTTPS, TLS: config.ConsulTLS{CAFile: caFile, ServerName: "localhost"}})
		waitEndpoints(t, ag, "grpc", a.Addr.Port())
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("CONSUL_HTTP_ADDR", "https://"+srv.HTTPS)
		t.Setenv("CONSUL_CACERT", caFile)
		ag := over(config.Consul{})
		waitEndpoints(t, ag, "grpc", a.Addr.Port())
	})
	t.Run("wrong CA", func(t *testing.T) {
		other := testsupport.NewCA(t).WriteCA(t, t.TempDir())
		ag := over(config.Consul{Address: srv.HTTPS, TLS: config.ConsulTLS{CAFile: other}})
		testsupport.WaitFor(t, "the TLS error", func() bool {
			ws := ag.Status().Consul.Watches
			return len(ws) == 1 && strings.Contains(ws[0].LastError, "certificate")
		})
		must.SliceEmpty(t, ag.Endpoints("grpc"))
	})
}
