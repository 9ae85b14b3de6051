package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/internal/pinpoint"
	"github.com/pinlb/pinlb/internal/sim"
)

// Options configure a demo run.
type Options struct {
	Pinlb    string        // the pinlb binary, run for register, maint and agent
	Consul   string        // the consul binary
	Duration time.Duration // 0 runs until ctx is done
	// Agents are the Java-shaped gRPC agents; NodeAgents the real Pinpoint
	// Node.js agents; ThriftAgents the simulated Thrift (1.x) ones.
	Agents       int
	NodeAgents   int
	ThriftAgents int
	Out          io.Writer
	Live         bool // redraw the table in place (a terminal)
}

// Timeline is the scripted story, from the moment traffic flows.
var Timeline = []struct {
	At   time.Duration
	What string
}{
	{5 * time.Second, "scale-out: collector-4 starts and registers itself"},
	{22 * time.Second, "drain: pinlb maint -enable -id collector-3"},
	{28 * time.Second, "scale-down: its sidecar deregisters collector-3, which stops (GOAWAY first, as Pinpoint's graceful shutdown)"},
	{33 * time.Second, "crash: collector-2 dies; its sidecar reports it critical"},
}

type demo struct {
	o            Options
	dir          string
	env          []string // the children's: CONSUL_HTTP_ADDR points at the demo's Consul
	client       *api.Client
	consul       *proc
	agent        *proc
	members      []*member
	spanAgents   []spanAgent
	thriftAgents []*sim.Agent
	events       []string
	start        time.Time
	lastDraw     time.Time

	scaledOut  time.Time     // when collector-4 started
	spreadIn   time.Duration // how long the span streams took to spread over it; 0 until they did
	lostBefore int64         // spans lost before the crash; -1 unknown
}

// Run runs the demo until its duration ends or ctx is done, then stops
// everything it started.
func Run(ctx context.Context, o Options) error {
	dir, err := os.MkdirTemp("", "pinlb-demo-")
	if err != nil {
		return err
	}
	d := &demo{o: o, dir: dir, lostBefore: -1}
	defer d.stop()
	if err := d.setUp(ctx); err != nil {
		return err
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	return d.play(ctx)
}

func (d *demo) logf(format string, args ...any) {
	msg := fmt.Sprintf("[%5.1fs] ", time.Since(d.start).Seconds()) + fmt.Sprintf(format, args...)
	d.events = append(d.events, msg)
	if !d.o.Live {
		fmt.Fprintln(d.o.Out, msg)
	}
}

func (d *demo) setUp(ctx context.Context) error {
	d.start = time.Now()
	for _, p := range pinpoint.Ports {
		if err := portFree(p); err != nil {
			return fmt.Errorf("%w: the demo runs pinlb agent -dev, which binds the Pinpoint ports 9991-9996 on 127.0.0.1", err)
		}
	}
	if err := portFree(pinpoint.Port{Default: apiPort, Protocol: "tcp"}); err != nil {
		return fmt.Errorf("%w: the demo runs pinlb agent -dev, whose HTTP API and dashboard listen on 127.0.0.1:%d", err, apiPort)
	}
	if err := d.startConsul(ctx); err != nil {
		return err
	}
	for i := 1; i <= 3; i++ {
		if err := d.addCollector(fmt.Sprintf("collector-%d", i)); err != nil {
			return err
		}
	}
	d.agent = d.run("pinlb-agent", d.o.Pinlb, "agent", "-dev")
	if err := waitFor(ctx, 20*time.Second, func() bool {
		// Its API answers once every listener is bound. (Dialing 9991
		// would count as a client turned away while the pools are empty.)
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/status", apiPort))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}); err != nil {
		return fmt.Errorf("pinlb agent -dev did not start; see %s", filepath.Join(d.dir, "pinlb-agent.log"))
	}
	d.logf("pinlb agent -dev serves 127.0.0.1:9991-9996 (log: %s)", filepath.Join(d.dir, "pinlb-agent.log"))
	d.logf("dashboard: http://127.0.0.1:%d/ui/   (or: bin/pinlb listeners grpc-agent)", apiPort)
	if err := waitFor(ctx, 30*time.Second, func() bool {
		entries, _, err := d.client.Health().Service(pinpoint.Service, "", true, nil)
		return err == nil && len(entries) == len(d.members)
	}); err != nil {
		return fmt.Errorf("the collectors did not turn healthy in Consul; see the register-*.log files in %s", d.dir)
	}
	d.logf("consul reports %d healthy collectors", len(d.members))
	// Consul knowing is not pinlb knowing: wait until every pool has them,
	// as pinlb's API reports, so the agents' first connections spread.
	if err := waitFor(ctx, 10*time.Second, func() bool { return d.poolsHave(len(d.members)) }); err != nil {
		return fmt.Errorf("pinlb's pools did not fill; see %s", filepath.Join(d.dir, "pinlb-agent.log"))
	}
	if err := d.startAgents(); err != nil {
		return err
	}
	d.start = time.Now()
	d.lastDraw = d.start
	return nil
}

func (d *demo) startConsul(ctx context.Context) error {
	ports := make([]int, 4)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	cfg, _ := json.Marshal(map[string]any{
		"bind_addr": "127.0.0.1", "client_addr": "127.0.0.1", "log_level": "warn",
		"disable_update_check": true,
		"ports": map[string]int{"http": ports[0], "serf_lan": ports[1], "serf_wan": ports[2], "server": ports[3],
			"dns": -1, "grpc": -1, "grpc_tls": -1},
	})
	path := filepath.Join(d.dir, "consul.json")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	d.env = append(os.Environ(), "CONSUL_HTTP_ADDR="+addr) // for the children
	d.consul = d.run("consul", d.o.Consul, "agent", "-dev", "-config-file="+path)
	client, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		return err
	}
	d.client = client
	if err := waitFor(ctx, 30*time.Second, func() bool {
		leader, err := client.Status().Leader()
		return err == nil && leader != ""
	}); err != nil {
		return fmt.Errorf("consul did not start; see %s", filepath.Join(d.dir, "consul.log"))
	}
	d.logf("consul %s dev agent at %s", strings.TrimPrefix(filepath.Base(filepath.Dir(d.o.Consul)), "consul-"), addr)
	return nil
}

func (d *demo) play(ctx context.Context) error {
	next := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for next < len(Timeline) && time.Since(d.start) >= Timeline[next].At {
			d.logf("%s", Timeline[next].What)
			if err := d.act(next); err != nil {
				d.logf("  failed: %v", err)
			}
			next++
		}
		d.watchSpread()
		d.draw()
		select {
		case <-ctx.Done():
			d.summary()
			d.showListener("grpc-agent")
			d.showTimeline()
			return nil
		case <-tick.C:
		}
	}
}

