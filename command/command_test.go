package command

import (
	"fmt"
	"io"
	"net"
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

func TestVersionCommand(t *testing.T) {
	ui := cli.NewMockUi()
	must.Eq(t, exitOK, (&VersionCommand{Ui: ui}).Run(nil))
	must.StrContains(t, ui.OutputWriter.String(), "pinlb v")
	must.Eq(t, exitError, (&VersionCommand{Ui: ui}).Run([]string{"extra"}))
}

// A flag mistake gets one error line, in one style for every command,
// and the usage once.
func TestFlagMistakes(t *testing.T) {
	for name := range Commands(cli.NewMockUi()) {
		if name == "version" {
			continue // takes no flags
		}
		t.Run(name, func(t *testing.T) {
			ui := cli.NewMockUi()
			c, err := Commands(ui)[name]()
			must.NoError(t, err)
			must.Eq(t, exitError, c.Run([]string{"-bogus"}))
			out := ui.ErrorWriter.String()
			must.StrHasPrefix(t, "Error: flag provided but not defined: -bogus\n", out)
			must.Eq(t, 1, strings.Count(out, "Usage: pinlb "))
		})
	}
}

func TestHelpTexts(t *testing.T) {
	for name, factory := range Commands(cli.NewMockUi()) {
		c, err := factory()
		must.NoError(t, err)
		must.StrHasPrefix(t, "Usage: pinlb "+name, c.Help())
		must.False(t, strings.HasSuffix(c.Synopsis(), "."), must.Sprint(name))
	}
}

func TestValidateCommand_ThreeMistakes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pinlb.hcl")
	must.NoError(t, os.WriteFile(path, []byte(`listener "echo" {
  protocol = "tcp"
  address  = "127.0.0.1:19994"
  colour   = "red"
  upstream { servers = ["127.0.0.1:29994"] }
}
listener "echo" {
  protocol        = "tcp"
  address         = "127.0.0.1:19995"
  connect_timeout = "5x"
  upstream { servers = ["127.0.0.1:29994"] }
}
`), 0o644))
	ui := cli.NewMockUi()
	must.Eq(t, exitError, (&ValidateCommand{Ui: ui}).Run([]string{path}))
	out := ui.ErrorWriter.String()
	must.StrContains(t, out, path+`:4:3: Unsupported argument; An argument named "colour" is not expected here.`)
	must.StrContains(t, out, path+`:10:21: Invalid duration; "5x" is not a duration`)
	must.StrContains(t, out, path+`:7:10: Duplicate listener; listener "echo" is already defined at `+path+`:1:10`)
	must.StrContains(t, out, "configuration is invalid (3 problems)")
}

func TestValidateCommand_Valid(t *testing.T) {
	ui := cli.NewMockUi()
	must.Eq(t, exitOK, (&ValidateCommand{Ui: ui}).Run([]string{"../fixtures/static.hcl"}))
	must.StrContains(t, ui.OutputWriter.String(), "Configuration is valid: 2 listeners (echo, span)")

	ui = cli.NewMockUi()
	must.Eq(t, exitError, (&ValidateCommand{Ui: ui}).Run(nil))
	must.StrContains(t, ui.ErrorWriter.String(), "give at least one file or directory")
}

// runAgent runs the agent command in the background with injected signals.
// It returns once the agent serves.
type runningAgent struct {
	ui    *cli.MockUi
	sigs  chan os.Signal
	agent *agent.Agent
	code  chan int
}

func runAgent(t *testing.T, args ...string) *runningAgent {
	t.Helper()
	r := &runningAgent{ui: cli.NewMockUi(), sigs: make(chan os.Signal, 1), code: make(chan int, 1)}
	started := make(chan *agent.Agent, 1)
	cmd := &AgentCommand{Ui: r.ui, signals: r.sigs, started: started}
	go func() { r.code <- cmd.Run(args) }()
	select {
	case r.agent = <-started:
	case code := <-r.code:
		t.Fatalf("agent exited with %d: %s%s", code, r.ui.OutputWriter.String(), r.ui.ErrorWriter.String())
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not start")
	}
	t.Cleanup(func() {
		select {
		case r.sigs <- syscall.SIGTERM:
		default:
		}
	})
	return r
}

func (r *runningAgent) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.code:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit")
		return -1
	}
}

func echoConfig(listen string, backends ...*testsupport.TCP) string {
	var servers []string
	for _, b := range backends {
		servers = append(servers, fmt.Sprintf("%q", b.Addr))
	}
	return fmt.Sprintf(`shutdown_timeout = "1m"
api { address = "127.0.0.1:0" }
listener "echo" {
  address  = %q
  upstream { servers = [%s] }
}
`, listen, strings.Join(servers, ", "))
}

