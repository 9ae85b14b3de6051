package command

import (
	"strings"

	"github.com/hashicorp/cli"
	"github.com/pinlb/pinlb/version"
)

// VersionCommand prints the version.
type VersionCommand struct {
	Ui cli.Ui
}

func (c *VersionCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb version

  Prints the version of pinlb and the git commit it was built from.
`)
}

func (c *VersionCommand) Synopsis() string { return "Prints the pinlb version" }

func (c *VersionCommand) Run(args []string) int {
	if len(args) > 0 {
		c.Ui.Error("This command takes no arguments")
		c.Ui.Error(c.Help())
		return exitError
	}
	c.Ui.Output(version.String())
	return exitOK
}
