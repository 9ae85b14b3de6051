package command

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/mattn/go-isatty"
	"github.com/pinlb/pinlb/internal/consulbin"
	"github.com/pinlb/pinlb/internal/demo"
)

// DemoCommand runs `make demo`. It is hidden from the command list.
type DemoCommand struct {
	Ui cli.Ui
}

func (c *DemoCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb demo [options]

  Runs pinlb end to end on loopback: a Consul dev agent, three simulated
  Pinpoint collectors each registered by "pinlb register", "pinlb agent -dev"
  on 127.0.0.1:9991-9996, and simulated agents sending through it. A live
  table shows the traffic per collector while a script scales out, crashes
  a collector and drains another through maintenance. Ctrl-C stops
  everything. Run it with "make demo", which builds what it needs.

Options:

  -duration=<duration>
     Stop after this long and exit 0. Default: run until Ctrl-C.

  -agents=<n>
     Simulated agents. Default: 6.
`)
}

func (c *DemoCommand) Synopsis() string { return "Runs the end-to-end demo on loopback" }

func (c *DemoCommand) Run(args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	duration := fs.Duration("duration", 0, "")
	agents := fs.Int("agents", 6, "")
	if !parseFlags(c.Ui, fs, args, c.Help()) {
		return exitError
	}
	self, err := os.Executable()
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: %s", err))
		return exitError
	}
	consul, err := consulbin.Path()
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: %s", err))
		return exitError
	}
	ctx, stop := stopContext(nil)
	defer stop()
	err = demo.Run(ctx, demo.Options{
		Pinlb: self, Consul: consul, Duration: *duration, Agents: *agents,
		Out: os.Stdout, Live: isatty.IsTerminal(os.Stdout.Fd()),
	})
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: %s", err))
		return exitError
	}
	return exitOK
}
