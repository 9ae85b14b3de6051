//go:build linux

package command

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/agent"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

const apiToken = "s3cret-token"

// apiConfig is a config with a TCP and a UDP listener on Consul's
// "collector", the API on a free port with a token, and a JSON access log.
func apiConfig(consul, accessLog, tcpAddr, udpAddr, extra string) string {
	return fmt.Sprintf(`shutdown_timeout = "5s"
consul { address = %q }
api {
  address = "127.0.0.1:0"
  token   = %q
  %s
}
access_log {
  path   = %q
  format = "json"
}
listener "grpc" {
  address  = %q
  upstream {
    service   = "collector"
    port_meta = "port_tcp"
  }
}
listener "span" {
  protocol = "udp"
  address  = %q
  upstream {
    service   = "collector"
    port_meta = "port_udp"
  }
}
`, consul, apiToken, extra, accessLog, tcpAddr, udpAddr)
}

func registerCollector(t *testing.T, c *api.Client, id string, tcp *testsupport.TCP, udp *testsupport.UDP, status string) {
	t.Helper()
	must.NoError(t, c.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: "collector", Address: "127.0.0.1", Port: int(tcp.Addr.Port()),
		Meta:  map[string]string{"port_tcp": fmt.Sprint(tcp.Addr.Port()), "port_udp": fmt.Sprint(udp.Addr.Port())},
		Check: &api.AgentServiceCheck{CheckID: "check:" + id, TTL: "10m", Status: status},
	}))
}

// cliRun runs an API command and returns its exit code, stdout and stderr.
func cliRun(cmd func(cli.Ui) cli.Command, args ...string) (int, string, string) {
	ui := cli.NewMockUi()
	code := cmd(ui).Run(args)
	return code, ui.OutputWriter.String(), ui.ErrorWriter.String()
}

func statusCmd(ui cli.Ui) cli.Command    { return &StatusCommand{Ui: ui} }
func listenersCmd(ui cli.Ui) cli.Command { return &ListenersCommand{Ui: ui} }
func reloadCmd(ui cli.Ui) cli.Command    { return &ReloadCommand{Ui: ui} }

