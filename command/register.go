package command

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-sockaddr/template"
	"github.com/pinlb/pinlb/internal/collector"
	"github.com/pinlb/pinlb/internal/pinpoint"
)

// RegisterCommand runs the sidecar that keeps one collector registered.
type RegisterCommand struct {
	Ui cli.Ui

	// signals replaces the process's signals in tests.
	signals chan os.Signal
}

func (c *RegisterCommand) Help() string {
	var ports strings.Builder
	for _, p := range append(pinpoint.Ports, pinpoint.Cluster) {
		fmt.Fprintf(&ports, "\n  -%s-port=<port>\n     Default: %d (%s, meta key %s). 0: the collector does not serve it.\n",
			p.Name, portDefault(p), p.Protocol, p.MetaKey)
	}
	return strings.TrimSpace(`
Usage: pinlb register [options]

  Registers the Pinpoint collector on this host in Consul, through the local
  Consul agent, and keeps it registered until stopped. Run it beside each
  collector.

  The instance's Port is the gRPC agent port (else the Thrift one); every
  port goes in its meta, under the keys pinlb agent -dev reads. Consul runs a
  TCP check per TCP port. pinlb probes what Consul cannot check properly and
  reports through TTL checks: a Thrift ping (00 D2, expecting the pong 00 C9)
  on the Thrift agent port, and Pinpoint's network-check datagram
  (EF 10 00 0A, expecting "OK") on the UDP ports. If the agent loses the
  registration (a restart of a -dev agent, say), it registers again.
  SIGINT or SIGTERM deregisters and exits 0.

Options:

  -service=<name>
     The Consul service name. Default: ` + pinpoint.Service + `.

  -id=<id>
     The service instance ID. Default: <service>-<address>-<agent port>.

  -address=<ip or template>
     The address the balancer reaches the collector at. Takes go-sockaddr
     templates, as Consul does. Default: {{ GetPrivateIP }}.

  -pinpoint=<version>
     The collector's Pinpoint version (1, 2, 3, or a release such as 2.5.4
     or 3.1.0), which says which ports it opens: 1.x Thrift only, 2.x gRPC
     and Thrift, 3.x gRPC only. It goes in the meta, under ` + pinpoint.MetaVersion + `,
     where pinlb agent warns of a pool that mixes 3.0 and 3.1 collectors.
     Default: auto: the collector's configuration says it when it can (1.x
     keys, or a 2.x Thrift receiver); otherwise pinlb waits until the
     collector answers on its gRPC or Thrift agent port and registers the
     generation it shows (gRPC alone 3, Thrift alone 1, both 2).

  -collector-config=<file>
     The collector's own configuration, read for the ports it listens on:
     1.x pinpoint-collector.properties; 2.x and 3.x
     pinpoint-collector-root.properties, pinpoint-collector-grpc-root.properties
     or Spring's application.yml. Repeatable; a later file's keys win. A
     -<name>-port flag given as well wins over the files. Without it, the
     ports are Pinpoint's defaults below, for the generation's ports.
` + ports.String() + `
  The cluster port (pinpoint-web's, which stock 2.x collectors do not open
  and 3.x removed) is registered only when given, or when the collector's
  configuration sets cluster.listen.port; its check gates no agent pool.

  -tag=<tag>
     A tag for the instance. Repeatable.

  -meta=<key=value>
     A meta entry for the instance. Repeatable.

  -check-interval=<duration>
     How often checks and probes run. Default: 5s. A TTL check with no
     report for 3 intervals turns critical on its own.

  -deregister-critical-after=<duration>
     Let Consul remove the instance after it has been critical this long
     (Consul reaps after about 80s at the least). Default: never.
` + consulHelp)
}

func (c *RegisterCommand) Synopsis() string {
	return "Registers a Pinpoint collector in Consul and keeps it health-checked"
}