func (d *demo) act(step int) error {
	switch step {
	case 0:
		d.scaledOut = time.Now()
		return d.addCollector("collector-4")
	case 1:
		cmd := exec.Command(d.o.Pinlb, "maint", "-enable", "-id=collector-3", "-reason=demo scale-down")
		cmd.Env = d.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
	case 2:
		m := d.member("collector-3")
		m.reg.stop(syscall.SIGTERM)
		m.stop()
	case 3:
		d.lostBefore = d.lostSoFar()
		d.member("collector-2").kill()
	}
	return nil
}

// apiPort is where pinlb agent -dev serves its API: the default.
const apiPort = 9700

// poolsHave reports whether every listener of pinlb has n active endpoints.
func (d *demo) poolsHave(n int) bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/listeners", apiPort))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var ls []struct {
		Pool struct{ Active int }
	}
	if json.NewDecoder(resp.Body).Decode(&ls) != nil || len(ls) == 0 {
		return false
	}
	for _, l := range ls {
		if l.Pool.Active != n {
			return false
		}
	}
	return true
}

// rebalanceMoves is a listener's rebalance_moves counter, from pinlb's API;
// 0 when the API does not answer.
func (d *demo) rebalanceMoves(name string) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/listeners/%s", apiPort, name))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var l struct {
		Counters struct {
			RebalanceMoves int `json:"rebalance_moves"`
		}
	}
	json.NewDecoder(resp.Body).Decode(&l)
	return l.Counters.RebalanceMoves
}

// showListener prints what `pinlb listeners NAME` says at the end: every
// collector's state, why, and its traffic, as an operator would see it.
func (d *demo) showListener(name string) {
	out, err := exec.Command(d.o.Pinlb, "listeners", name).CombinedOutput()
	fmt.Fprintf(d.o.Out, "\n$ pinlb listeners %s\n%s", name, out)
	if err != nil {
		fmt.Fprintf(d.o.Out, "(%v)\n", err)
	}
}

// showTimeline prints the last events of pinlb's timeline, as
// `pinlb monitor` shows them: what happened to the pools, and why.
func (d *demo) showTimeline() {
	args := []string{"monitor", "-last=20", "-follow=false"}
	out, err := exec.Command(d.o.Pinlb, args...).CombinedOutput()
	fmt.Fprintf(d.o.Out, "\n$ pinlb %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		fmt.Fprintf(d.o.Out, "(%v)\n", err)
	}
}

// stop ends everything in order: agents, pinlb, sidecars, collectors,
// consul.
func (d *demo) stop() {
	d.stopAgents()
	if d.agent != nil {
		d.agent.stop(syscall.SIGTERM)
	}
	for _, m := range d.members {
		m.reg.stop(syscall.SIGTERM)
		m.kill()
	}
	if d.consul != nil {
		d.consul.stop(syscall.SIGINT)
	}
}
