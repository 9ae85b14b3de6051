package command

import (
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
			p.Name, p.Default, p.Protocol, p.MetaKey)
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
` + ports.String() + `
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
	return "Registers a Pinpoint collector in Consul and keeps it healthy-checked"
}

func (c *RegisterCommand) Run(args []string) int {
	cfg := collector.Config{Ports: map[string]int{}, Meta: map[string]string{}}
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.StringVar(&cfg.Service, "service", pinpoint.Service, "")
	fs.StringVar(&cfg.ID, "id", "", "")
	address := fs.String("address", "{{ GetPrivateIP }}", "")
	ports := map[string]*int{}
	for _, p := range append(pinpoint.Ports, pinpoint.Cluster) {
		ports[p.Name] = fs.Int(p.Name+"-port", p.Default, "")
	}
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
	for name, p := range ports {
		if *p < 0 || *p > 65535 {
			c.Ui.Error(fmt.Sprintf("Error: -%s-port=%d is not a port from 0 to 65535", name, *p))
			return exitError
		}
		if *p != 0 {
			cfg.Ports[name] = *p
		}
	}
	if cfg.AgentPort() == 0 {
		c.Ui.Error("Error: a collector needs an agent port: -grpc-agent-port or -thrift-agent-port")
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
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("%s-%s-%d", cfg.Service, cfg.Address, cfg.AgentPort())
	}
	client, err := newConsulClient(*consulAddr)
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: consul: %s", err))
		return exitError
	}

	ctx, cancel := stopContext(c.signals)
	defer cancel()
	logger := hclog.New(&hclog.LoggerOptions{Name: "pinlb.register", Output: &cli.UiWriter{Ui: c.Ui}})
	if err := collector.NewSidecar(client, cfg, logger).Run(ctx); err != nil {
		c.Ui.Error(fmt.Sprintf("Error: %s", err))
		return exitError
	}
	return exitOK
}
