package agent

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// startEdge runs pinlb from HCL text, as an operator writes it.
func startEdge(t *testing.T, hcl string) *Agent {
	t.Helper()
	cfg, diags := config.Parse([]config.Source{{Name: "edge.hcl", Data: []byte(hcl)}})
	must.False(t, diags.HasErrors(), must.Sprint(config.FormatDiagnostics(diags)))
	return startConfig(t, cfg, testWriter{t})
}

// whoAmI connects to addr and returns what the chain's last nginx says the
// client's address is, and the client's address as the client sees it.
func whoAmI(t *testing.T, addr string) (said, mine string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	must.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	must.NoError(t, err)
	return strings.TrimSpace(string(b)), c.LocalAddr().String()
}

// A client's own address crosses a real chain: a balancer in front sends
// PROXY (HAProxy send-proxy-v2 or send-proxy, nginx proxy_protocol on),
// pinlb accepts it from that peer only, and sends v1 or v2 on to an nginx
// stream server that reads it (listen ... proxy_protocol) and answers with
// $proxy_protocol_addr:$proxy_protocol_port.
func TestEdge_ProxyProtocolThroughRealPeers(t *testing.T) {
	for _, tc := range []struct {
		front, out string // the sender in front, and what pinlb sends on
	}{
		{"haproxy send-proxy-v2", "v2"},
		{"haproxy send-proxy", "v1"},
		{"nginx proxy_protocol on", "v2"},
	} {
		t.Run(tc.front+", pinlb sends "+tc.out, func(t *testing.T) {
			backend, pinlb, front := testsupport.FreePort(t), testsupport.FreePort(t), testsupport.FreePort(t)
			testsupport.StartNginx(t, fmt.Sprintf(`server {
  listen %s proxy_protocol;
  return "$proxy_protocol_addr:$proxy_protocol_port\n";
}`, backend), backend)
			startEdge(t, fmt.Sprintf(`
api { enabled = false }
listener "grpc-agent" {
  address = %q
  proxy_protocol {
    accept  = true
    trusted = ["127.0.0.1"]
  }
  upstream {
    servers        = [%q]
    proxy_protocol = %q
  }
}`, pinlb, backend, tc.out))
			switch tc.front {
			case "nginx proxy_protocol on":
				testsupport.StartNginx(t, fmt.Sprintf("server {\n  listen %s;\n  proxy_pass %s;\n  proxy_protocol on;\n}", front, pinlb), front)
			default:
				send := strings.TrimPrefix(tc.front, "haproxy ")
				testsupport.StartHAProxy(t, fmt.Sprintf("listen front\n  bind %s\n  server pinlb %s %s\n", front, pinlb, send), front)
			}
			said, mine := whoAmI(t, front)
			must.Eq(t, mine, said)
		})
	}
}

// The API shows a listener's edge settings, and counts the connections a
// trusted peer opened without a header.
func TestEdge_StatusShowsProxyProtocol(t *testing.T) {
	b := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	ag := startEdge(t, fmt.Sprintf(`
api { enabled = false }
listener "grpc-agent" {
  address = %q
  proxy_protocol {
    accept  = true
    trusted = ["127.0.0.0/8", "::1"]
    timeout = "1s"
  }
  upstream {
    servers        = [%q]
    proxy_protocol = "v1"
  }
  limits { max_conns_per_source = 9 }
}`, listen, b.Addr))
	c, err := net.Dial("tcp", listen)
	must.NoError(t, err)
	c.Write([]byte("no header\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	must.Error(t, err)
	c.Close()

	ls, ok := ag.Listener("grpc-agent")
	must.True(t, ok)
	must.Eq(t, EdgeStatus{AcceptProxy: true, Trusted: []string{"127.0.0.0/8", "::1/128"}, ProxyTimeout: "1s", SendProxy: "v1",
		Allow: []string{}, Deny: []string{}, MaxConnsPerSource: 9, MaxSources: config.DefaultMaxSources}, ls.Edge)
	testsupport.WaitFor(t, "the refused connection to be counted", func() bool {
		ls, _ := ag.Listener("grpc-agent")
		return ls.Counters.ProxyHeaderErrors == 1
	})
	must.Eq(t, int64(0), b.Accepted.Load())
}