func (c *RegisterCommand) Run(args []string) int {
	cfg := collector.Config{Ports: map[string]int{}, Meta: map[string]string{}}
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.StringVar(&cfg.Service, "service", pinpoint.Service, "")
	fs.StringVar(&cfg.ID, "id", "", "")
	address := fs.String("address", "{{ GetPrivateIP }}", "")
	ports := map[string]*int{}
	for _, p := range append(pinpoint.Ports, pinpoint.Cluster) {
		ports[p.Name] = fs.Int(p.Name+"-port", portDefault(p), "")
	}
	var configs []string
	fs.Func("collector-config", "", func(s string) error { configs = append(configs, s); return nil })
	version := fs.String("pinpoint", "auto", "")
	fs.Func("tag", "", func(s string) error { cfg.Tags = append(cfg.Tags, s); return nil })
	fs.Func("meta", "", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("-meta=%q is not key=value", s)
		}
		cfg.Meta[k] = v
		return nil
	})
	fs.DurationVar(&cfg.CheckInterval, "check-interval", 5*time.Second, "")
	fs.DurationVar(&cfg.DeregisterCriticalAfter, "deregister-critical-after", 0, "")
	consulAddr := consulFlag(fs)
	if !parseFlags(c.Ui, fs, args, c.Help()) {
		return exitError
	}
	if fs.NArg() > 0 {
		c.Ui.Error(fmt.Sprintf("Error: unexpected arguments %q", fs.Args()))
		return exitError
	}
	plan, stated, err := planPorts(fs, ports, configs, *version)
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: %s", err))
		return exitError
	}
	if cfg.CheckInterval <= 0 {
		c.Ui.Error("Error: -check-interval must be above zero")
		return exitError
	}
	addr, err := template.Parse(*address)
	if err != nil || strings.TrimSpace(addr) == "" {
		c.Ui.Error(fmt.Sprintf("Error: -address=%q gives no address (%v); give an IP or a go-sockaddr template such as {{ GetPrivateIP }}", *address, err))
		return exitError
	}
	cfg.Address = strings.TrimSpace(addr)
	client, err := newConsulClient(*consulAddr)
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: consul: %s", err))
		return exitError
	}

	ctx, cancel := stopContext(c.signals)
	defer cancel()
	logger := hclog.New(&hclog.LoggerOptions{Name: "pinlb.register", Output: &cli.UiWriter{Ui: c.Ui}})
	v, ok := collectorVersion(ctx, stated, plan, cfg, logger)
	if !ok {
		return exitOK // stopped before the collector answered: nothing was registered
	}
	if code := c.choosePorts(&cfg, plan, v, configs, logger); code != exitOK {
		return code
	}
	if err := collector.NewSidecar(client, cfg, logger).Run(ctx); err != nil {
		c.Ui.Error(fmt.Sprintf("Error: %s", err))
		return exitError
	}
	return exitOK
}

// portDefault is a port flag's default: Pinpoint's number, but none for
// the cluster port, which stock 2.x collectors do not open.
func portDefault(p pinpoint.Port) int {
	if p == pinpoint.Cluster {
		return 0
	}
	return p.Default
}

// collectorVersion is the stated version, or the one the collector's agent
// ports show once it answers; ok is false when ctx ends first.
func collectorVersion(ctx context.Context, stated *pinpoint.Version, plan *portPlan,
	cfg collector.Config, logger hclog.Logger) (v pinpoint.Version, ok bool) {
	if stated != nil {
		return *stated, true
	}
	candidates, _, _ := plan.ports(pinpoint.Generation(2)) // every agent port a collector may open; vetted in Run
	v, err := collector.Detect(ctx, collector.DetectInput{
		Address: cfg.Address, GRPCPort: candidates["grpc-agent"], ThriftPort: candidates["thrift-agent"],
		Interval: cfg.CheckInterval, Settle: detectSettle * cfg.CheckInterval, Logger: logger,
	})
	if err != nil {
		return v, false
	}
	logger.Info("the collector's agent ports show its Pinpoint generation", "pinpoint", v.Text)
	return v, true
}

// detectSettle is how many check intervals a collector that opened one
// agent port has to open the other, before its generation is decided.
const detectSettle = 3

// choosePorts sets cfg's ports, meta and ID for a collector of version v.
func (c *RegisterCommand) choosePorts(cfg *collector.Config, plan *portPlan, v pinpoint.Version, configs []string, logger hclog.Logger) int {
	served, left, err := plan.ports(v)
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: %s", err))
		return exitError
	}
	for _, flag := range left {
		logger.Warn("port flag left out: the collector's generation has no such port", "flag", flag, "pinpoint", v.Text)
	}
	cfg.Ports = served
	if cfg.AgentPort() == 0 {
		c.Ui.Error("Error: a collector needs an agent port: -grpc-agent-port or -thrift-agent-port")
		return exitError
	}
	if _, ok := cfg.Meta[pinpoint.MetaVersion]; !ok {
		cfg.Meta[pinpoint.MetaVersion] = v.Text
	}
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("%s-%s-%d", cfg.Service, cfg.Address, cfg.AgentPort())
	}
	source := "Pinpoint's defaults"
	if len(configs) > 0 {
		source = "the collector's configuration (" + strings.Join(configs, ",") + ")"
	}
	logger.Info("ports to register", "pinpoint", v.Text, "from", source, "ports", pinpoint.Describe(served))
	return exitOK
}
