package command

import (
	"flag"
	"fmt"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/pinlb/pinlb/config"
)

// ValidateCommand checks configuration files without starting anything.
type ValidateCommand struct {
	Ui cli.Ui
}

func (c *ValidateCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb validate FILE|DIR...

  Checks pinlb configuration files and directories, merged in the order given
  as "pinlb agent" would merge them, and prints the problems found as
  file:line:col: the first 20, and how many more. A directory contributes its
  *.hcl and *.json files in lexical order. A file over 256 KiB, or nested or
  chained too deep for the parser, is refused before it is parsed. Nothing is
  bound or contacted.

  Exits 0 when the configuration is valid and 1 when it is not.
`)
}

func (c *ValidateCommand) Synopsis() string { return "Checks configuration files" }

func (c *ValidateCommand) Run(args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	if !parseFlags(c.Ui, fs, args, c.Help()) {
		return exitError
	}
	paths := fs.Args()
	if len(paths) == 0 {
		c.Ui.Error("Error: give at least one file or directory to validate")
		c.Ui.Error(c.Help())
		return exitError
	}
	cfg, diags := config.Load(paths)
	if len(diags) > 0 {
		c.Ui.Error(strings.TrimRight(config.FormatDiagnostics(diags), "\n"))
	}
	if diags.HasErrors() {
		n := config.Problems(diags)
		c.Ui.Error(fmt.Sprintf("Error: configuration is invalid (%d %s)", n, map[bool]string{true: "problem", false: "problems"}[n == 1]))
		return exitError
	}
	names := make([]string, len(cfg.Listeners))
	for i, l := range cfg.Listeners {
		names[i] = l.Name
	}
	c.Ui.Output(fmt.Sprintf("Configuration is valid: %d listeners (%s) from %s.",
		len(names), strings.Join(names, ", "), strings.Join(cfg.Files, ", ")))
	return exitOK
}
