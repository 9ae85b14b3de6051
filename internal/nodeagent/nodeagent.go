// Package nodeagent runs the real Pinpoint agent for tests and the demo:
// NAVER's Node.js agent (pinpoint-node-agent, pinned in app/package.json and
// app/package-lock.json) tracing a small HTTP app that drives its own
// traffic. `make node-agent` installs it with npm ci.
package nodeagent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Dir is the app's folder, where `npm ci` installs the agent.
func Dir() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "app")
}

// Installed says what is missing to run the app, or nil.
func Installed() error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node (Node.js 18 or later) on PATH, to run the Pinpoint Node.js agent")
	}
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "pinpoint-node-agent")); err != nil {
		return fmt.Errorf("the Pinpoint Node.js agent installed in %s (run: make node-agent)", Dir())
	}
	return nil
}

// Config is one app and its agent.
type Config struct {
	ID          string // PINPOINT_AGENT_ID, at most 24 characters
	Application string // PINPOINT_APPLICATION_NAME
	Collector   string // PINPOINT_COLLECTOR_IP: pinlb's address or name
	// Ports are the collector's gRPC ports by pinpoint.Port.Name; a port
	// not given is Pinpoint's default.
	Ports map[string]int
	Rate  int       // traced requests a second, one span each
	Log   io.Writer // the agent's own log; nil discards it
}

// App is a running app.
type App struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	served  atomic.Int64
	logged  atomic.Int64 // lines on standard error: the agent's warnings and errors, and grpc-js's
	stopped chan int64
	exited  chan struct{}
	once    sync.Once
}

// portVars are the agent's variables for each gRPC port.
var portVars = map[string]string{
	"grpc-agent": "PINPOINT_COLLECTOR_TCP_PORT",
	"grpc-stat":  "PINPOINT_COLLECTOR_STAT_PORT",
	"grpc-span":  "PINPOINT_COLLECTOR_SPAN_PORT",
}

// Start starts the app and returns once it serves.
func Start(c Config) (*App, error) {
	if err := Installed(); err != nil {
		return nil, err
	}
	cmd := exec.Command("node", filepath.Join(Dir(), "app.js"))
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(),
		"PINPOINT_AGENT_ID="+c.ID, "PINPOINT_APPLICATION_NAME="+c.Application, "PINPOINT_COLLECTOR_IP="+c.Collector,
		"PINPOINT_SAMPLING_RATE=1", "PINPOINT_LOG_LEVEL=WARN", "APP_RATE="+strconv.Itoa(c.Rate))
	for port, v := range portVars {
		if n := c.Ports[port]; n != 0 {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", v, n))
		}
	}
	a := &App{cmd: cmd, stopped: make(chan int64, 1), exited: make(chan struct{})}
	cmd.Stderr = &lineCounter{w: c.Log, n: &a.logged}
	cmd.SysProcAttr = dieWithParent()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	a.stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node agent %s: %w", c.ID, err)
	}
	listening := make(chan struct{})
	go a.read(stdout, c.Log, listening)
	go func() {
		cmd.Wait()
		close(a.exited)
	}()
	select {
	case <-listening:
		return a, nil
	case <-a.exited:
		return nil, fmt.Errorf("node agent %s exited before it served: %v", c.ID, cmd.ProcessState)
	case <-time.After(30 * time.Second):
		a.Close()
		return nil, fmt.Errorf("node agent %s did not serve within 30s", c.ID)
	}
}

// read follows the app's report lines; anything else is the agent's log.
func (a *App) read(stdout io.Reader, log io.Writer, listening chan struct{}) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		word, n, _ := strings.Cut(sc.Text(), " ")
		count, err := strconv.ParseInt(n, 10, 64)
		switch {
		case word == "listening" && err == nil:
			close(listening)
		case word == "served" && err == nil:
			a.served.Store(count)
		case word == "stopped" && err == nil:
			a.served.Store(count)
			select { // nobody waits for a second one
			case a.stopped <- count:
			default:
			}
		case log != nil:
			fmt.Fprintln(log, sc.Text())
		}
	}
}

// Errors is how many lines the agent and its gRPC library wrote on
// standard error: their warnings and errors (a stream that failed, a span
// it could not send, a protocol error). Its start-up lines go to standard
// output.
func (a *App) Errors() int64 { return a.logged.Load() }

// lineCounter counts the lines written through it, but for those the
// agent logs at WARN as it starts: its configuration ("[Pinpoint Agent]
// Configuration {" to "}"), then "Init Started" and "Init Completed".
type lineCounter struct {
	w      io.Writer
	n      *atomic.Int64
	line   []byte
	inDump bool
}

func (c *lineCounter) Write(b []byte) (int, error) {
	for _, ch := range b {
		if ch != '\n' {
			c.line = append(c.line, ch)
			continue
		}
		switch line := string(c.line); {
		case strings.HasPrefix(line, "[Pinpoint Agent] Configuration {"):
			c.inDump = true
		case c.inDump:
			c.inDump = line != "}"
		case strings.HasPrefix(line, "[Pinpoint Agent][") && (strings.HasSuffix(line, "] Init Started") || strings.HasSuffix(line, "] Init Completed")):
		default:
			c.n.Add(1)
		}
		c.line = c.line[:0]
	}
	if c.w == nil {
		return len(b), nil
	}
	return c.w.Write(b)
}

// Served is how many traced requests the app had answered at its last
// report (every half second).
func (a *App) Served() int64 { return a.served.Load() }

// StopTraffic stops the app's requests and returns how many it served in
// all; its agent stays up, sending what it holds.
func (a *App) StopTraffic() (int64, error) {
	if _, err := io.WriteString(a.stdin, "stop\n"); err != nil {
		return 0, err
	}
	select {
	case n := <-a.stopped:
		return n, nil
	case <-a.exited:
		return 0, errors.New("the app exited")
	case <-time.After(10 * time.Second):
		return 0, errors.New("the app did not stop its traffic within 10s")
	}
}

// Close ends the app: its standard input closes, and it is killed if it
// is still up a few seconds later.
func (a *App) Close() {
	a.once.Do(func() {
		a.stdin.Close()
		select {
		case <-a.exited:
		case <-time.After(5 * time.Second):
			a.cmd.Process.Kill()
			<-a.exited
		}
	})
}

// Version is the pinned agent, "pinpoint-node-agent X.Y.Z", as
// app/package.json names it.
func Version() string {
	b, err := os.ReadFile(filepath.Join(Dir(), "package.json"))
	if err != nil {
		return "pinpoint-node-agent"
	}
	var pkg struct{ Dependencies map[string]string }
	json.Unmarshal(b, &pkg)
	return "pinpoint-node-agent " + pkg.Dependencies["pinpoint-node-agent"]
}
