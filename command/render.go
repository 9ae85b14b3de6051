package command

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"
	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/internal/pinpoint"
)

// defaultTemplate is pinpoint-web's collector list.
const defaultTemplate = `cluster.connect.address={{range $i, $c := .}}{{if $i}},{{end}}{{$c.Address}}:{{$c.Port}}{{end}}
`

// RenderCommand keeps pinpoint-web's collector list up to date from Consul.
type RenderCommand struct {
	Ui cli.Ui

	// signals replaces the process's signals in tests.
	signals chan os.Signal
}

func (c *RenderCommand) Help() string {
	return strings.TrimSpace(`
Usage: pinlb render -out=<path> [options]

  Keeps a file listing every healthy collector up to date from Consul, for
  pinpoint-web, which must connect to each collector directly on its cluster
  port (9997; never balance it). A collector is listed when its general
  checks and those of its cluster port pass, and it is not in maintenance.
  By default the file is the single line

    cluster.connect.address=10.0.0.11:9997,10.0.0.12:9997

  The file is written atomically (a temporary file renamed over it), only
  when its content changes, and -exec runs after each write. Runs until
  SIGINT or SIGTERM, or once with -once.

Options:

  -out=<path>
     The file to write. Required.

  -template=<path>
     A Go text/template file to render instead of the line above. Its data
     is the list of collectors, each with .ID, .Node, .Address and .Port,
     sorted by ID.

  -exec=<command>
     A shell command to run after each write, e.g. to restart pinpoint-web.

  -service=<name>
     The collectors' Consul service. Default: ` + pinpoint.Service + `.

  -port-meta=<key>
     The meta key holding the cluster port. Default: ` + pinpoint.Cluster.MetaKey + `.
     An instance without it is left out, with a warning.

  -filter=<expression>
     A Consul filter expression narrowing the collectors.

  -once
     Render once and exit: 0 once written, 1 if Consul gives no answer
     within 30s (the file is left as it was) or the write or -exec fails.
` + consulHelp)
}

func (c *RenderCommand) Synopsis() string { return "Writes pinpoint-web's collector list from Consul" }

// Collector is one entry of the rendered list.
type Collector struct {
	ID, Node, Address string
	Port              int
}

func (c *RenderCommand) Run(args []string) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	out := fs.String("out", "", "")
	tmplPath := fs.String("template", "", "")
	execCmd := fs.String("exec", "", "")
	service := fs.String("service", pinpoint.Service, "")
	portMeta := fs.String("port-meta", pinpoint.Cluster.MetaKey, "")
	filter := fs.String("filter", "", "")
	once := fs.Bool("once", false, "")
	consulAddr := consulFlag(fs)
	if !parseFlags(c.Ui, fs, args, c.Help()) {
		return exitError
	}
	if *out == "" {
		c.Ui.Error("Error: -out is required")
		return exitError
	}
	text := defaultTemplate
	if *tmplPath != "" {
		b, err := os.ReadFile(*tmplPath)
		if err != nil {
			c.Ui.Error(fmt.Sprintf("Error: %s", err))
			return exitError
		}
		text = string(b)
	}
	tmpl, err := template.New("render").Parse(text)
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: template: %s", err))
		return exitError
	}
	client, err := newConsulClient(*consulAddr)
	if err != nil {
		c.Ui.Error(fmt.Sprintf("Error: consul: %s", err))
		return exitError
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "pinlb.render", Output: &cli.UiWriter{Ui: c.Ui}})

	ctx, cancel := stopContext(c.signals)
	defer cancel()

	if *once { // a script waits for an answer, not for ever
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, renderOnceWait)
		defer stop()
	}
	failed, rendered := false, false
	w := discovery.NewWatcher(discovery.WatcherInput{
		Client: client,
		Query:  discovery.Query{Service: *service, Filter: *filter},
		Logger: logger,
		OnChange: func(s discovery.Snapshot) {
			rendered = true
			if err := render(s, *portMeta, tmpl, *out, *execCmd, logger); err != nil {
				logger.Error("render failed", "error", err)
				failed = true
			}
			if *once {
				cancel()
			}
		},
	})
	w.Run(ctx)
	if *once && !rendered {
		c.Ui.Error(fmt.Sprintf("Error: consul gave no answer within %s; %s is unchanged", renderOnceWait, *out))
		return exitError
	}
	if failed && *once {
		return exitError
	}
	return exitOK
}

// listed reports whether a collector, as the checks of the rendered port
// see it, is healthy: not critical, not warning, not in maintenance.
func listed(inst discovery.Instance) bool {
	return inst.Weight > 0 && inst.Health != discovery.Maintenance
}

// renderOnceWait bounds how long -once waits for Consul's first answer.
var renderOnceWait = 30 * time.Second

// render writes the collectors of s to out if the content changed, then
// runs execCmd.
func render(s discovery.Snapshot, portMeta string, tmpl *template.Template, out, execCmd string, logger hclog.Logger) error {
	list := []Collector{}
	for _, inst := range s.Instances {
		port, err := strconv.Atoi(inst.Meta[portMeta])
		if err != nil || port < 1 || port > 65535 {
			logger.Warn("collector left out: no valid port in its meta", "instance", inst.ID, "port_meta", portMeta)
			continue
		}
		if !listed(inst.ForPort(port, portMeta)) {
			continue
		}
		list = append(list, Collector{ID: inst.ID, Node: inst.Node, Address: inst.Address, Port: port})
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, list); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, buf.Bytes()) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	logger.Info("collector list written", "path", out, "collectors", len(list))
	if execCmd == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	output, err := exec.CommandContext(ctx, "sh", "-c", execCmd).CombinedOutput()
	if err != nil {
		return fmt.Errorf("-exec %q: %w: %s", execCmd, err, bytes.TrimSpace(output))
	}
	logger.Info("-exec ran", "command", execCmd)
	return nil
}