func echoOnce(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	must.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Write([]byte("x"))
	must.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, 1))
	must.NoError(t, err)
	return c
}

func TestAgentCommand_ReloadAndShutdown(t *testing.T) {
	a, b := testsupport.StartTCP(t), testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	path := filepath.Join(t.TempDir(), "pinlb.hcl")
	must.NoError(t, os.WriteFile(path, []byte(echoConfig(listen, a)), 0o644))

	r := runAgent(t, "-config-file="+path)
	echoOnce(t, listen).Close()
	must.Eq(t, 1, a.Accepted.Load())

	// An invalid file: the reload is refused, the agent goes on as before.
	must.NoError(t, os.WriteFile(path, []byte(`listener "echo" { connect_timeout = "5x" }`), 0o644))
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "the failed reload to be logged", func() bool {
		return strings.Contains(r.ui.OutputWriter.String(), "reload failed: configuration is invalid")
	})
	must.StrContains(t, r.ui.OutputWriter.String(), `Invalid duration; \"5x\" is not a duration`)
	echoOnce(t, listen).Close()
	must.Eq(t, 2, a.Accepted.Load())

	// A valid file: new connections go to the new backend.
	must.NoError(t, os.WriteFile(path, []byte(echoConfig(listen, b)), 0o644))
	r.sigs <- syscall.SIGHUP
	testsupport.WaitFor(t, "new connections to reach the new backend", func() bool {
		c, err := net.Dial("tcp", listen)
		if err != nil {
			return false
		}
		defer c.Close()
		c.Write([]byte("x"))
		io.ReadFull(c, make([]byte, 1))
		return b.Accepted.Load() > 0
	})

	// SIGTERM with nothing open: a clean stop, without waiting for the
	// 1m shutdown_timeout.
	r.sigs <- syscall.SIGTERM
	must.Eq(t, exitOK, r.exit(t))
	must.StrContains(t, r.ui.OutputWriter.String(), "agent stopped")
}

// Files that config management might push by mistake: none may take the
// agent down, slow it or bloat what it reports, by SIGHUP or by the API.
func TestAgentCommand_ReloadSurvivesHostileFiles(t *testing.T) {
	a := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	path := filepath.Join(t.TempDir(), "pinlb.hcl")
	good := echoConfig(listen, a)
	must.NoError(t, os.WriteFile(path, []byte(good), 0o644))
	r := runAgent(t, "-config-file="+path)

	for i, tc := range []struct{ name, content, want string }{
		{"deep nesting", "x = " + strings.Repeat("[", 60_000), "Nesting too deep"},
		{"10 MB", strings.Repeat("garbage ", 10<<17), "Configuration file too large"},
		{"200 KB of garbage", strings.Repeat("x = \"a\" \"b\" ~ $ ;\n", 10_000), "more problems not shown"},
	} {
		must.NoError(t, os.WriteFile(path, []byte(tc.content), 0o644))
		if i%2 == 0 {
			r.sigs <- syscall.SIGHUP
		} else {
			must.Error(t, r.agent.ReloadConfig()) // what POST /v1/reload calls
		}
		testsupport.WaitFor(t, "the reload to fail: "+tc.name, func() bool {
			return r.agent.Status().ReloadErrors == uint64(i+1)
		})
		last := r.agent.Status().LastReload.Error
		must.StrContains(t, last, tc.want)
		must.Less(t, 16<<10, len(last), must.Sprint(tc.name))
		echoOnce(t, listen).Close() // still serving
	}
	must.Eq(t, 3, a.Accepted.Load())
}

func TestAgentCommand_SecondSignalForcesExit(t *testing.T) {
	a := testsupport.StartTCP(t)
	listen := testsupport.FreePort(t)
	path := filepath.Join(t.TempDir(), "pinlb.hcl")
	must.NoError(t, os.WriteFile(path, []byte(echoConfig(listen, a)), 0o644))
	r := runAgent(t, "-config-file", path)
	open := echoOnce(t, listen)

	r.sigs <- syscall.SIGTERM // waits up to shutdown_timeout (1m) for open
	testsupport.WaitFor(t, "the drain to start", func() bool {
		return strings.Contains(r.ui.OutputWriter.String(), "shutting down")
	})
	r.sigs <- syscall.SIGINT
	must.Eq(t, exitForced, r.exit(t))
	open.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(open)
	must.NoError(t, err) // closed by pinlb
}

