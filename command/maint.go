package command

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/pinlb/pinlb/internal/pinpoint"
)

// MaintCommand toggles Consul maintenance for the local collector.
type MaintCommand struct {
	Ui cli.Ui
}

func (c *MaintCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb maint -enable|-disable [options]

  Puts the collector registered on the local Consul agent in maintenance, or
  takes it out. In maintenance, pinlb sends it no new connections or
  datagrams and its open connections drain (until the listener's
  drain_timeout). Before scaling a collector down: enable maintenance, wait
  for its connections to drain, then stop it.

Options:

  -enable
     Enter maintenance.

  -disable
     Leave maintenance.

  -reason=<text>
     Why, shown in Consul. Default: "pinlb maint".

  -service=<name>
     The service the collector is registered under. Default: ` + pinpoint.Service + `.

  -id=<id>
     The service instance ID. Default: the only instance of -service on the
     local agent.
` + consulHelp)
}

func (c *MaintCommand) Synopsis() string { return "Drains a collector through Consul maintenance" }

func (c *MaintCommand) Run(args []string) int {
	fs := flag.NewFlagSet("maint", flag.ContinueOnError)
	enable := fs.Bool("enable", false, "")
	disable := fs.Bool("disable", false, "")
	reason := fs.String("reason", "pinlb maint", "")
	service := fs.String("service", pinpoint.Service, "")
	id := fs.String("id", "", "")
	consulAddr := consulFlag(fs)
	if !parseFlags(c.Ui, fs, args, c.Help()) {
		return exitError
	}
	if *enable == *disable {
		c.Ui.Error("Error: give exactly one of -enable and -disable")
		return exitError
	}
	client, err := newConsulClient(*consulAddr)
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: consul: %s", err))
		return exitError
	}
	if *id == "" {
		ids, err := client.LocalInstances(*service)
		if err != nil {
			c.Ui.Error(fmt.Sprintf("Error: listing the local agent's services: %s", err))
			return exitError
		}
		sort.Strings(ids)
		if len(ids) != 1 {
			c.Ui.Error(fmt.Sprintf("Error: the local agent has %d instances of %q (%s); choose one with -id",
				len(ids), *service, strings.Join(ids, ", ")))
			return exitError
		}
		*id = ids[0]
	}
	if err := client.SetMaintenance(*id, *enable, *reason); err != nil {
		c.Ui.Error(fmt.Sprintf("Error: %s", err))
		return exitError
	}
	if *enable {
		c.Ui.Output(fmt.Sprintf("%s is in maintenance: pinlb sends it nothing new and its connections drain.", *id))
	} else {
		c.Ui.Output(fmt.Sprintf("%s is out of maintenance: pinlb sends it traffic again once its checks pass.", *id))
	}
	return exitOK
}
