package command

import (
	"flag"
	"io"

	"github.com/hashicorp/cli"
)

// parseFlags parses a command's flags into fs. A mistake prints one error
// line, in the style every command shares, then the command's usage once;
// the caller exits with exitError when it returns false.
func parseFlags(ui cli.Ui, fs *flag.FlagSet, args []string, help string) bool {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // the flag package would print the usage a second time
	if err := fs.Parse(args); err != nil {
		ui.Error("Error: " + err.Error())
		ui.Error(help)
		return false
	}
	return true
}