func TestAgentCommand_BadStart(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"invalid config", []string{"-config-file=../fixtures/nonexistent.hcl"}, "Missing configuration path"},
		{"bad log level", []string{"-log-level=loud", "-config-file=../fixtures/static.hcl"}, `-log-level="loud" is not one of`},
		{"stray argument", []string{"pinlb.hcl"}, "configuration goes in -config-file or -config-dir"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ui := cli.NewMockUi()
			must.Eq(t, exitError, (&AgentCommand{Ui: ui}).Run(tc.args))
			must.StrContains(t, ui.ErrorWriter.String(), tc.want)
		})
	}
}

// The fixture file runs as written: its ports are fixed by the file.
func TestAgentCommand_StaticFixture(t *testing.T) {
	if !testsupport.Isolate(t) {
		return
	}
	tcp := []*testsupport.TCP{
		testsupport.StartTCPFunc(t, "127.0.0.1:29994", echo),
		testsupport.StartTCPFunc(t, "127.0.0.1:39994", echo),
	}
	udp := []*testsupport.UDP{
		testsupport.StartUDPAt(t, "127.0.0.1:29996"),
		testsupport.StartUDPAt(t, "127.0.0.1:39996"),
	}
	r := runAgent(t, "-config-file=../fixtures/static.hcl", "-log-level=debug")
	for range 4 {
		echoOnce(t, "127.0.0.1:19994").Close()
	}
	must.Eq(t, 2, tcp[0].Accepted.Load())
	must.Eq(t, 2, tcp[1].Accepted.Load())

	c, err := net.Dial("udp", "127.0.0.1:19996")
	must.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 8)
	for range 4 {
		_, err := c.Write(testsupport.Probe)
		must.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		must.NoError(t, err)
		must.Eq(t, "OK", string(buf[:n]))
	}
	must.Eq(t, 2, udp[0].Datagrams.Load())
	must.Eq(t, 2, udp[1].Datagrams.Load())

	out := r.ui.OutputWriter.String()
	must.StrContains(t, out, `listener ready: listener=echo protocol=tcp address=127.0.0.1:19994 balance=round_robin upstream="127.0.0.1:29994,127.0.0.1:39994"`)
	must.StrContains(t, out, `listener ready: listener=span protocol=udp address=127.0.0.1:19996`)
	r.sigs <- syscall.SIGTERM
	must.Eq(t, exitOK, r.exit(t))
}

func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

// -dev starts before Consul does and fills its pools once Consul answers.
// Its ports are the fixed Pinpoint ones, on 127.0.0.1.
func TestAgentCommand_DevWaitsForConsul(t *testing.T) {
	if !testsupport.Isolate(t) {
		return
	}
	consulAddr := testsupport.FreePort(t)
	t.Setenv("CONSUL_HTTP_ADDR", consulAddr)
	r := runAgent(t, "-dev")
	testsupport.WaitFor(t, "the agent to find consul missing", func() bool {
		return strings.Contains(r.ui.OutputWriter.String(), "consul unreachable; the pool stays empty")
	})

	srv := testsupport.StartConsul(t, testsupport.ConsulOptions{HTTPAddr: consulAddr})
	grpc, span := testsupport.StartTCP(t), testsupport.StartUDP(t)
	must.NoError(t, srv.Client().Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "collector-1", Name: "pinpoint-collector", Address: "127.0.0.1", Port: int(grpc.Addr.Port()),
		Meta: map[string]string{
			"port_grpc_agent":  fmt.Sprint(grpc.Addr.Port()),
			"port_thrift_span": fmt.Sprint(span.Addr.Port()),
		},
	}))
	testsupport.WaitFor(t, "traffic through 9991 to the collector", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:9991")
		if err != nil {
			return false
		}
		defer c.Close()
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err = io.ReadFull(c, make([]byte, 1))
		return err == nil
	})
	// Each listener's pool fills on its own: the UDP one may come a moment
	// after the TCP one, and a datagram before it is dropped.
	u, err := net.Dial("udp", "127.0.0.1:9996")
	must.NoError(t, err)
	defer u.Close()
	testsupport.WaitFor(t, "a probe through 9996 answered by the collector", func() bool {
		if _, err := u.Write(testsupport.Probe); err != nil {
			return false
		}
		u.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 4)
		n, err := u.Read(buf)
		return err == nil && string(buf[:n]) == "OK"
	})
	// The collector serves none of the other ports: their listeners say
	// so once, and stay idle.
	must.StrContains(t, r.ui.OutputWriter.String(), `no instance serves this listener's port: none has it in its meta, so the listener stays idle until one does: listener=grpc-stat port_meta=port_grpc_stat instances=1`)

	r.sigs <- syscall.SIGTERM
	must.Eq(t, exitOK, r.exit(t))
}
