package agent

import (
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// Every variable config accepts, the access log writes, and no other.
func TestLogFormat_KnowsEveryVariable(t *testing.T) {
	must.Eq(t, config.LogVariables, slices.Sorted(maps.Keys(logVariables)))
}

// nginxMain is the log_format main of the nginx setup pinlb replaces.
const nginxMain = `$remote_addr $remote_port - [$time_local] $status $bytes_sent $protocol $server_addr $server_port $proxy_protocol_addr $proxy_protocol_port`

// That line, pasted as format, writes the fields nginx would: here for a
// connection that came through a balancer sending PROXY, and one that was
// denied.
func TestLogFormat_NginxMainAsWritten(t *testing.T) {
	a := testsupport.StartTCP(t)
	path := filepath.Join(t.TempDir(), "access.log")
	listen := testsupport.FreePort(t)
	ag := startEdge(t, fmt.Sprintf(`
api { enabled = false }
access_log {
  path   = %q
  format = %q
}
listener "grpc-agent" {
  address = %q
  deny    = ["127.0.0.2"]
  proxy_protocol {
    accept  = true
    trusted = ["127.0.0.1"]
  }
  upstream { servers = [%q] }
}`, path, nginxMain, listen, a.Addr))
	c := dial(t, ag.Addrs()["grpc-agent"])
	fmt.Fprintf(c, "PROXY TCP4 192.0.2.1 198.51.100.7 5000 9991\r\nx")
	must.NoError(t, c.(*net.TCPConn).CloseWrite())
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(c)
	must.NoError(t, err)
	denied, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).Dial("tcp", listen)
	must.NoError(t, err)
	denied.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(denied) // closed by pinlb
	denied.Close()

	// nginx's own pattern for that line: time_local is 02/Jan/2006:15:04:05 -0700.
	line := regexp.MustCompile(`^(\S+) (\d+) - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [-+]\d{4})\] (\d{3}) (\d+) (TCP|UDP) (\S+) (\d+) (\S+) (\S+)$`)
	var lines []string
	var when time.Time
	testsupport.WaitFor(t, "the line", func() bool {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) == 2
	})
	slices.Sort(lines) // 127.0.0.1 before 127.0.0.2, whichever was written first
	m := line.FindStringSubmatch(lines[0])
	must.NotNil(t, m, must.Sprint(lines[0]))
	local := strings.Split(c.RemoteAddr().String(), ":")
	must.Eq(t, []string{"127.0.0.1", portOf(c.LocalAddr().String()), "200", "1", "TCP", local[0], local[1], "192.0.2.1", "5000"},
		[]string{m[1], m[2], m[4], m[5], m[6], m[7], m[8], m[9], m[10]})
	when, err = time.Parse("02/Jan/2006:15:04:05 -0700", m[3])
	must.NoError(t, err)
	must.Less(t, time.Minute, time.Since(when).Abs())

	m = line.FindStringSubmatch(lines[1])
	must.NotNil(t, m, must.Sprint(lines[1]))
	must.Eq(t, []string{"127.0.0.2", "403", "0", "-", "-"}, []string{m[1], m[4], m[5], m[9], m[10]})
}

func portOf(hostPort string) string { return hostPort[strings.LastIndexByte(hostPort, ':')+1:] }

// A format with an unknown variable is refused at its place.
func TestLogFormat_UnknownVariable(t *testing.T) {
	cfg, diags := config.Parse([]config.Source{{Name: "a.hcl", Data: []byte(`access_log {
  path   = "-"
  format = "$remote_addr $upstream_status"
}
listener "x" {
  address = "127.0.0.1:1"
  upstream { servers = ["127.0.0.1:2"] }
}`)}})
	must.Nil(t, cfg)
	must.StrContains(t, config.FormatDiagnostics(diags), `a.hcl:3:26: Unknown log variable; $upstream_status is not one of $bytes_received`)
}
