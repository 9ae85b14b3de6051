package fault

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pinlb/pinlb/agent"
	"github.com/pinlb/pinlb/internal/testsupport"
)

var long = flag.Bool("long", false, "run every scenario at full scale (make fault)")

// scale is n in the long run, and short in the short one.
func scale(short, n int) int {
	if *long {
		return n
	}
	return short
}

// pinlbBin is the binary under test, built once by TestMain.
var pinlbBin string

func TestMain(m *testing.M) {
	flag.Parse()
	testsupport.PinlbMain(m, "fault", &pinlbBin, printTable)
}

// A row of the closing table: one figure of one scenario.
type row struct {
	scenario, figure, value string
	pass                    bool
}

var (
	rowsMu sync.Mutex
	rows   []row
)

// figure records a figure of the running scenario, and fails it when the
// figure does not pass.
func figure(t *testing.T, name string, value any, pass bool) {
	t.Helper()
	rowsMu.Lock()
	rows = append(rows, row{t.Name(), name, fmt.Sprint(value), pass})
	rowsMu.Unlock()
	if !pass {
		t.Errorf("%s = %v: not what pinlb promises", name, value)
	}
}

func printTable(w io.Writer) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	if len(rows) == 0 {
		return
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].scenario < rows[j].scenario })
	mode := "short"
	if *long {
		mode = "long"
	}
	fmt.Fprintf(w, "\nfault suite (%s)\n%-40s %-62s %20s  %s\n", mode, "scenario", "figure", "value", "pass")
	for _, r := range rows {
		pass := "pass"
		if !r.pass {
			pass = "FAIL"
		}
		fmt.Fprintf(w, "%-40s %-62s %20s  %s\n", strings.TrimPrefix(r.scenario, "TestFault/"), r.figure, r.value, pass)
	}
}

// proc is a running pinlb agent.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	api    string
	cfg    string
	out    *testsupport.LogBuffer
	exited chan struct{}
	code   int
}

// startPinlb runs `pinlb agent` on the configuration body (an api block is
// added), under prlimit when nofile > 0, with flags after -config-file,
// and waits for its API.
func startPinlb(t *testing.T, body string, nofile int, flags ...string) *proc {
	t.Helper()
	p := &proc{t: t, api: testsupport.FreePort(t), cfg: filepath.Join(t.TempDir(), "pinlb.hcl"),
		out: &testsupport.LogBuffer{}, exited: make(chan struct{})}
	p.write(body)
	args := append([]string{pinlbBin, "agent", "-config-file=" + p.cfg}, flags...)
	if nofile > 0 {
		if _, err := exec.LookPath("prlimit"); err != nil {
			testsupport.Missing(t, "prlimit(1), from util-linux, to cap pinlb's descriptors")
		}
		args = append([]string{"prlimit", fmt.Sprintf("--nofile=%d", nofile), "--"}, args...)
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "CONSUL_HTTP_TOKEN=", "CONSUL_HTTP_TOKEN_FILE=")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() { // what pinlb said, to tell why
			out := p.out.String()
			t.Logf("pinlb's log (last 8 KB):\n%s", out[max(0, len(out)-8<<10):])
		}
	})
	testsupport.WaitFor(t, "pinlb's API", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("pinlb exited with %d:\n%s", p.code, p.out)
		default:
		}
		_, err := p.status()
		return err == nil
	})
	return p
}

// write replaces the configuration file; the api block stays.
func (p *proc) write(body string) {
	p.t.Helper()
	cfg := fmt.Sprintf("shutdown_timeout = \"5s\"\napi { address = %q }\n%s", p.api, body)
	if err := os.WriteFile(p.cfg, []byte(cfg), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) signal(s os.Signal) { p.cmd.Process.Signal(s) }

// stop ends the agent with SIGTERM, and fails the test if it crashed
// before.
func (p *proc) stop() {
	select {
	case <-p.exited:
		if p.code != 0 {
			p.t.Errorf("pinlb exited with %d:\n%s", p.code, p.out)
		}
		return
	default:
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("pinlb did not stop on SIGTERM")
	}
}

// alive fails the test if the agent is gone.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// apiClient is the suite's HTTP client: a connection per request, so that none
// stays open in the agent between two looks at its descriptors.
var apiClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func (p *proc) get(path string, v any) error {
	resp, err := apiClient.Get("http://" + p.api + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (p *proc) status() (agent.Status, error) {
	var s agent.Status
	return s, p.get("/v1/status", &s)
}

func (p *proc) listener(name string) agent.ListenerStatus {
	p.t.Helper()
	var l agent.ListenerStatus
	if err := p.get("/v1/listeners/"+name, &l); err != nil {
		p.t.Fatal(err)
	}
	return l
}

// reload asks for a reload through the API and returns its answer.
func (p *proc) reload() (int, string) {
	resp, err := apiClient.Post("http://"+p.api+"/v1/reload", "application/json", nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fds counts the agent's open file descriptors but its idle splice
// pipes, which it keeps by design (256 at most).
func (p *proc) fds() int {
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && !strings.HasPrefix(target, "pipe:") {
			n++
		}
	}
	return n
}

// rssKB is the agent's resident memory, in KiB.
func (p *proc) rssKB() int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	return 0
}

// goroutines reads the agent's goroutine count from its runtime metrics.
func (p *proc) goroutines() int {
	var m struct {
		Gauges []struct {
			Name  string
			Value float64
		}
	}
	if p.get("/v1/metrics?format=json", &m) != nil {
		return -1
	}
	for _, g := range m.Gauges {
		if strings.HasSuffix(g.Name, "runtime.num_goroutines") {
			return int(g.Value)
		}
	}
	return -1
}

// staticListener is a TCP listener forwarding to servers.
func staticListener(name, addr string, extra string, servers ...string) string {
	quoted := make([]string, len(servers))
	for i, s := range servers {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("listener %q {\n  address = %q\n  %s\n  upstream { servers = [%s] }\n}\n", name, addr, extra, strings.Join(quoted, ", "))
}

func addrs(bs ...*testsupport.TCP) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Addr.String()
	}
	return out
}

// dialEcho connects to addr, sends a message and reads it back.
func dialEcho(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	msg := []byte("pinpoint-span-01")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo %q, sent %q", got, msg)
	}
	return nil
}
