package command

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/cli"
	"github.com/pinlb/pinlb/agent"
)

// StatusCommand shows the agent's own state.
type StatusCommand struct {
	Ui cli.Ui
}

func (c *StatusCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb status [options]

  Shows the running agent's version, uptime, configuration files, reloads,
  and whether Consul answers: per watched service, when it last did and
  whether the endpoints served may be stale.

Options:

  -format=<table|json>
     Output format. Default: table.
` + apiHelp)
}

func (c *StatusCommand) Synopsis() string { return "Shows the agent's state and Consul's" }

func (c *StatusCommand) Run(args []string) int {
	return runAPICommand(c.Ui, "status", c.Help(), args, 0, func(api *apiClient, _ []string, format string) error {
		var s agent.Status
		return show(c.Ui, api, "/v1/status", format, &s, func(w io.Writer) { writeStatus(w, s) })
	})
}

// ListenersCommand shows the listeners and their pools.
type ListenersCommand struct {
	Ui cli.Ui
}

func (c *ListenersCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb listeners [options] [NAME]

  Without NAME, lists every listener with its pool and traffic. With NAME,
  shows that listener's endpoints: state (active, draining or out), why,
  since when, and their connections, sessions and bytes.

Options:

  -format=<table|json>
     Output format. Default: table.
` + apiHelp)
}

func (c *ListenersCommand) Synopsis() string {
	return "Shows listeners, their endpoints and why any is out"
}

func (c *ListenersCommand) Run(args []string) int {
	return runAPICommand(c.Ui, "listeners", c.Help(), args, 1, func(api *apiClient, rest []string, format string) error {
		if len(rest) == 0 {
			var ls []agent.ListenerStatus
			return show(c.Ui, api, "/v1/listeners", format, &ls, func(w io.Writer) { writeListeners(w, ls) })
		}
		var l agent.ListenerStatus
		return show(c.Ui, api, "/v1/listeners/"+url.PathEscape(rest[0]), format, &l, func(w io.Writer) { writeListener(w, l) })
	})
}

// ReloadCommand asks the agent to reload its configuration.
type ReloadCommand struct {
	Ui cli.Ui
}