// get calls the API directly and decodes its JSON body.
func get(t *testing.T, method, url string, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	must.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	must.NoError(t, err)
	defer resp.Body.Close()
	must.Eq(t, "application/json", resp.Header.Get("Content-Type"), must.Sprintf("%s %s", method, url))
	var body map[string]any
	must.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func TestAPI_CommandsAgainstARunningAgent(t *testing.T) {
	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{})
	c := srv.Client()
	tcpA, udpA := testsupport.StartTCP(t), testsupport.StartUDP(t)
	tcpB, udpB := testsupport.StartTCP(t), testsupport.StartUDP(t)
	registerCollector(t, c, "a", tcpA, udpA, api.HealthPassing)
	registerCollector(t, c, "b", tcpB, udpB, api.HealthCritical)

	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	cfgPath := filepath.Join(dir, "pinlb.hcl")
	tcpAddr, udpAddr := testsupport.FreePort(t), testsupport.FreePort(t)
	must.NoError(t, os.WriteFile(cfgPath, []byte(apiConfig(srv.HTTP, logPath, tcpAddr, udpAddr, "")), 0o600))
	r := runAgent(t, "-config-file="+cfgPath)
	base := "http://" + r.agent.APIAddr().String()
	t.Setenv(envHTTPAddr, base)
	t.Setenv(envHTTPToken, apiToken)
	testsupport.WaitFor(t, "the pool", func() bool {
		ls, _ := r.agent.Listener("grpc")
		return ls.Pool.Active == 1 && ls.Pool.Out == 1
	})

	// Traffic, so that counters, sessions and the access log have something.
	addrs := r.agent.Addrs()
	echoOnce(t, addrs["grpc"].String()).Close()
	u, err := net.Dial("udp", addrs["span"].String())
	must.NoError(t, err)
	defer u.Close()
	_, err = u.Write(testsupport.Probe)
	must.NoError(t, err)
	u.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = u.Read(make([]byte, 8))
	must.NoError(t, err)

	t.Run("status", func(t *testing.T) {
		code, out, errOut := cliRun(statusCmd)
		must.Eq(t, exitOK, code, must.Sprint(errOut))
		must.StrContains(t, out, "Consul:     reachable at "+srv.HTTP)
		must.StrContains(t, out, "Config:     "+cfgPath)
		must.StrContains(t, out, "collector  yes")

		code, out, _ = cliRun(statusCmd, "-format=json")
		must.Eq(t, exitOK, code)
		var s agent.Status
		must.NoError(t, json.Unmarshal([]byte(out), &s))
		must.True(t, s.Consul.Reachable)
		must.Eq(t, []string{cfgPath}, s.ConfigFiles)
	})

	t.Run("listeners", func(t *testing.T) {
		code, out, errOut := cliRun(listenersCmd)
		must.Eq(t, exitOK, code, must.Sprint(errOut))
		must.StrContains(t, out, "NAME")
		must.StrContains(t, out, "grpc")
		must.StrContains(t, out, "span")

		code, out, _ = cliRun(listenersCmd, "grpc")
		must.Eq(t, exitOK, code)
		must.StrContains(t, out, "Pool:      1 active, 0 draining, 1 out")
		must.StrContains(t, out, "consul:critical")
		must.StrContains(t, out, "pinlb-test/b")

		code, out, _ = cliRun(listenersCmd, "-format=json", "span")
		must.Eq(t, exitOK, code)
		var l agent.ListenerStatus
		must.NoError(t, json.Unmarshal([]byte(out), &l))
		must.Eq(t, "udp", l.Protocol)
		must.Eq(t, 1, l.Counters.Replies)

		code, _, errOut = cliRun(listenersCmd, "nope")
		must.Eq(t, exitError, code)
		must.StrContains(t, errOut, `no listener named "nope" (HTTP 404)`)
	})

	t.Run("auth", func(t *testing.T) {
		code, _, errOut := cliRun(statusCmd, "-token=wrong")
		must.Eq(t, exitError, code)
		must.StrContains(t, errOut, "missing or wrong API token")
		tokenFile := filepath.Join(t.TempDir(), "token")
		must.NoError(t, os.WriteFile(tokenFile, []byte(apiToken+"\n"), 0o600))
		t.Setenv(envHTTPToken, "")
		code, _, errOut = cliRun(statusCmd, "-token-file="+tokenFile)
		must.Eq(t, exitOK, code, must.Sprint(errOut))
	})

	t.Run("malformed requests", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			token        string
			code         int
			want         string
		}{
			{"GET", "/v1/status", "", 401, "missing or wrong API token"},
			{"GET", "/v1/listeners/nope", apiToken, 404, `no listener named "nope"`},
			{"GET", "/v1/metrics?format=xml", apiToken, 400, `unknown format "xml"`},
			{"GET", "/v1/status?verbose=1", apiToken, 400, `unknown query parameter "verbose"`},
			{"POST", "/v1/status", apiToken, 405, "takes GET, not POST"},
			{"GET", "/v1/reload", apiToken, 405, "takes POST, not GET"},
			{"GET", "/v1/nothing", apiToken, 404, "no API endpoint /v1/nothing"},
			{"GET", "/debug/pprof/", apiToken, 404, "profiling is off"},
		} {
			code, body := get(t, tc.method, base+tc.path, tc.token)
			must.Eq(t, tc.code, code, must.Sprintf("%s %s", tc.method, tc.path))
			must.StrContains(t, body["error"].(string), tc.want)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		code, body := get(t, "GET", base+"/v1/metrics?format=json", apiToken)
		must.Eq(t, 200, code)
		must.MapContainsKey(t, body, "Gauges")
		// The Prometheus text is checked by TestAPI_MetricsAreDocumented.
	})

	t.Run("access log", func(t *testing.T) {
		var lines []map[string]any
		testsupport.WaitFor(t, "the TCP line", func() bool {
			lines = readJSONLines(t, logPath)
			return len(lines) > 0
		})
		must.Eq[any](t, "grpc", lines[0]["listener"])
		must.Eq[any](t, "ok", lines[0]["status"])
		must.Eq[any](t, tcpA.Addr.String(), lines[0]["upstream"])
		must.Eq[any](t, 1.0, lines[0]["bytes_in"])

		// logrotate: move the file, SIGUSR2, and the next line goes to a new one.
		must.NoError(t, os.Rename(logPath, logPath+".1"))
		r.sigs <- syscall.SIGUSR2
		testsupport.WaitFor(t, "the log to be reopened", func() bool {
			return strings.Contains(r.ui.OutputWriter.String(), "access log reopened")
		})
		echoOnce(t, addrs["grpc"].String()).Close()
		testsupport.WaitFor(t, "a line in the new file", func() bool { return len(readJSONLines(t, logPath)) == 1 })
	})

	t.Run("SIGUSR1 dumps metrics", func(t *testing.T) {
		r.sigs <- syscall.SIGUSR1
		testsupport.WaitFor(t, "the dump", func() bool {
			return strings.Contains(r.ui.ErrorWriter.String(), `"Gauges"`)
		})
	})

	t.Run("reload", func(t *testing.T) {
		// A broken file: the error says where, and nothing changes.
		must.NoError(t, os.WriteFile(cfgPath, []byte(apiConfig(srv.HTTP, logPath, tcpAddr, udpAddr, `enable_pprof = "maybe"`)), 0o600))
		code, _, errOut := cliRun(reloadCmd)
		must.Eq(t, exitError, code)
		must.StrContains(t, errOut, cfgPath+":6:")
		s := r.agent.Status()
		must.Eq(t, 1, s.ReloadErrors)

		// A good one: pprof on, read per request.
		must.NoError(t, os.WriteFile(cfgPath, []byte(apiConfig(srv.HTTP, logPath, tcpAddr, udpAddr, `enable_pprof = true`)), 0o600))
		code, out, errOut := cliRun(reloadCmd)
		must.Eq(t, exitOK, code, must.Sprint(errOut))
		must.StrContains(t, out, "Configuration reloaded (2 listeners).")
		req, _ := http.NewRequest("GET", base+"/debug/pprof/", nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		resp, err := http.DefaultClient.Do(req)
		must.NoError(t, err)
		resp.Body.Close()
		must.Eq(t, 200, resp.StatusCode)
		must.Eq(t, 2, r.agent.Status().Reloads)
	})

	t.Run("agent gone", func(t *testing.T) {
		r.sigs <- syscall.SIGTERM
		must.Eq(t, exitOK, r.exit(t))
		code, _, errOut := cliRun(statusCmd)
		must.Eq(t, exitError, code)
		must.StrContains(t, errOut, "cannot reach the pinlb API at "+base)
	})
}

