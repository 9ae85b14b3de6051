package command

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/pinlb/pinlb/version"
)

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1 // a runtime or configuration error
	exitForced = 2 // the agent was stopped by a second signal before it finished draining
)

// Every subcommand is a cli.Command.
var (
	_ cli.Command = (*AgentCommand)(nil)
	_ cli.Command = (*ListenersCommand)(nil)
	_ cli.Command = (*MaintCommand)(nil)
	_ cli.Command = (*MonitorCommand)(nil)
	_ cli.Command = (*RegisterCommand)(nil)
	_ cli.Command = (*ReloadCommand)(nil)
	_ cli.Command = (*RenderCommand)(nil)
	_ cli.Command = (*StatusCommand)(nil)
	_ cli.Command = (*ValidateCommand)(nil)
	_ cli.Command = (*VersionCommand)(nil)
)

// Commands returns the subcommands, by name.
func Commands(ui cli.Ui) map[string]cli.CommandFactory {
	return map[string]cli.CommandFactory{
		"agent":     func() (cli.Command, error) { return &AgentCommand{Ui: ui}, nil },
		"listeners": func() (cli.Command, error) { return &ListenersCommand{Ui: ui}, nil },
		"maint":     func() (cli.Command, error) { return &MaintCommand{Ui: ui}, nil },
		"monitor":   func() (cli.Command, error) { return &MonitorCommand{Ui: ui}, nil },
		"register":  func() (cli.Command, error) { return &RegisterCommand{Ui: ui}, nil },
		"reload":    func() (cli.Command, error) { return &ReloadCommand{Ui: ui}, nil },
		"render":    func() (cli.Command, error) { return &RenderCommand{Ui: ui}, nil },
		"status":    func() (cli.Command, error) { return &StatusCommand{Ui: ui}, nil },
		"validate":  func() (cli.Command, error) { return &ValidateCommand{Ui: ui}, nil },
		"version":   func() (cli.Command, error) { return &VersionCommand{Ui: ui}, nil },
	}
}

// Run runs the command line and returns the process exit code.
func Run(args []string) int {
	ui := &cli.BasicUi{Reader: os.Stdin, Writer: os.Stdout, ErrorWriter: os.Stderr}
	c := &cli.CLI{
		Name:         "pinlb",
		Version:      version.String(),
		Args:         args,
		Commands:     Commands(ui),
		Autocomplete: false,
		HelpWriter:   os.Stdout,
	}
	code, err := c.Run()
	if err != nil {
		ui.Error(fmt.Sprintf("Error executing CLI: %s", err))
		return exitError
	}
	return code
}

// pathList is a repeatable flag whose values join one ordered list shared by
// -config-file and -config-dir, so files merge in command-line order.
type pathList struct{ paths *[]string }

func (p pathList) String() string {
	if p.paths == nil {
		return ""
	}
	return strings.Join(*p.paths, ",")
}

func (p pathList) Set(v string) error {
	*p.paths = append(*p.paths, v)
	return nil
}