func (c *ReloadCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb reload [options]

  Makes the running agent read its configuration files again and apply
  them, as SIGHUP does. If the configuration is invalid, the errors are
  printed and the running configuration stays; the exit status is 1.
` + apiHelp)
}

func (c *ReloadCommand) Synopsis() string { return "Reloads the agent's configuration" }

func (c *ReloadCommand) Run(args []string) int {
	return runAPICommand(c.Ui, "reload", c.Help(), args, 0, func(api *apiClient, _ []string, _ string) error {
		var s agent.Status
		if err := api.call(http.MethodPost, "/v1/reload", &s); err != nil {
			return err
		}
		c.Ui.Output(fmt.Sprintf("Configuration reloaded (%d listeners).", s.Listeners))
		return nil
	})
}

// runAPICommand parses the API flags and -format, allows up to maxArgs
// positional arguments, and runs fn; an error is printed and exits 1.
func runAPICommand(ui cli.Ui, name, help string, args []string, maxArgs int, fn func(*apiClient, []string, string) error) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var af apiFlags
	af.register(fs)
	format := "table"
	if name != "reload" {
		fs.StringVar(&format, "format", "table", "")
	}
	if !parseFlags(ui, fs, args, help) {
		return exitError
	}
	if format != "table" && format != "json" {
		ui.Error(fmt.Sprintf("Error: -format=%q; use table or json", format))
		return exitError
	}
	if fs.NArg() > maxArgs {
		ui.Error(fmt.Sprintf("Error: unexpected arguments %q; see pinlb %s -help", fs.Args()[maxArgs:], name))
		return exitError
	}
	api, err := af.client()
	if err != nil {
		ui.Error("Error: " + err.Error())
		return exitError
	}
	if err := fn(api, fs.Args(), format); err != nil {
		ui.Error("Error: " + err.Error())
		return exitError
	}
	return exitOK
}

// show gets path into v and prints it: the API's JSON, indented, or the
// table write draws.
func show(ui cli.Ui, api *apiClient, path, format string, v any, write func(io.Writer)) error {
	var raw json.RawMessage
	if err := api.call(http.MethodGet, path, &raw); err != nil {
		return err
	}
	var buf bytes.Buffer
	if format == "json" {
		json.Indent(&buf, raw, "", "  ")
	} else {
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("the answer of %s is not what this pinlb expects: %w", path, err)
		}
		tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
		write(tw)
		tw.Flush()
	}
	ui.Output(strings.TrimRight(buf.String(), "\n"))
	return nil
}

func writeStatus(w io.Writer, s agent.Status) {
	fmt.Fprintf(w, "Version:\t%s\n", s.Version)
	fmt.Fprintf(w, "Uptime:\t%s (since %s)\n", (time.Duration(s.UptimeSeconds) * time.Second).String(), s.Started.Local().Format(time.RFC3339))
	fmt.Fprintf(w, "Config:\t%s\n", orDash(strings.Join(s.ConfigFiles, ", ")))
	fmt.Fprintf(w, "Listeners:\t%d\n", s.Listeners)
	reloads := fmt.Sprintf("%d (%d failed)", s.Reloads, s.ReloadErrors)
	if r := s.LastReload; r != nil {
		outcome := "ok"
		if r.Error != "" {
			outcome = "failed: " + firstLine(r.Error)
		}
		reloads += fmt.Sprintf("; last %s, %s", ago(r.At), outcome)
	}
	fmt.Fprintf(w, "Reloads:\t%s\n", reloads)
	c := s.Consul
	switch {
	case !c.Used:
		fmt.Fprintf(w, "Consul:\tnot used (static upstreams only)\n")
		return
	case c.Reachable:
		fmt.Fprintf(w, "Consul:\treachable at %s\n", c.Address)
	case c.Stale:
		fmt.Fprintf(w, "Consul:\tUNREACHABLE at %s for longer than stale_ttl: endpoints may be out of date\n", c.Address)
	default:
		fmt.Fprintf(w, "Consul:\tUNREACHABLE at %s: serving the last known endpoints\n", c.Address)
	}
	fmt.Fprintf(w, "\nSERVICE\tREACHABLE\tLAST CONTACT\tSTALE\tINSTANCES\tERROR\n")
	for _, wt := range c.Watches {
		svc := wt.Service
		if wt.Filter != "" {
			svc += " (filter " + wt.Filter + ")"
		}
		errText := wt.LastError
		if wt.ACLFiltered {
			errText = "token cannot read every instance; keeping the last set"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", svc, yesNo(wt.Reachable), ago(wt.LastContact), yesNo(wt.Stale), wt.Instances, orDash(errText))
	}
}

func writeListeners(w io.Writer, ls []agent.ListenerStatus) {
	fmt.Fprintf(w, "NAME\tPROTOCOL\tADDRESS\tACTIVE\tDRAINING\tOUT\tOPEN\tIN\tOUT\tUPSTREAM\n")
	for _, l := range ls {
		open := l.Counters.Active
		if l.Protocol == "udp" {
			open = l.Counters.Sessions
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", l.Name, l.Protocol, l.Address,
			l.Pool.Active, l.Pool.Draining, l.Pool.Out, open, size(l.Counters.BytesIn), size(l.Counters.BytesOut), l.Upstream)
	}
}

func writeListener(w io.Writer, l agent.ListenerStatus) {
	c := l.Counters
	fmt.Fprintf(w, "Listener:\t%s (%s %s, %s)\n", l.Name, l.Protocol, l.Address, l.Balance)
	fmt.Fprintf(w, "Upstream:\t%s\n", l.Upstream)
	fmt.Fprintf(w, "Pool:\t%d active, %d draining, %d out\n", l.Pool.Active, l.Pool.Draining, l.Pool.Out)
	if l.Protocol == "udp" {
		dropped := uint64(0)
		for _, n := range c.Dropped {
			dropped += n
		}
		fmt.Fprintf(w, "Traffic:\t%d sessions open; %d datagrams in, %d out, %d replies, %d dropped\n",
			c.Sessions, c.DatagramsIn, c.DatagramsOut, c.Replies, dropped)
	} else {
		fmt.Fprintf(w, "Traffic:\t%d connections open, %d accepted, %d failed to connect, %s in, %s out\n",
			c.Active, c.Accepted, c.NoBackend+c.Rejected, size(c.BytesIn), size(c.BytesOut))
	}
	unit := "CONNS"
	if l.Protocol == "udp" {
		unit = "DATAGRAMS"
	}
	fmt.Fprintf(w, "\nSTATE\tADDRESS\tNODE/ID\tWEIGHT\tOPEN\t%s\tIN\tOUT\tSINCE\tREASONS\n", unit)
	for _, e := range l.Endpoints {
		n := e.Connections
		if l.Protocol == "udp" {
			n = e.DatagramsIn
		}
		weight := fmt.Sprint(e.Weight)
		if e.Backup {
			weight += " backup"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", e.State, e.Address, orDash(strings.Trim(e.Node+"/"+e.ServiceID, "/")),
			weight, e.Active, n, size(e.BytesIn), size(e.BytesOut), ago(e.Since), orDash(strings.Join(e.Reasons, ", ")))
	}
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func size(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