func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		must.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		out = append(out, m)
	}
	return out
}

// The API over TLS with client certificates: the commands need the CA and
// a client certificate, and a client without one is refused.
func TestAPI_ClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := testsupport.NewCA(t)
	ca.Issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	ca.Issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	caFile := ca.WriteCA(t, dir)
	cfg := fmt.Sprintf(`
listener "echo" {
  address  = %q
  upstream { servers = [%q] }
}
api {
  address = "127.0.0.1:0"
  tls {
    cert_file      = %q
    key_file       = %q
    client_ca_file = %q
  }
}`, testsupport.FreePort(t), testsupport.StartTCP(t).Addr.String(), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), caFile)
	path := filepath.Join(dir, "pinlb.hcl")
	must.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	r := runAgent(t, "-config-file="+path)
	addr := "-address=" + r.agent.APIAddr().String()

	code, out, errOut := cliRun(statusCmd, addr, "-ca-file="+caFile, "-tls-server-name=localhost",
		"-client-cert="+filepath.Join(dir, "client.pem"), "-client-key="+filepath.Join(dir, "client-key.pem"))
	must.Eq(t, exitOK, code, must.Sprint(errOut))
	must.StrContains(t, out, "Consul:     not used")

	code, _, errOut = cliRun(statusCmd, addr, "-ca-file="+caFile, "-tls-server-name=localhost")
	must.Eq(t, exitError, code)
	must.StrContains(t, errOut, "cannot reach the pinlb API")
}
